"""Checks of one field of a site spec each: a wrong value adds a message naming the field and
the fix to :class:`SpecErrors`, so the user sees every wrong field at once."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import ConfigError
from scrapers.spec_model import JSONLD_PREFIX

PLACEHOLDERS = {"base_url", "model", "page"}
JSONLD_PATH = re.compile(r"^(?:[A-Za-z][\w-]*:)?[@\w-]+(?:\.[@\w-]+)*$")


class SpecErrors:
    """Collects one message per wrong field, so the user fixes them all in one go."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.messages: list[str] = []

    def add(self, field_name: str, problem: str) -> None:
        """Add the message ``field_name: problem``."""
        self.messages.append(f"{field_name}: {problem}")

    def raise_if_any(self) -> None:
        """Raise :class:`ConfigError` listing every message; return None when there is none."""
        if self.messages:
            lines = "\n  ".join(self.messages)
            count = len(self.messages)
            raise ConfigError(f"site spec {self.source} has {count} error(s):\n  {lines}")


def get_table(data: dict[str, Any], key: str, errors: SpecErrors, required: bool) -> dict[str, Any]:
    """Return the table ``data[key]`` ({} when missing or not a table)."""
    value = data.get(key)
    if value is None:
        if required:
            errors.add(key, f"missing; add a [{key}] table")
        return {}
    if not isinstance(value, dict):
        errors.add(key, f"must be a table ([{key}]), got {type(value).__name__}")
        return {}
    return value


def reject_unknown(
    data: dict[str, Any], allowed: set[str], prefix: str, errors: SpecErrors
) -> None:
    """Add an error for each key of ``data`` not in ``allowed``."""
    for key in sorted(set(data) - allowed):
        errors.add(f"{prefix}{key}", f"unknown field; allowed here: {', '.join(sorted(allowed))}")


def get_string(
    data: dict[str, Any], key: str, prefix: str, errors: SpecErrors, *, required: bool = False
) -> str | None:
    """Return ``data[key]`` as a non-empty string, or None (missing or wrong)."""
    value = data.get(key)
    if value is None:
        if required:
            errors.add(f"{prefix}{key}", "missing; give a non-empty string")
        return None
    if not isinstance(value, str) or not value.strip():
        errors.add(f"{prefix}{key}", f"must be a non-empty string, got {value!r}")
        return None
    return value


def get_selector(
    data: dict[str, Any], key: str, prefix: str, errors: SpecErrors, *, required: bool = False
) -> str | None:
    """Return ``data[key]`` when it is a valid CSS selector, else None."""
    value = get_string(data, key, prefix, errors, required=required)
    if value is None:
        return None
    from soupsieve import SelectorSyntaxError
    from soupsieve import compile as compile_css

    try:
        compile_css(value)
    except SelectorSyntaxError as exc:
        errors.add(f"{prefix}{key}", f"{value!r} is not a valid CSS selector ({exc.args[0]})")
        return None
    return value


def get_field_source(data: dict[str, Any], key: str, prefix: str, errors: SpecErrors) -> str | None:
    """Return a listing field's CSS selector or ``jsonld:PATH``, validated."""
    value = data.get(key)
    if isinstance(value, str) and value.startswith(JSONLD_PREFIX):
        if not JSONLD_PATH.match(value[len(JSONLD_PREFIX) :]):
            errors.add(
                f"{prefix}{key}",
                f"{value!r} is not a JSON-LD path; write e.g. 'jsonld:offers.price' or "
                "'jsonld:Car:name'",
            )
            return None
        return value
    return get_selector(data, key, prefix, errors)


def get_bool(
    data: dict[str, Any], key: str, prefix: str, errors: SpecErrors, default: bool
) -> bool:
    """Return ``data[key]`` as a bool (``default`` when missing or wrong)."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        errors.add(f"{prefix}{key}", f"must be true or false, got {value!r}")
        return default
    return value


def get_number(
    data: dict[str, Any],
    key: str,
    prefix: str,
    errors: SpecErrors,
    default: float,
    *,
    minimum: float = 0.0,
    integer: bool = False,
) -> Any:
    """Return ``data[key]``, a number (an int with ``integer``) at least ``minimum``;
    ``default`` when missing or wrong."""
    value = data.get(key, default)
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or value < minimum:
        errors.add(f"{prefix}{key}", f"must be {kind} >= {minimum:g}, got {value!r}")
        return default
    return value


def get_template(
    value: str, field_name: str, errors: SpecErrors, *, needs_page: bool = True
) -> str | None:
    """Return ``value`` when it is a URL template with known placeholders only (and
    ``{page}`` when ``needs_page``), else None."""
    names = set(re.findall(r"{([^{}]*)}", value))
    bad = names - PLACEHOLDERS
    if bad:
        errors.add(
            field_name,
            f"unknown placeholder(s) {sorted(bad)} in {value!r}; use {{base_url}}, {{model}}, "
            "{page}",
        )
        return None
    try:
        value.format(base_url="http://x", model="m", page=1)
    except (ValueError, IndexError) as exc:
        errors.add(field_name, f"{value!r} is not a valid template ({exc})")
        return None
    if needs_page and "{page}" not in value:
        errors.add(
            field_name,
            f"{value!r} needs a {{page}} placeholder for the page number (or set "
            "search.next_page to follow the site's next-page link)",
        )
        return None
    if not value.startswith("{base_url}") and urlsplit(value).scheme not in ("http", "https"):
        errors.add(field_name, f"{value!r} must start with http://, https:// or {{base_url}}")
        return None
    return value
