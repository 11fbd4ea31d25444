"""The scraper end to end against the demo marketplace, in real headless Chromium."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from pipeline import schema as t
from pipeline.workspace import Workspace
from scrapers.crawl import scrape
from scrapers.demo_site import FaultConfig
from scrapers.spec import load_spec
from scrapers.spec_model import SiteSpec

# What each permanent photo fault must be recorded as.
EXPECTED_REASON = {
    "missing_photo": "http_404",
    "redirect_loop": "too_many_redirects",
    "html_as_jpeg": "not_an_image",
    "huge_image": "too_many_pixels",
    "truncated_jpeg": "truncated_or_corrupt",
}


def fast_spec(base_url: str, **download: object) -> SiteSpec:
    """Return the shipped demo spec with polite delays near zero (test sites are tiny)."""
    spec = load_spec("demo", base_url=base_url)
    return dataclasses.replace(
        spec,
        politeness=dataclasses.replace(spec.politeness, delay_seconds=0.0),
        download=dataclasses.replace(spec.download, backoff_seconds=0.05, **download),
    )


def _catalog_rows(ws: Workspace) -> dict[str, set]:
    with ws.catalog.reading() as conn:
        listings = set(conn.execute(sa.select(t.listings.c.url, t.listings.c.label)).all())
        sources = set(
            conn.execute(
                sa.select(
                    t.image_sources.c.source_url,
                    t.image_sources.c.label,
                    t.images.c.sha256,
                    t.listings.c.url,
                )
                .join(t.images, t.images.c.id == t.image_sources.c.image_id)
                .join(t.listings, t.listings.c.id == t.image_sources.c.listing_id)
            ).all()
        )
        shas = set(conn.execute(sa.select(t.images.c.sha256)).scalars())
    return {"listings": listings, "sources": sources, "shas": shas}


@pytest.mark.parametrize("listing_render", ["static", "browser"])
def test_small_site_is_scraped_completely_then_nothing_is_fetched_again(
    demo_site, tmp_path: Path, listing_render: str
) -> None:
    site = demo_site.generated
    spec = fast_spec(demo_site.base_url)
    # The shipped spec reads listing pages with requests; the browser path (with scrolling
    # through the lazy gallery) must find exactly the same.
    spec = dataclasses.replace(
        spec, listing=dataclasses.replace(spec.listing, render=listing_render, scroll=True)
    )
    with Workspace.open(home=tmp_path / "home") as ws:
        summary = scrape(ws, spec, ["swift", "wagonr"], workers=4)
        rows = _catalog_rows(ws)
        with ws.catalog.reading() as conn:
            listing_rows = conn.execute(sa.select(t.listings)).all()
            images = conn.execute(sa.select(t.images)).all()
            runs = conn.execute(sa.select(t.runs)).all()

        base = demo_site.base_url
        expected_sources = {
            (
                f"{base}/photos/{pid}.jpg",
                listing.model,
                site.photos[pid].sha256,
                f"{base}/listing/{listing.listing_id}",
            )
            for listing in site.listings
            for pid in listing.photo_ids
        }
        assert rows["sources"] == expected_sources
        assert rows["listings"] == {
            (f"{base}/listing/{x.listing_id}", x.model) for x in site.listings
        }
        by_url = {row.url: row for row in listing_rows}
        for listing in site.listings:
            row = by_url[f"{base}/listing/{listing.listing_id}"]
            assert (row.title, row.price, row.year, row.location) == (
                listing.title,
                listing.price,
                listing.year,
                listing.city,
            )
            assert row.completed_at is not None
        for image in images:  # stored bytes are the served bytes, labelled as listed
            assert image.label == image.label_scraped
            assert ws.store.path(image.store_path).stat().st_size == image.bytes
        assert summary.total("photos_stored") == len(images)
        assert summary.total("photos_stored") + summary.total("photos_known") == len(
            expected_sources
        )
        assert summary.failures == {}
        assert [(r.kind, r.status) for r in runs] == [("scrape", "ok")]
        assert runs[0].summary["labels"]["swift"]["listings_visited"] == len(
            site.listings_for("swift")
        )

        demo_site.clear_log()
        again = scrape(ws, spec, ["swift", "wagonr"], workers=4)
        fetched = [path for _, path, _ in demo_site.request_log]
        assert not [p for p in fetched if p.startswith(("/listing/", "/photos/"))]
        assert again.total("photos_stored") == again.total("listings_visited") == 0
        assert again.total("listings_skipped") == len(site.listings)
        assert _catalog_rows(ws) == rows


def test_faults_are_recorded_and_no_corrupt_image_is_stored(
    demo_site_factory, tmp_path: Path
) -> None:
    faults = FaultConfig(
        server_error=0.15,
        rate_limit=0.05,
        retry_after_s=1,
        truncated_jpeg=0.1,
        html_as_jpeg=0.1,
        huge_image=0.1,
        missing_photo=0.1,
        redirect_loop=0.1,
        seed=3,
    )
    demo = demo_site_factory(faults=faults)
    site = demo.generated
    spec = fast_spec(demo.base_url)
    faulty = {pid: demo.photo_fault(pid) for pid in site.photos if demo.photo_fault(pid)}
    assert set(faulty.values()) == set(EXPECTED_REASON)  # the seed exercises every fault
    with Workspace.open(home=tmp_path / "home") as ws:
        summary = scrape(ws, spec, ["swift", "wagonr"], workers=4)
        with ws.catalog.reading() as conn:
            failures = {
                (row.target, row.reason)
                for row in conn.execute(sa.select(t.failures.c.target, t.failures.c.reason))
            }
            images = conn.execute(sa.select(t.images)).all()
            stored_urls = set(conn.execute(sa.select(t.image_sources.c.source_url)).scalars())
            incomplete = conn.execute(
                sa.select(sa.func.count()).where(t.listings.c.completed_at.is_(None))
            ).scalar_one()
        base = demo.base_url
        expected_failures = {
            (f"{base}/photos/{pid}.jpg", EXPECTED_REASON[fault]) for pid, fault in faulty.items()
        }
        assert failures == expected_failures  # transient 500/429s were retried away
        assert stored_urls == {f"{base}/photos/{pid}.jpg" for pid in site.photos} - {
            f"{base}/photos/{pid}.jpg" for pid in faulty
        }
        good_shas = {f.sha256 for f in site.photos.values()}
        for image in images:
            assert image.sha256 in good_shas
            with Image.open(ws.store.path(image.store_path)) as img:
                img.load()
        assert incomplete == 0
        assert summary.status == "ok"
        assert sum(summary.failures.values()) == len(faulty)
        assert summary.total("photos_failed") == len(faulty)


def test_robots_disallowed_and_offsite_links_are_never_requested(demo_site, tmp_path: Path) -> None:
    spec = fast_spec(demo_site.base_url)
    # A careless selector that also matches "Save", account, off-site and admin links.
    greedy = dataclasses.replace(
        spec.search, listing_links="a.listing-link, a.save, a.offsite, a.account, footer a"
    )
    spec = dataclasses.replace(spec, search=greedy)
    with Workspace.open(home=tmp_path / "home") as ws:
        summary = scrape(ws, spec, ["swift"], max_listings=2, max_pages=1)
        with ws.catalog.reading() as conn:
            reasons = {
                row.target: row.reason
                for row in conn.execute(sa.select(t.failures.c.target, t.failures.c.reason))
            }
    paths = [path for _, path, _ in demo_site.request_log]
    assert paths, "the scraper reached the demo site"
    assert not [p for p in paths if p.startswith(("/private/", "/compare"))]
    assert reasons["http://example.com/car-loans"] == "offsite"
    assert reasons[f"{demo_site.base_url}/private/admin"] == "robots_disallowed"
    assert summary.labels["swift"].listings_visited == 2
    assert len([p for p in paths if p.startswith("/listing/")]) == 2
