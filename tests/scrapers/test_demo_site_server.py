"""The demo site over plain HTTP: what a non-browser client sees, faults, and the CLI."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
import requests
from bs4 import BeautifulSoup
from PIL import Image
from typer.testing import CliRunner

from pipeline.errors import ConfigError
from scrapers.demo_site import DemoSite, FaultConfig, GeneratedSite, SiteConfig


def test_plain_fetch_of_a_search_page_sees_no_listings(demo_site: DemoSite) -> None:
    html = requests.get(f"{demo_site.base_url}/search?model=swift&page=1", timeout=5).text
    soup = BeautifulSoup(html, "html.parser")
    assert soup.select(".listing-card") == []
    assert not soup.find_all("a", href=re.compile(r"^/listing/"))
    assert soup.select_one("#results") is not None


def test_api_pages_cover_every_listing_once(demo_site: DemoSite) -> None:
    site = demo_site.generated
    for model in site.config.models:
        url, found = f"/api/search?model={model}&page=1", []
        pages = 0
        while url:
            data = requests.get(demo_site.base_url + url, timeout=5).json()
            found += [x["id"] for x in data["listings"]]
            url = data["next"] and data["next"].replace("/search", "/api/search")
            pages += 1
        assert found == [x.listing_id for x in site.listings_for(model)]
        assert pages == -(-len(found) // site.config.page_size) > 1


def test_listing_page_has_fields_and_lazy_gallery(demo_site: DemoSite) -> None:
    listing = demo_site.generated.listings[0]
    html = requests.get(f"{demo_site.base_url}/listing/{listing.listing_id}", timeout=5).text
    soup = BeautifulSoup(html, "html.parser")
    assert soup.select_one("h1.title").get_text() == listing.title
    assert soup.select_one("span.year").get_text() == str(listing.year)
    assert soup.select_one("span.city").get_text() == listing.city
    assert soup.select_one("span.price").get_text().replace(",", "").endswith(str(listing.price))
    gallery = soup.select("img.gallery-photo")
    assert [img["data-src"] for img in gallery] == [f"/photos/{p}.jpg" for p in listing.photo_ids]
    for img in gallery:
        assert img["src"] == "/static/placeholder.gif"
        widths = [part.split()[-1] for part in img["data-srcset"].split(",")]
        assert len(widths) >= 2 and img["data-srcset"].endswith(
            f"{img['data-src']} {img['width']}w"
        )
    thumbs = [img["src"] for img in soup.select("img.thumbnail")]
    assert thumbs and not set(thumbs) & {img["data-src"] for img in gallery}
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert any(h.startswith("/private/") for h in hrefs)
    assert any(h.startswith("http://example.com") for h in hrefs)
    assert any(h.startswith("/compare") for h in hrefs)


def test_served_photos_match_the_ground_truth(demo_site: DemoSite) -> None:
    site = demo_site.generated
    for row in site.read_ground_truth():
        full = requests.get(f"{demo_site.base_url}/photos/{row['photo_id']}.jpg", timeout=5)
        assert full.headers["Content-Type"] == "image/jpeg"
        assert hashlib.sha256(full.content).hexdigest() == row["sha256"]
    pid = site.listings[0].photo_ids[0]
    thumb = requests.get(f"{demo_site.base_url}/photos/{pid}/thumb-160.jpg", timeout=5)
    assert Image.open(io.BytesIO(thumb.content)).width <= 160


def test_robots_txt_disallows_private(demo_site: DemoSite) -> None:
    text = requests.get(f"{demo_site.base_url}/robots.txt", timeout=5).text
    assert "Disallow: /private/" in text
    assert ("GET", "/robots.txt", 200) in demo_site.request_log


def _site(generated: GeneratedSite, **faults: float) -> DemoSite:
    return DemoSite(generated, faults=FaultConfig(**faults))


def test_transport_faults_fire_then_let_retries_through(demo_site_generated: GeneratedSite) -> None:
    with _site(demo_site_generated, server_error=1.0) as site:
        codes = [requests.get(site.base_url + "/", timeout=5).status_code for _ in range(3)]
        assert codes == [500, 500, 200]
    with _site(demo_site_generated, rate_limit=1.0) as site:
        r = requests.get(site.base_url + "/", timeout=5)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert requests.get(site.base_url + "/robots.txt", timeout=5).status_code == 200
    slow = DemoSite(demo_site_generated, faults=FaultConfig(slow=1.0, slow_delay_s=3))
    with slow as site, pytest.raises(requests.Timeout):
        requests.get(site.base_url + "/", timeout=0.5)


@pytest.mark.parametrize(
    "fault", ["truncated_jpeg", "html_as_jpeg", "huge_image", "missing_photo", "redirect_loop"]
)
def test_photo_faults(demo_site_generated: GeneratedSite, fault: str) -> None:
    pid = demo_site_generated.listings[0].photo_ids[0]
    with _site(demo_site_generated, **{fault: 1.0}) as site:
        assert site.photo_fault(pid) == fault
        url = f"{site.base_url}/photos/{pid}.jpg"
        if fault == "redirect_loop":
            with pytest.raises(requests.TooManyRedirects):
                requests.get(url, timeout=5)
            return
        r = requests.get(url, timeout=5)
        if fault == "missing_photo":
            assert r.status_code == 404
            return
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
        if fault == "html_as_jpeg":
            assert r.content.lstrip().startswith(b"<!doctype html>")
        elif fault == "huge_image":
            with pytest.raises(Image.DecompressionBombError):
                Image.open(io.BytesIO(r.content))
        else:
            with pytest.raises(OSError):
                Image.open(io.BytesIO(r.content)).load()
        thumb = requests.get(f"{site.base_url}/photos/{pid}/thumb-320.jpg", timeout=5)
        assert thumb.status_code == 200


def test_photo_fault_shares_are_roughly_honoured() -> None:
    from scrapers.demo_site.faults import FaultInjector

    injector = FaultInjector(FaultConfig(missing_photo=0.2, truncated_jpeg=0.1))
    faults = [injector.photo_fault(f"{i:012x}") for i in range(2000)]
    assert 0.16 < faults.count("missing_photo") / 2000 < 0.24
    assert 0.07 < faults.count("truncated_jpeg") / 2000 < 0.13


def test_fault_spec_parsing() -> None:
    assert FaultConfig.parse("none") == FaultConfig()
    assert not FaultConfig.parse("none").enabled
    parsed = FaultConfig.parse("all,slow=0,retry_after_s=3")
    assert parsed.slow == 0 and parsed.server_error > 0 and parsed.retry_after_s == 3
    with pytest.raises(ConfigError, match="name one of"):
        FaultConfig.parse("explode=1")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        FaultConfig.parse("server_error=2")


def test_only_loopback_hosts() -> None:
    with pytest.raises(ConfigError, match="127.0.0.1"):
        DemoSite(SiteConfig.tiny(), host="0.0.0.0")


def test_cli_serves_then_stops(demo_site_generated: GeneratedSite, tmp_path: Path) -> None:
    import typer

    from cli.commands import demo_site as command

    app = typer.Typer()
    command.register(app)

    @app.callback()
    def _root() -> None:
        """Root."""

    cache = demo_site_generated.root.parent
    result = CliRunner().invoke(
        app,
        ["demo-site", "--port", "0", "--seed", "7", "--listings-per-model", "5",
         "--image-size", "320x240", "--cache-dir", str(cache), "--serve-seconds", "0.2",
         "--faults", "server_error=0.1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "serving on http://127.0.0.1:" in result.output
    assert "10 listings" in result.output
