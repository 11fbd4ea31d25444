"""What a site spec holds: the dataclasses a validated spec is made of (see
:mod:`scrapers.spec` for the format and how a spec is read and checked)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import quote, urlsplit

from pipeline.errors import ConfigError

PHOTO_ATTRIBUTES = ("data-src", "srcset", "src")
RENDER_MODES = ("browser", "static")
JSONLD_PREFIX = "jsonld:"


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
