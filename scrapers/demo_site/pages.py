"""HTML, JavaScript and JSON bodies of the demo marketplace.

Search pages are empty shells filled by ``app.js`` from ``/api/search``; listing pages are
server-rendered but their gallery images only get a real ``src`` when scrolled into view.
Every page carries links a polite scraper must not follow: off-site, ``/private/`` (disallowed
in robots.txt) and ``/compare`` (``rel=nofollow``, an endless link space).
"""

from __future__ import annotations

import base64
from html import escape
from urllib.parse import quote

from scrapers.demo_site.config import MODEL_NAMES
from scrapers.demo_site.generator import GeneratedSite, Listing

THUMB_WIDTHS: tuple[int, ...] = (160, 320, 640)
ROBOTS_TXT = "User-agent: *\nDisallow: /private/\n"
PLACEHOLDER_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

APP_JS = """\
(function () {
  "use strict";
  function reveal(img) {
    if (img.dataset.srcset) { img.srcset = img.dataset.srcset; }
    img.src = img.dataset.src;
    img.classList.remove("lazy");
    img.classList.add("loaded");
  }
  function lazyLoad() {
    var imgs = Array.prototype.slice.call(document.querySelectorAll("img.lazy"));
    if ("IntersectionObserver" in window) {
      var io = new IntersectionObserver(function (entries) {
        entries.forEach(function (e) {
          if (e.isIntersecting) { reveal(e.target); io.unobserve(e.target); }
        });
      });
      imgs.forEach(function (img) { io.observe(img); });
    } else {
      window.addEventListener("scroll", function () {
        imgs.forEach(function (img) {
          if (img.classList.contains("lazy") &&
              img.getBoundingClientRect().top < window.innerHeight) { reveal(img); }
        });
      });
    }
  }
  function card(x) {
    var el = document.createElement("article");
    el.className = "listing-card";
    el.dataset.listingId = x.id;
    el.innerHTML =
      '<a class="listing-link" href="' + x.url + '">' +
      '<img class="thumb lazy" alt="" src="/static/placeholder.gif" data-src="' + x.thumb + '">' +
      '<h2 class="card-title"></h2></a>' +
      '<span class="price"></span> <span class="year"></span> <span class="city"></span> ' +
      '<a class="save" href="/private/saved?listing=' + x.id + '">Save</a> ' +
      '<a class="compare" rel="nofollow" href="/compare?ids=' + x.id + '">Compare</a>';
    el.querySelector(".card-title").textContent = x.title;
    el.querySelector(".price").textContent = x.price_text;
    el.querySelector(".year").textContent = x.year;
    el.querySelector(".city").textContent = x.city;
    return el;
  }
  function search(root) {
    var api = "/api/search" + window.location.search;
    fetch(api, {headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        root.innerHTML = "";
        data.listings.forEach(function (x) { root.appendChild(card(x)); });
        var pager = document.getElementById("pager");
        pager.innerHTML = "";
        if (data.prev) {
          pager.insertAdjacentHTML("beforeend",
                                   '<a class="prev" href="' + data.prev + '">previous</a> ');
        }
        pager.insertAdjacentHTML("beforeend", '<span class="page-info">page ' + data.page +
                                 " of " + data.pages + "</span> ");
        if (data.next) {
          pager.insertAdjacentHTML("beforeend",
                                   '<a class="next" rel="next" href="' + data.next + '">next</a>');
        }
        document.body.dataset.state = "ready";
        lazyLoad();
      })
      .catch(function (err) {
        root.innerHTML = '<p class="error">Could not load listings (' + err.message + ")</p>";
        document.body.dataset.state = "error";
      });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("results");
    if (root) { search(root); } else { document.body.dataset.state = "ready"; lazyLoad(); }
  });
})();
"""

_CSS = """
body{font-family:sans-serif;margin:0 auto;max-width:900px}
.listing-card{display:inline-block;width:260px;margin:8px;vertical-align:top}
.listing-card img{width:240px;height:180px}
.gallery figure{min-height:95vh;margin:0}
.gallery img{max-width:100%;height:auto}
.thumbs li{display:inline-block}
"""


def format_price(price: int) -> str:
    """Return ``price`` in rupees with Indian digit grouping, e.g. ``Rs 4,85,000``."""
    digits = str(price)
    head, tail = digits[:-3], digits[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return "Rs " + ",".join([*groups, tail]) if groups else "Rs " + tail


def _page(title: str, body: str, extra_head: str = "") -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} | CarScout Demo Motors</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{_CSS}</style>{extra_head}"
        '<script src="/static/app.js" defer></script></head><body data-state="loading">'
        '<header><a class="home" href="/">Demo Motors</a> '
        '<a class="offsite" href="http://example.com/car-loans">Car loans</a> '
        '<a class="offsite" href="https://www.example.org/insurance?ref=demo">Insurance</a> '
        '<a class="account" href="/private/account">My account</a></header>'
        f"<main>{body}</main>"
        '<footer><a class="offsite" href="http://example.net/about">About us</a> '
        '<a href="/private/admin">Admin</a></footer></body></html>\n'
    )


def home_page(site: GeneratedSite) -> str:
    """Return the front page: one search link per model."""
    links = "".join(
        f'<li><a class="model-link" href="/search?model={quote(m)}&amp;page=1">'
        f"{escape(MODEL_NAMES[m][0])}</a> ({len(site.listings_for(m))} cars)</li>"
        for m in site.config.models
    )
    return _page("Used cars", f'<h1>Used cars for sale</h1><ul class="models">{links}</ul>')


def search_page(model: str) -> str:
    """Return the search shell for ``model``: no listings until ``app.js`` fetches them."""
    name = escape(MODEL_NAMES[model][0])
    body = (
        f'<h1 class="search-title">Used {name} for sale</h1>'
        '<section id="results" class="results"><p class="loading">Loading listings…</p></section>'
        '<nav id="pager" class="pager"></nav>'
    )
    return _page(f"Used {MODEL_NAMES[model][0]}", body)


def search_json(site: GeneratedSite, model: str, page: int) -> dict[str, object]:
    """Return one page of search results for ``model`` as the ``/api/search`` JSON body."""
    listings = site.listings_for(model)
    size = site.config.page_size
    pages = max(1, -(-len(listings) // size))
    chunk = listings[(page - 1) * size : page * size]

    def url(n: int) -> str:
        return f"/search?model={quote(model)}&page={n}"

    return {
        "model": model,
        "page": page,
        "pages": pages,
        "total": len(listings),
        "next": url(page + 1) if page < pages else None,
        "prev": url(page - 1) if page > 1 else None,
        "listings": [
            {
                "id": x.listing_id,
                "url": f"/listing/{x.listing_id}",
                "title": x.title,
                "price": x.price,
                "price_text": format_price(x.price),
                "year": x.year,
                "city": x.city,
                "thumb": f"/photos/{x.photo_ids[0]}/thumb-320.jpg",
            }
            for x in chunk
        ],
    }


def srcset(photo_id: str, width: int) -> str:
    """Return the ``srcset`` of a photo: each thumbnail narrower than it, then the full image."""
    parts = [f"/photos/{photo_id}/thumb-{w}.jpg {w}w" for w in THUMB_WIDTHS if w < width]
    return ", ".join([*parts, f"/photos/{photo_id}.jpg {width}w"])


def listing_page(site: GeneratedSite, listing: Listing) -> str:
    """Return a listing page: fields in stable markup and a lazily loaded photo gallery."""
    figures = []
    thumbs = []
    for n, pid in enumerate(listing.photo_ids, 1):
        f = site.photos[pid]
        figures.append(
            f'<figure class="photo"><a class="full" href="/photos/{pid}.jpg">'
            f'<img class="gallery-photo lazy" loading="lazy" src="/static/placeholder.gif" '
            f'data-src="/photos/{pid}.jpg" data-srcset="{srcset(pid, f.width)}" '
            f'sizes="(max-width: 900px) 100vw, 900px" width="{f.width}" height="{f.height}" '
            f'alt="{escape(listing.title)} photo {n}"></a></figure>'
        )
        thumbs.append(
            f'<li><img class="thumbnail" src="/photos/{pid}/thumb-160.jpg" '
            f'data-full="/photos/{pid}.jpg" alt="thumbnail {n}"></li>'
        )
    lid = listing.listing_id
    share = quote(f"http://demo-motors.example/listing/{lid}", safe="")
    body = (
        f'<article class="listing" data-listing-id="{lid}" data-model="{listing.model}">'
        f'<h1 class="title">{escape(listing.title)}</h1>'
        f'<p class="facts"><span class="price">{format_price(listing.price)}</span> · '
        f'<span class="year">{listing.year}</span> · '
        f'<span class="city">{escape(listing.city)}</span>'
        f' · <span class="model">{escape(MODEL_NAMES[listing.model][0])}</span></p>'
        f'<ul class="thumbs">{"".join(thumbs)}</ul>'
        f'<div class="gallery">{"".join(figures)}</div>'
        f'<p class="links"><a class="back" href="/search?model={quote(listing.model)}&amp;page=1">'
        "Back to results</a> "
        f'<a class="seller" href="/private/seller/{lid}">Contact seller</a> '
        f'<a class="compare" rel="nofollow" href="/compare?ids={lid}">Compare</a> '
        f'<a class="offsite share" href="https://www.facebook.com/sharer.php?u={share}">Share</a> '
        f'<a class="offsite" href="http://example.com/loans?listing={lid}">Finance this car</a>'
        "</p></article>"
    )
    return _page(listing.title, body)


def compare_page(site: GeneratedSite, ids: list[str]) -> str:
    """Return a comparison page that links to ever longer comparisons (a crawler trap)."""
    rows = "".join(
        f"<li>{escape(x.title)}</li>" for x in (site.listing(i) for i in ids) if x is not None
    )
    more = "".join(
        f'<li><a rel="nofollow" href="/compare?ids={",".join([*ids, x.listing_id])}">'
        f"add {escape(x.title)}</a></li>"
        for x in site.listings[:5]
    )
    body = f'<h1>Compare cars</h1><ul class="compared">{rows}</ul><ul class="add">{more}</ul>'
    return _page("Compare", body, '<meta name="robots" content="noindex,nofollow">')


def private_page(path: str) -> str:
    """Return the page behind a robots-disallowed path (a scraper should never see it)."""
    return _page("Members only", f"<h1>Members only</h1><p>{escape(path)}</p>")


def error_page(status: int, message: str) -> str:
    """Return a small HTML error page."""
    return _page(f"Error {status}", f'<h1 class="error">{status}</h1><p>{escape(message)}</p>')
