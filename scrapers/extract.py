"""Reading rendered HTML with BeautifulSoup: listing links, the next page, listing fields, photos.

Pure functions of (html, page URL, spec): no network, so they are tested on strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

from bs4 import BeautifulSoup, Tag

from scrapers.spec import PhotoSpec, SiteSpec

_DIGITS = re.compile(r"\d+")
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")


@dataclass(frozen=True)
class SearchPage:
    """What a search-results page offers: absolute ``listing_urls`` (in page order, no repeats)
    and the ``next_url`` (None on the last page or when the spec has no next-page selector)."""

    listing_urls: list[str]
    next_url: str | None


@dataclass(frozen=True)
class ListingPage:
    """One listing's fields (None when absent or unparsable) and its full-size photo URLs."""

    url: str
    title: str | None = None
    price: int | None = None
    year: int | None = None
    location: str | None = None
    photo_urls: list[str] = field(default_factory=list)


def absolute(href: str, page_url: str) -> str | None:
    """Return ``href`` resolved against ``page_url`` without its #fragment (None for non-http)."""
    href = href.strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:")):
        return None
    url, _fragment = urldefrag(urljoin(page_url, href))
    return url if url.startswith(("http://", "https://")) else None


def _unique(urls: list[str | None]) -> list[str]:
    return list(dict.fromkeys(u for u in urls if u))


def parse_search(html: str, page_url: str, spec: SiteSpec) -> SearchPage:
    """Return the listing links and next-page link of a search page.

    >>> # parse_search('<a class="l" href="/x/1">', "http://s/search", spec).listing_urls
    >>> # ['http://s/x/1']
    """
    soup = BeautifulSoup(html, "html.parser")
    links = _unique(
        [absolute(str(a.get("href", "")), page_url) for a in soup.select(spec.search.listing_links)]
    )
    next_url = None
    if spec.search.next_page:
        anchor = soup.select_one(spec.search.next_page)
        if anchor is not None and anchor.get("href"):
            next_url = absolute(str(anchor["href"]), page_url)
    return SearchPage(listing_urls=links, next_url=next_url)


def best_srcset_entry(srcset: str) -> str | None:
    """Return the URL of the widest ``srcset`` candidate (by ``w``, else by ``x`` density).

    >>> best_srcset_entry("a.jpg 320w, b.jpg 1280w, c.jpg 640w")
    'b.jpg'
    """
    best: tuple[float, str] | None = None
    for candidate in srcset.split(","):
        parts = candidate.split()
        if not parts:
            continue
        url, size = parts[0], 1.0
        if len(parts) > 1 and parts[1][:-1].replace(".", "", 1).isdigit():
            size = float(parts[1][:-1])
        if best is None or size > best[0]:
            best = (size, url)
    return best[1] if best else None


def photo_url_of(tag: Tag, photos: PhotoSpec, page_url: str) -> str | None:
    """Return the full-size URL for one photo element, by the spec's attribute preference.

    ``data-src`` and ``src`` are taken as they are (``src`` is skipped when it is an inline
    ``data:`` placeholder); ``srcset`` (or ``data-srcset`` before lazy loading ran) gives its
    widest entry. The spec's ``full_size`` rules then turn a thumbnail URL into the full one.
    """
    for attribute in photos.attributes:
        if attribute == "srcset":
            raw = tag.get("srcset") or tag.get("data-srcset")
            value = best_srcset_entry(str(raw)) if raw else None
        else:
            raw = tag.get(attribute)
            value = str(raw) if raw else None
        url = absolute(value, page_url) if value else None
        if url:
            for rule in photos.full_size:
                url = rule.apply(url)
            return url
    return None


def _text(soup: BeautifulSoup, selector: str | None) -> str | None:
    if not selector:
        return None
    element = soup.select_one(selector)
    if element is None:
        return None
    text = " ".join(element.get_text(" ").split())
    return text or None


def parse_price(text: str | None) -> int | None:
    """Return the digits of a price as an int: ``"Rs 4,85,000"`` → ``485000``."""
    if not text:
        return None
    digits = "".join(_DIGITS.findall(text))
    return int(digits) if digits and len(digits) <= 15 else None


def parse_year(text: str | None) -> int | None:
    """Return the first plausible model year (1950–2099) in ``text``."""
    match = _YEAR.search(text or "")
    return int(match.group(1)) if match else None


def parse_listing(html: str, page_url: str, spec: SiteSpec) -> ListingPage:
    """Return the fields and full-size photo URLs (page order, no repeats) of a listing page."""
    soup = BeautifulSoup(html, "html.parser")
    fields = spec.listing
    photos = _unique(
        [photo_url_of(tag, spec.photos, page_url) for tag in soup.select(spec.photos.selector)]
    )
    title = _text(soup, fields.title)
    return ListingPage(
        url=page_url,
        title=title[:500] if title else None,
        price=parse_price(_text(soup, fields.price)),
        year=parse_year(_text(soup, fields.year)),
        location=(_text(soup, fields.location) or None),
        photo_urls=photos,
    )
