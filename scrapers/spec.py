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
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from pipeline.errors import ConfigError

PHOTO_ATTRIBUTES = ("data-src", "srcset", "src")
RENDER_MODES = ("browser", "static")
_PLACEHOLDERS = {"base_url", "model", "page"}
SHIPPED_SPECS = {"demo": "demo.toml"}
JSONLD_PREFIX = "jsonld:"
_JSONLD_PATH = re.compile(r"^(?:[A-Za-z][\w-]*:)?[@\w-]+(?:\.[@\w-]+)*$")


@dataclass(frozen=True)
class FullSizeRule:
    """Turn a thumbnail URL into the full-size one: ``re.sub(pattern, replace, url)``."""

    pattern: str
    replace: str

    def apply(self, url: str) -> str:
        """Return ``url`` rewritten by this rule (unchanged when the pattern does not match)."""
        return re.sub(self.pattern, self.replace, url)


@dataclass(frozen=True)
class PhotoSpec:
    """Where a listing's photos are: CSS ``selector`` for the elements, attribute preference,
    and/or ``jsonld``, a JSON-LD path (``image``, ``Car:image``) whose values are photo URLs."""

    selector: str | None
    attributes: tuple[str, ...] = PHOTO_ATTRIBUTES
    full_size: tuple[FullSizeRule, ...] = ()
    jsonld: str | None = None


@dataclass(frozen=True)
class SearchSpec:
    """A search-results page: listing links, the next page, what marks it as rendered.

    ``error`` is a selector that marks a page whose content failed to load (the page is then
    retried like a 5xx answer); the browser waits for ``wait_for`` *or* ``error``.
    ``link_attribute`` is the attribute of a matched element that holds the listing's URL.
    """

    listing_links: str
    link_attribute: str = "href"
    next_page: str | None = None
    wait_for: str | None = None
    error: str | None = None
    scroll: bool = False


@dataclass(frozen=True)
class ListingSpec:
    """A listing page: what marks it as rendered and CSS selectors for its fields.

    ``render`` overrides the site's render mode for listing pages (``static`` where search
    results need JavaScript but listing pages are plain HTML); None means the site's mode.
    A field is a CSS selector or ``jsonld:PATH`` (see the module docstring).
    """

    render: str | None = None
    wait_for: str | None = None
    error: str | None = None
    scroll: bool = True
    title: str | None = None
    price: str | None = None
    year: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Politeness:
    """How gently to crawl: robots.txt, seconds between requests to one host, user agent."""

    obey_robots: bool = True
    delay_seconds: float = 1.0
    user_agent: str | None = None


@dataclass(frozen=True)
class DownloadSpec:
    """Photo downloads: parallelism, timeouts, retries and the size cap."""

    workers: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 3
    backoff_seconds: float = 0.5
    max_retry_after: float = 120.0
    max_bytes: int | None = None
    max_redirects: int = 5
    page_timeout: float = 20.0


@dataclass(frozen=True)
class SiteSpec:
    """One marketplace. Build with :func:`load_spec` / :func:`parse_spec`, not by hand."""

    name: str
    render: str
    start_url: str
    labels: dict[str, str]
    search: SearchSpec
    listing: ListingSpec
    photos: PhotoSpec
    allowed_domains: tuple[str, ...] = ()
    politeness: Politeness = field(default_factory=Politeness)
    download: DownloadSpec = field(default_factory=DownloadSpec)
    label_urls: dict[str, str] = field(default_factory=dict)
    base_url: str = ""
    source: str = "<memory>"

    def model_for(self, label: str) -> str:
        """Return the search term for ``label`` (the label itself when the spec has no entry)."""
        return self.labels.get(label, label)

    def start_url_for(self, label: str, page: int = 1) -> str:
        """Return the search URL of ``label`` on ``page``, e.g. ``…/search?model=swift&page=2``."""
        template = self.label_urls.get(label, self.start_url)
        if "{base_url}" in template and not self.base_url:
            raise ConfigError(
                f"{self.source}: start URL uses {{base_url}} but no base URL was given; "
                "pass --base-url http://HOST:PORT (or set base_url in the spec)"
            )
        return template.format(
            base_url=self.base_url.rstrip("/"), model=quote(self.model_for(label)), page=page
        )

    def fingerprint(self) -> str:
        """Return a short hash of what decides which listings, fields and photos are read
        (search, listing and photo rules), e.g. ``"3f2a9c0d1b7e4a55"``; politeness, download
        settings and the base URL do not change it."""
        parts = {"search": asdict(self.search), "listing": asdict(self.listing)}
        parts["photos"] = asdict(self.photos)
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def resolved_domains(self) -> tuple[str, ...]:
        """Return the allowed domains with ``{base_url}`` turned into the base URL's host.

        With no ``allowed_domains`` in the spec, the base URL's host and the start URL's host
        are allowed (never "everything").
        """
        base_host = urlsplit(self.base_url).hostname or ""
        domains = [d.replace("{base_url}", base_host).lower() for d in self.allowed_domains]
        if not domains:
            domains = [base_host] if base_host else []
            if "{base_url}" not in self.start_url:
                domains.append(urlsplit(self.start_url).hostname or "")
        return tuple(d for d in domains if d)

    def with_base_url(self, base_url: str | None) -> SiteSpec:
        """Return a copy whose ``{base_url}`` resolves to ``base_url`` (unchanged when None)."""
        if not base_url:
            return self
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ConfigError(f"base URL {base_url!r} must start with http:// or https://")
        return replace(self, base_url=base_url.rstrip("/"))


# --- loading and validation -----------------------------------------------------------------


class _Errors:
    """Collects one message per wrong field, so the user fixes them all in one go."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.messages: list[str] = []

    def add(self, field_name: str, problem: str) -> None:
        self.messages.append(f"{field_name}: {problem}")

    def raise_if_any(self) -> None:
        if self.messages:
            lines = "\n  ".join(self.messages)
            count = len(self.messages)
            raise ConfigError(f"site spec {self.source} has {count} error(s):\n  {lines}")


def _table(data: dict[str, Any], key: str, errors: _Errors, required: bool) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            errors.add(key, f"missing; add a [{key}] table")
        return {}
    if not isinstance(value, dict):
        errors.add(key, f"must be a table ([{key}]), got {type(value).__name__}")
        return {}
    return value


def _unknown(data: dict[str, Any], allowed: set[str], prefix: str, errors: _Errors) -> None:
    for key in sorted(set(data) - allowed):
        errors.add(f"{prefix}{key}", f"unknown field; allowed here: {', '.join(sorted(allowed))}")


def _string(
    data: dict[str, Any], key: str, prefix: str, errors: _Errors, *, required: bool = False
) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            errors.add(f"{prefix}{key}", "missing; give a non-empty string")
        return None
    if not isinstance(value, str) or not value.strip():
        errors.add(f"{prefix}{key}", f"must be a non-empty string, got {value!r}")
        return None
    return value


def _selector(
    data: dict[str, Any], key: str, prefix: str, errors: _Errors, *, required: bool = False
) -> str | None:
    value = _string(data, key, prefix, errors, required=required)
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


def _field_source(data: dict[str, Any], key: str, prefix: str, errors: _Errors) -> str | None:
    """Return a listing field's CSS selector or ``jsonld:PATH``, validated."""
    value = data.get(key)
    if isinstance(value, str) and value.startswith(JSONLD_PREFIX):
        if not _JSONLD_PATH.match(value[len(JSONLD_PREFIX) :]):
            errors.add(
                f"{prefix}{key}",
                f"{value!r} is not a JSON-LD path; write e.g. 'jsonld:offers.price' or "
                "'jsonld:Car:name'",
            )
            return None
        return value
    return _selector(data, key, prefix, errors)


def _bool(data: dict[str, Any], key: str, prefix: str, errors: _Errors, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        errors.add(f"{prefix}{key}", f"must be true or false, got {value!r}")
        return default
    return value


def _number(
    data: dict[str, Any],
    key: str,
    prefix: str,
    errors: _Errors,
    default: float,
    *,
    minimum: float = 0.0,
    integer: bool = False,
) -> Any:
    value = data.get(key, default)
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or value < minimum:
        errors.add(f"{prefix}{key}", f"must be {kind} >= {minimum:g}, got {value!r}")
        return default
    return value


def _template(
    value: str, field_name: str, errors: _Errors, *, needs_page: bool = True
) -> str | None:
    names = set(re.findall(r"{([^{}]*)}", value))
    bad = names - _PLACEHOLDERS
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


def _parse_start(
    data: dict[str, Any], errors: _Errors, *, needs_page: bool
) -> tuple[str, dict[str, str], dict]:
    start = _table(data, "start", errors, required=True)
    _unknown(start, {"url", "labels"}, "start.", errors)
    url = _string(start, "url", "start.", errors, required=True)
    url = _template(url, "start.url", errors, needs_page=needs_page) if url else None
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
            _unknown(entry, {"model", "url"}, prefix + ".", errors)
            labels[label] = _string(entry, "model", prefix + ".", errors) or label
            own_url = _string(entry, "url", prefix + ".", errors)
            if own_url and _template(own_url, prefix + ".url", errors, needs_page=needs_page):
                label_urls[label] = own_url
        else:
            errors.add(prefix, "must be a search term string or a table {model = …, url = …}")
    return url or "", labels, label_urls


def _parse_photos(data: dict[str, Any], errors: _Errors) -> PhotoSpec:
    photos = _table(data, "photos", errors, required=True)
    _unknown(photos, {"selector", "attributes", "full_size", "jsonld"}, "photos.", errors)
    jsonld = _string(photos, "jsonld", "photos.", errors)
    if jsonld and not _JSONLD_PATH.match(jsonld.removeprefix(JSONLD_PREFIX)):
        errors.add(
            "photos.jsonld", f"{jsonld!r} is not a JSON-LD path; write e.g. 'image' or 'Car:image'"
        )
        jsonld = None
    jsonld = jsonld.removeprefix(JSONLD_PREFIX) if jsonld else None
    if "selector" in photos or "jsonld" not in photos:
        selector = _selector(photos, "selector", "photos.", errors, required=True)
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
        _unknown(rule, {"pattern", "replace"}, prefix, errors)
        pattern = _string(rule, "pattern", prefix, errors, required=True)
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


def _parse_domains(data: dict[str, Any], errors: _Errors) -> tuple[str, ...]:
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


def _parse_politeness(data: dict[str, Any], errors: _Errors) -> Politeness:
    table = _table(data, "politeness", errors, required=False)
    _unknown(table, {"obey_robots", "delay_seconds", "user_agent"}, "politeness.", errors)
    return Politeness(
        obey_robots=_bool(table, "obey_robots", "politeness.", errors, True),
        delay_seconds=float(_number(table, "delay_seconds", "politeness.", errors, 1.0)),
        user_agent=_string(table, "user_agent", "politeness.", errors),
    )


def _parse_download(data: dict[str, Any], errors: _Errors) -> DownloadSpec:
    table = _table(data, "download", errors, required=False)
    defaults = DownloadSpec()
    integers = {"workers": 1, "retries": 0, "max_redirects": 0, "max_bytes": 1}
    floats = {
        "connect_timeout": 0.1,
        "read_timeout": 0.1,
        "backoff_seconds": 0.0,
        "max_retry_after": 0.0,
        "page_timeout": 0.5,
    }
    _unknown(table, set(integers) | set(floats), "download.", errors)
    values: dict[str, Any] = {}
    for key, minimum in integers.items():
        default = getattr(defaults, key)
        if key in table or default is not None:
            values[key] = _number(
                table, key, "download.", errors, default, minimum=minimum, integer=True
            )
    for key, minimum in floats.items():
        values[key] = float(
            _number(table, key, "download.", errors, getattr(defaults, key), minimum=minimum)
        )
    return DownloadSpec(**values)


def parse_spec(data: dict[str, Any], source: str = "<memory>") -> SiteSpec:
    """Validate a spec's parsed TOML/YAML ``data`` and return a :class:`SiteSpec`.

    Raises :class:`ConfigError` naming every wrong field and how to fix it, e.g.
    ``site spec x.toml has 2 error(s): render: must be one of browser, static …``.
    """
    errors = _Errors(source)
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
    _unknown(data, top, "", errors)
    name = _string(data, "name", "", errors, required=True) or "site"
    render = data.get("render", "browser")
    if render not in RENDER_MODES:
        errors.add("render", f"must be one of {', '.join(RENDER_MODES)}, got {render!r}")
        render = "browser"
    base_url = _string(data, "base_url", "", errors) or ""
    if base_url and urlsplit(base_url).scheme not in ("http", "https"):
        errors.add("base_url", f"{base_url!r} must start with http:// or https://")
        base_url = ""
    search = _table(data, "search", errors, required=True)
    has_next = isinstance(search.get("next_page"), str) and bool(search["next_page"].strip())
    start_url, labels, label_urls = _parse_start(data, errors, needs_page=not has_next)
    _unknown(
        search,
        {"listing_links", "link_attribute", "next_page", "wait_for", "error", "scroll"},
        "search.",
        errors,
    )
    search_spec = SearchSpec(
        listing_links=_selector(search, "listing_links", "search.", errors, required=True) or "a",
        link_attribute=_string(search, "link_attribute", "search.", errors) or "href",
        next_page=_selector(search, "next_page", "search.", errors),
        wait_for=_selector(search, "wait_for", "search.", errors),
        error=_selector(search, "error", "search.", errors),
        scroll=_bool(search, "scroll", "search.", errors, False),
    )
    listing = _table(data, "listing", errors, required=True)
    fields = ("title", "price", "year", "location")
    _unknown(listing, {"render", "wait_for", "error", "scroll", *fields}, "listing.", errors)
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
        wait_for=_selector(listing, "wait_for", "listing.", errors),
        error=_selector(listing, "error", "listing.", errors),
        scroll=_bool(listing, "scroll", "listing.", errors, True),
        **{key: _field_source(listing, key, "listing.", errors) for key in fields},
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
