"""Site specs: how to crawl one marketplace, as data (TOML or YAML) validated field by field.

A spec says where each label's search results start, how to find listing links and the next
page, what to wait for before reading a page, where the photos and the listing fields are, which
domains may be visited, how fast, and whether a browser is needed. :func:`load_spec` reads one
and raises a :class:`~pipeline.errors.ConfigError` listing *every* wrong field, each with the
fix; ``load_spec("demo")`` returns the spec that ships with carscout for the demo marketplace.

Templates may use ``{base_url}`` (the site root, given at run time so the demo spec works on any
port), ``{model}`` (the label's search term, URL-quoted) and ``{page}`` (1, 2, …).

Listing fields and photos may also come from the page's JSON-LD (``<script
type="application/ld+json">``): a field written ``"jsonld:offers.price"`` is a dotted path into
those objects (``"jsonld:Car:offers.price"`` only looks in objects whose ``@type`` is ``Car``),
and ``photos.jsonld = "image"`` takes photo URLs from such a path.

This module reads a spec and validates it section by section; the dataclasses it returns are in
:mod:`scrapers.spec_model` and the checks of single fields in :mod:`scrapers.spec_fields`.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import ConfigError
from scrapers.spec_fields import (
    JSONLD_PATH,
    SpecErrors,
    get_bool,
    get_field_source,
    get_number,
    get_selector,
    get_string,
    get_table,
    get_template,
    reject_unknown,
)
from scrapers.spec_model import (
    JSONLD_PREFIX,
    PHOTO_ATTRIBUTES,
    RENDER_MODES,
    DownloadSpec,
    FullSizeRule,
    ListingSpec,
    PhotoSpec,
    Politeness,
    SearchSpec,
    SiteSpec,
)

SHIPPED_SPECS = {"demo": "demo.toml"}


def _parse_start(
    data: dict[str, Any], errors: SpecErrors, *, needs_page: bool
) -> tuple[str, dict[str, str], dict]:
    start = get_table(data, "start", errors, required=True)
    reject_unknown(start, {"url", "labels"}, "start.", errors)
    url = get_string(start, "url", "start.", errors, required=True)
    url = get_template(url, "start.url", errors, needs_page=needs_page) if url else None
    labels: dict[str, str] = {}
    label_urls: dict[str, str] = {}
    raw_labels = start.get("labels", {})
    if not isinstance(raw_labels, dict):
        errors.add("start.labels", "must be a table of label = search term")
        raw_labels = {}
    for label, entry in raw_labels.items():
        prefix = f"start.labels.{label}"
        if isinstance(entry, str) and entry.strip():
            labels[label] = entry
        elif isinstance(entry, dict):
            reject_unknown(entry, {"model", "url"}, prefix + ".", errors)
            labels[label] = get_string(entry, "model", prefix + ".", errors) or label
            own_url = get_string(entry, "url", prefix + ".", errors)
            if own_url and get_template(own_url, prefix + ".url", errors, needs_page=needs_page):
                label_urls[label] = own_url
        else:
            errors.add(prefix, "must be a search term string or a table {model = …, url = …}")
    return url or "", labels, label_urls


def _parse_photos(data: dict[str, Any], errors: SpecErrors) -> PhotoSpec:
    photos = get_table(data, "photos", errors, required=True)
    reject_unknown(photos, {"selector", "attributes", "full_size", "jsonld"}, "photos.", errors)
    jsonld = get_string(photos, "jsonld", "photos.", errors)
    if jsonld and not JSONLD_PATH.match(jsonld.removeprefix(JSONLD_PREFIX)):
        errors.add(
            "photos.jsonld", f"{jsonld!r} is not a JSON-LD path; write e.g. 'image' or 'Car:image'"
        )
        jsonld = None
    jsonld = jsonld.removeprefix(JSONLD_PREFIX) if jsonld else None
    if "selector" in photos or "jsonld" not in photos:
        selector = get_selector(photos, "selector", "photos.", errors, required=True)
        if selector is None and "selector" not in photos:
            errors.messages[-1] += " (a CSS selector of the photos, or give photos.jsonld)"
    else:
        selector = None
    attributes = photos.get("attributes", list(PHOTO_ATTRIBUTES))
    if not isinstance(attributes, list) or not attributes:
        errors.add("photos.attributes", f"must be a non-empty list from {list(PHOTO_ATTRIBUTES)}")
        attributes = list(PHOTO_ATTRIBUTES)
    for index, attribute in enumerate(attributes):
        if attribute not in PHOTO_ATTRIBUTES:
            errors.add(
                f"photos.attributes[{index}]",
                f"{attribute!r} is not supported; use {', '.join(PHOTO_ATTRIBUTES)}",
            )
    rules: list[FullSizeRule] = []
    raw_rules = photos.get("full_size", [])
    if not isinstance(raw_rules, list):
        errors.add("photos.full_size", "must be a list of {pattern = …, replace = …} tables")
        raw_rules = []
    for index, rule in enumerate(raw_rules):
        prefix = f"photos.full_size[{index}]."
        if not isinstance(rule, dict):
            errors.add(prefix[:-1], "must be a table {pattern = …, replace = …}")
            continue
        reject_unknown(rule, {"pattern", "replace"}, prefix, errors)
        pattern = get_string(rule, "pattern", prefix, errors, required=True)
        target = rule.get("replace")
        if not isinstance(target, str):
            errors.add(prefix + "replace", "missing; give the replacement (may use \\1 groups)")
            continue
        if pattern is None:
            continue
        try:
            re.sub(pattern, target, "http://example.invalid/x.jpg")
        except re.error as exc:
            errors.add(prefix + "pattern", f"{pattern!r} / {target!r} is not a valid regex ({exc})")
            continue
        rules.append(FullSizeRule(pattern, target))
    valid = tuple(a for a in attributes if a in PHOTO_ATTRIBUTES) or PHOTO_ATTRIBUTES
    return PhotoSpec(selector=selector, attributes=valid, full_size=tuple(rules), jsonld=jsonld)


def _parse_domains(data: dict[str, Any], errors: SpecErrors) -> tuple[str, ...]:
    domains = data.get("allowed_domains", [])
    if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
        errors.add(
            "allowed_domains",
            'must be a list of host names such as ["www.example.com", "img.example.com"]',
        )
        return ()
    for index, domain in enumerate(domains):
        if "/" in domain or " " in domain:
            errors.add(
                f"allowed_domains[{index}]",
                f"{domain!r} must be a bare host name (no scheme or path), e.g. example.com",
            )
    return tuple(domains)


def _parse_politeness(data: dict[str, Any], errors: SpecErrors) -> Politeness:
    table = get_table(data, "politeness", errors, required=False)
    reject_unknown(table, {"obey_robots", "delay_seconds", "user_agent"}, "politeness.", errors)
    return Politeness(
        obey_robots=get_bool(table, "obey_robots", "politeness.", errors, True),
        delay_seconds=float(get_number(table, "delay_seconds", "politeness.", errors, 1.0)),
        user_agent=get_string(table, "user_agent", "politeness.", errors),
    )


def _parse_download(data: dict[str, Any], errors: SpecErrors) -> DownloadSpec:
    table = get_table(data, "download", errors, required=False)
    defaults = DownloadSpec()
    integers = {"workers": 1, "retries": 0, "max_redirects": 0, "max_bytes": 1}
    floats = {
        "connect_timeout": 0.1,
        "read_timeout": 0.1,
        "backoff_seconds": 0.0,
        "max_retry_after": 0.0,
        "page_timeout": 0.5,
    }
    reject_unknown(table, set(integers) | set(floats), "download.", errors)
    values: dict[str, Any] = {}
    for key, minimum in integers.items():
        default = getattr(defaults, key)
        if key in table or default is not None:
            values[key] = get_number(
                table, key, "download.", errors, default, minimum=minimum, integer=True
            )
    for key, minimum in floats.items():
        values[key] = float(
            get_number(table, key, "download.", errors, getattr(defaults, key), minimum=minimum)
        )
    return DownloadSpec(**values)


def parse_spec(data: dict[str, Any], source: str = "<memory>") -> SiteSpec:
    """Validate a spec's parsed TOML/YAML ``data`` and return a :class:`SiteSpec`.

    Raises :class:`ConfigError` naming every wrong field and how to fix it, e.g.
    ``site spec x.toml has 2 error(s): render: must be one of browser, static …``.
    """
    errors = SpecErrors(source)
    if not isinstance(data, dict):
        errors.add("<top>", "the spec must be a table of fields")
        errors.raise_if_any()
    top = {
        "name",
        "render",
        "base_url",
        "allowed_domains",
        "start",
        "search",
        "listing",
        "photos",
        "politeness",
        "download",
    }
    reject_unknown(data, top, "", errors)
    name = get_string(data, "name", "", errors, required=True) or "site"
    render = data.get("render", "browser")
    if render not in RENDER_MODES:
        errors.add("render", f"must be one of {', '.join(RENDER_MODES)}, got {render!r}")
        render = "browser"
    base_url = get_string(data, "base_url", "", errors) or ""
    if base_url and urlsplit(base_url).scheme not in ("http", "https"):
        errors.add("base_url", f"{base_url!r} must start with http:// or https://")
        base_url = ""
    search = get_table(data, "search", errors, required=True)
    has_next = isinstance(search.get("next_page"), str) and bool(search["next_page"].strip())
    start_url, labels, label_urls = _parse_start(data, errors, needs_page=not has_next)
    reject_unknown(
        search,
        {"listing_links", "link_attribute", "next_page", "wait_for", "error", "scroll"},
        "search.",
        errors,
    )
    search_spec = SearchSpec(
        listing_links=get_selector(search, "listing_links", "search.", errors, required=True)
        or "a",
        link_attribute=get_string(search, "link_attribute", "search.", errors) or "href",
        next_page=get_selector(search, "next_page", "search.", errors),
        wait_for=get_selector(search, "wait_for", "search.", errors),
        error=get_selector(search, "error", "search.", errors),
        scroll=get_bool(search, "scroll", "search.", errors, False),
    )
    listing = get_table(data, "listing", errors, required=True)
    fields = ("title", "price", "year", "location")
    reject_unknown(listing, {"render", "wait_for", "error", "scroll", *fields}, "listing.", errors)
    listing_render = listing.get("render")
    if listing_render is not None and listing_render not in RENDER_MODES:
        errors.add(
            "listing.render",
            f"must be one of {', '.join(RENDER_MODES)} (or left out), got {listing_render!r}",
        )
        listing_render = None
    if listing_render == "browser" and render == "static":
        errors.add("listing.render", "'browser' needs render = 'browser' for the site")
        listing_render = None
    listing_spec = ListingSpec(
        render=listing_render,
        wait_for=get_selector(listing, "wait_for", "listing.", errors),
        error=get_selector(listing, "error", "listing.", errors),
        scroll=get_bool(listing, "scroll", "listing.", errors, True),
        **{key: get_field_source(listing, key, "listing.", errors) for key in fields},
    )
    spec = SiteSpec(
        name=name,
        render=render,
        start_url=start_url,
        labels=labels,
        label_urls=label_urls,
        search=search_spec,
        listing=listing_spec,
        photos=_parse_photos(data, errors),
        allowed_domains=_parse_domains(data, errors),
        politeness=_parse_politeness(data, errors),
        download=_parse_download(data, errors),
        base_url=base_url.rstrip("/"),
        source=source,
    )
    errors.raise_if_any()
    return spec


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read site spec {path} ({exc.strerror}); check the path") from exc
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"site spec {path} is not valid TOML ({exc}); fix it") from exc
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"site spec {path} is not valid YAML ({exc}); fix it") from exc
    raise ConfigError(f"site spec {path} must end in .toml, .yaml or .yml")


def shipped_spec_path(name: str) -> Path:
    """Return the path of a spec that ships with carscout (``demo``)."""
    return Path(str(resources.files("scrapers") / "specs" / SHIPPED_SPECS[name]))


def load_spec(site: str | Path, base_url: str | None = None) -> SiteSpec:
    """Load a spec from a file path or a shipped name (``"demo"``) and return a :class:`SiteSpec`.

    ``base_url`` fills the ``{base_url}`` placeholder (e.g. the demo site's
    ``http://127.0.0.1:8123``). Raises :class:`ConfigError` for a missing file or bad fields.
    """
    text = str(site)
    if text in SHIPPED_SPECS:
        path = shipped_spec_path(text)
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            shipped = ", ".join(SHIPPED_SPECS)
            raise ConfigError(
                f"site spec {text!r} not found; give a .toml/.yaml path or a shipped name "
                f"({shipped})"
            )
    return parse_spec(_read(path), source=str(path)).with_base_url(base_url)
