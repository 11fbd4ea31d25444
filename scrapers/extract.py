"""Reading rendered HTML with BeautifulSoup: listing links, the next page, listing fields, photos.

Pure functions of (html, page URL, spec): no network, so they are tested on strings.
Fields written ``jsonld:PATH`` and ``photos.jsonld`` are read from the page's JSON-LD scripts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

from bs4 import BeautifulSoup, Tag

from scrapers.spec_model import JSONLD_PREFIX, PhotoSpec, SiteSpec

_DIGITS = re.compile(r"\d+")
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")


@dataclass(frozen=True)
class SearchPage:
    """What a search-results page offers: absolute ``listing_urls`` (in page order, no repeats)
    and the ``next_url`` (None on the last page or when the spec has no next-page selector).
    ``matched`` counts the elements ``search.listing_links`` matched (links or not)."""

    listing_urls: list[str]
    next_url: str | None
    matched: int = 0


@dataclass(frozen=True)
class ListingPage:
    """One listing's fields (None when absent or unparsable) and its full-size photo URLs.

    ``unmatched`` names what the spec asks for but the page does not have: listing fields
    (``"title"``, …) whose selector or JSON-LD path matched nothing, and ``"photos"`` when no
    photo URL was found.
    """

    url: str
    title: str | None = None
    price: int | None = None
    year: int | None = None
    location: str | None = None
    photo_urls: list[str] = field(default_factory=list)
    unmatched: tuple[str, ...] = ()


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
    matched = soup.select(spec.search.listing_links)
    attribute = spec.search.link_attribute
    links = _unique([absolute(str(a.get(attribute, "")), page_url) for a in matched])
    next_url = None
    if spec.search.next_page:
        anchor = soup.select_one(spec.search.next_page)
        if anchor is not None and anchor.get("href"):
            next_url = absolute(str(anchor["href"]), page_url)
    return SearchPage(listing_urls=links, next_url=next_url, matched=len(matched))


def jsonld_objects(soup: BeautifulSoup) -> list[dict]:
    """Return every JSON-LD object of a page in document order (``@graph`` members and list
    items included); scripts that are not valid JSON are ignored."""
    found: list[dict] = []

    def walk(value: object) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            found.append(value)
            walk(value.get("@graph"))

    for script in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            walk(json.loads(script.get_text() or "null"))
        except ValueError:
            continue
    return found


def _has_type(obj: dict, wanted: str) -> bool:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return wanted in [str(k).rsplit("/", 1)[-1] for k in kinds if k]


def jsonld_values(objects: list[dict], path: str) -> list[object]:
    """Return the values at a dotted ``path`` (``offers.price``; ``Car:offers.price`` only in
    objects of ``@type`` Car) over all ``objects``, lists flattened, in document order."""
    kind, _, keys = path.rpartition(":")
    values: list[object] = []
    for obj in objects:
        if kind and not _has_type(obj, kind):
            continue
        level: list[object] = [obj]
        for key in keys.split("."):
            step: list[object] = []
            for item in level:
                value = item.get(key) if isinstance(item, dict) else None
                step.extend(value if isinstance(value, list) else [value])
            level = [v for v in step if v is not None]
        values.extend(level)
    return values


def _jsonld_text(objects: list[dict], path: str) -> str | None:
    for value in jsonld_values(objects, path):
        if isinstance(value, dict):
            value = value.get("name") or value.get("value") or value.get("@value")
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = " ".join(str(value).split())
            if text:
                return text
    return None


def _jsonld_photo_urls(objects: list[dict], photos: PhotoSpec, page_url: str) -> list[str | None]:
    urls: list[str | None] = []
    for value in jsonld_values(objects, photos.jsonld or ""):
        if isinstance(value, dict):
            value = value.get("contentUrl") or value.get("url")
        url = absolute(value, page_url) if isinstance(value, str) else None
        if url:
            for rule in photos.full_size:
                url = rule.apply(url)
        urls.append(url)
    return urls


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


def _text(soup: BeautifulSoup, selector: str | None, objects: list[dict]) -> str | None:
    if not selector:
        return None
    if selector.startswith(JSONLD_PREFIX):
        return _jsonld_text(objects, selector[len(JSONLD_PREFIX) :])
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
    objects = jsonld_objects(soup) if _uses_jsonld(spec) else []
    found: list[str | None] = []
    if spec.photos.selector:
        found += [
            photo_url_of(tag, spec.photos, page_url) for tag in soup.select(spec.photos.selector)
        ]
    if spec.photos.jsonld:
        found += _jsonld_photo_urls(objects, spec.photos, page_url)
    photos = _unique(found)
    texts = {
        name: _text(soup, getattr(fields, name), objects)
        for name in ("title", "price", "year", "location")
    }
    unmatched = [name for name, text in texts.items() if getattr(fields, name) and text is None]
    if not photos:
        unmatched.append("photos")
    title = texts["title"]
    return ListingPage(
        url=page_url,
        title=title[:500] if title else None,
        price=parse_price(texts["price"]),
        year=parse_year(texts["year"]),
        location=texts["location"] or None,
        photo_urls=photos,
        unmatched=tuple(unmatched),
    )


def _uses_jsonld(spec: SiteSpec) -> bool:
    fields = (spec.listing.title, spec.listing.price, spec.listing.year, spec.listing.location)
    return bool(spec.photos.jsonld) or any(f and f.startswith(JSONLD_PREFIX) for f in fields)
