"""What a spec extracts from HTML: links, next page, fields, photo URLs by attribute preference."""

from __future__ import annotations

from scrapers.extract import (
    best_srcset_entry,
    parse_listing,
    parse_price,
    parse_search,
    parse_year,
)
from scrapers.spec import load_spec

PAGE = "http://127.0.0.1:9/listing/7"
LISTING_HTML = """
<article class="listing"><h1 class="title"> 2017  Maruti Swift VXi </h1>
<span class="price">Rs 4,85,000</span><span class="year">Model 2017</span>
<span class="city">Pune</span></article>
<div class="gallery">
  <img data-src="/photos/aa.jpg" src="/static/placeholder.gif">
  <img data-srcset="/photos/bb/thumb-160.jpg 160w, /photos/bb/thumb-640.jpg 640w">
  <img src="/photos/cc/thumb-320.jpg">
  <img src="data:image/gif;base64,R0lGOD">
  <img data-src="/photos/aa.jpg#again">
</div>
"""


def test_listing_fields_and_photo_urls() -> None:
    spec = load_spec("demo", base_url="http://127.0.0.1:9")
    page = parse_listing(LISTING_HTML, PAGE, spec)
    assert (page.title, page.price, page.year, page.location) == (
        "2017 Maruti Swift VXi",
        485000,
        2017,
        "Pune",
    )
    assert page.photo_urls == [
        "http://127.0.0.1:9/photos/aa.jpg",  # data-src wins over the placeholder src
        "http://127.0.0.1:9/photos/bb.jpg",  # widest srcset entry, thumbnail rule applied
        "http://127.0.0.1:9/photos/cc.jpg",  # src, thumbnail rule applied
    ]


def test_search_links_are_absolute_unique_and_next_page_found() -> None:
    spec = load_spec("demo", base_url="http://127.0.0.1:9")
    html = """
    <article class="listing-card"><a class="listing-link" href="/listing/1">a</a></article>
    <article class="listing-card"><a class="listing-link" href="/listing/2#top">b</a></article>
    <article class="listing-card"><a class="listing-link" href="/listing/1">a</a></article>
    <a class="save" href="/private/saved?listing=1">save</a>
    <nav id="pager"><a class="next" href="/search?model=swift&amp;page=3">next</a></nav>
    """
    found = parse_search(html, "http://127.0.0.1:9/search?model=swift&page=2", spec)
    assert found.listing_urls == ["http://127.0.0.1:9/listing/1", "http://127.0.0.1:9/listing/2"]
    assert found.next_url == "http://127.0.0.1:9/search?model=swift&page=3"
    assert parse_search("<p>none</p>", PAGE, spec).next_url is None


def test_small_parsers() -> None:
    assert best_srcset_entry("a.jpg 320w, b.jpg 1280w, c.jpg 640w") == "b.jpg"
    assert best_srcset_entry("a.jpg, b.jpg 2x") == "b.jpg"
    assert best_srcset_entry("") is None
    assert parse_price("₹ 12,50,000 (negotiable)") == 1250000
    assert parse_price("call us") is None
    assert parse_year("Registered in 2019, 45,000 km") == 2019
    assert parse_year("45000 km") is None
