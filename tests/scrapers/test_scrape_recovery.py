"""Scrapes that recover from spec mistakes and passing failures (issue 17, scraping), against a
small plain-HTML marketplace on 127.0.0.1 whose answers each test switches."""

from __future__ import annotations

import functools
import io
import os
import subprocess
import sys
import tomllib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from pipeline import schema as t
from pipeline.catalog import record_failure, start_run
from pipeline.errors import ConfigError
from pipeline.workspace import Workspace
from scrapers.crawl import scrape
from scrapers.extract import parse_listing
from scrapers.spec import parse_spec
from scrapers.spec_model import SiteSpec
from tests.http_site import Reply, serving

ROOT = Path(__file__).parents[2]
CARSCOUT = [sys.executable, "-c", "from cli.app import main; main()"]


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    colour = (seed % 256, seed // 256 % 256, seed // 65536 % 256)
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
    return buf.getvalue()


@dataclass
class Market:
    """The marketplace's content and switches; ``hits`` counts requests by path."""

    base: str = ""
    # listing id -> (title, photo names); a photo name is served at /img/<name>.jpg
    listings: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)  # paths answered with 503 for now
    gone: set[str] = field(default_factory=set)  # paths answered with 404
    link_markup: str = '<a class="ad" href="/car/{id}">{title}</a>'
    hits: dict[str, int] = field(default_factory=dict)

    def hit(self, path: str) -> int:
        return self.hits.get(path, 0)


def _answer(market: Market, path: str) -> Reply:
    """Answer ``path`` from ``market``'s content and switches, counting it in ``market.hits``."""
    market.hits[path] = market.hit(path) + 1
    if path in market.down:
        return Reply(503, b"busy")
    if path in market.gone:
        return Reply(404, b"gone")
    if path.startswith("/search"):
        cards = ""
        if path.endswith("page=1"):
            cards = "".join(
                market.link_markup.format(id=key, title=title)
                for key, (title, _) in market.listings.items()
            )
        return Reply(200, f"<html><body>{cards}</body></html>".encode())
    if path.startswith("/car/") and path[5:] in market.listings:
        title, photos = market.listings[path[5:]]
        imgs = "".join(f'<img src="/img/{name}.jpg">' for name in photos)
        html = (
            f'<h1 class="title">{title}</h1><span class="price">Rs 4,85,000</span>'
            f'<div class="gallery">{imgs}</div>'
        )
        return Reply(200, html.encode())
    if path.startswith("/img/"):
        return Reply(200, _jpeg(zlib.crc32(path.encode())), "image/jpeg")
    return Reply(404, b"no such page")


@pytest.fixture
def market() -> Iterator[Market]:
    """A running marketplace with two listings: one of three photos, one of one."""
    state = Market(listings={"1": ("Swift VXi", ["a1", "a2", "a3"]), "2": ("Swift LXi", ["b1"])})
    with serving(functools.partial(_answer, state)) as base:
        state.base = base
        yield state


def spec_data(**changes: Any) -> dict[str, Any]:
    """Return a static spec for the marketplace; ``changes`` maps "table.key" to a value."""
    data: dict[str, Any] = {
        "name": "testmart",
        "render": "static",
        "start": {"url": "{base_url}/search?model={model}&page={page}"},
        "search": {"listing_links": "a.ad"},
        "listing": {"title": "h1.title", "price": ".price"},
        "photos": {"selector": ".gallery img", "attributes": ["src"]},
        "politeness": {"delay_seconds": 0.0, "obey_robots": False},
        "download": {"retries": 0, "backoff_seconds": 0.0, "workers": 2, "read_timeout": 5},
    }
    for key, value in changes.items():
        table, name = key.split(".")
        data[table][name] = value
    return data


def make_spec(market: Market, **changes: Any) -> SiteSpec:
    return parse_spec(spec_data(**changes), source="testmart.toml").with_base_url(market.base)


def _listings(ws: Workspace) -> dict[str, Any]:
    with ws.catalog.reading() as conn:
        rows = conn.execute(sa.select(t.listings)).all()
    return {row.url.rsplit("/", 1)[1]: row for row in rows}


def _stored_urls(ws: Workspace) -> set[str]:
    with ws.catalog.reading() as conn:
        urls = conn.execute(sa.select(t.image_sources.c.source_url)).scalars()
        return {url.rsplit("/", 1)[1] for url in urls}


def test_a_spec_mistake_is_retried_a_bounded_number_of_times_then_fixed(
    market: Market, workspace: Workspace
) -> None:
    wrong = make_spec(market, **{"photos.selector": ".gallery picture"})
    first = scrape(workspace, wrong, ["swift"], max_attempts=2)
    rows = _listings(workspace)
    assert first.labels["swift"].listings_visited == 2
    assert first.failures == {"no_photos": 2}
    assert all(row.completed_at is None and row.attempts == 1 for row in rows.values())
    assert all(row.spec_fingerprint == wrong.fingerprint() for row in rows.values())
    # A selector that found nothing on most listings is a warning naming it and a URL.
    assert any(
        "photos.selector '.gallery picture' found no photo on 2 of 2 listings" in w
        and f"{market.base}/car/" in w
        for w in first.warnings
    )

    second = scrape(workspace, wrong, ["swift"], max_attempts=2)
    assert second.labels["swift"].listings_visited == 2  # not "skipped (done before)"
    third = scrape(workspace, wrong, ["swift"], max_attempts=2)
    assert third.labels["swift"].listings_given_up == 2  # the bound on attempts
    assert market.hit("/car/1") == 2

    fixed = make_spec(market)
    fourth = scrape(workspace, fixed, ["swift"], max_attempts=2)
    rows = _listings(workspace)
    assert fourth.labels["swift"].listings_visited == 2
    assert fourth.total("photos_stored") == 4
    assert fourth.warnings == []
    assert all(row.completed_at is not None for row in rows.values())
    assert all(row.spec_fingerprint == fixed.fingerprint() for row in rows.values())


def test_a_changed_spec_revisits_completed_listings_left_without_fields(
    market: Market, workspace: Workspace
) -> None:
    wrong_title = make_spec(market, **{"listing.title": "h1.headline"})
    first = scrape(workspace, wrong_title, ["swift"])
    assert {row.title for row in _listings(workspace).values()} == {None}
    assert all(row.completed_at is not None for row in _listings(workspace).values())
    assert any("listing.title 'h1.headline' matched nothing on 2 of 2" in w for w in first.warnings)
    with workspace.catalog.reading() as conn:
        kept = conn.execute(sa.select(t.runs.c.summary).where(t.runs.c.id == first.run_id))
        assert kept.scalar_one()["warnings"] == first.warnings

    assert scrape(workspace, wrong_title, ["swift"]).labels["swift"].listings_skipped == 2
    photo_hits = market.hit("/img/a1.jpg")
    fixed = scrape(workspace, make_spec(market), ["swift"])
    assert fixed.labels["swift"].listings_visited == 2
    assert {row.title for row in _listings(workspace).values()} == {"Swift VXi", "Swift LXi"}
    assert market.hit("/img/a1.jpg") == photo_hits  # stored photos are not fetched again
    assert fixed.labels["swift"].photos_already_had == 4


def test_passing_failures_are_retried_and_final_ones_only_on_request(
    market: Market, workspace: Workspace
) -> None:
    market.down = {"/img/a2.jpg", "/car/2"}
    market.gone = {"/img/a3.jpg"}
    spec = make_spec(market)
    first = scrape(workspace, spec, ["swift"])
    rows = _listings(workspace)
    assert first.failures == {"http_503": 2, "http_404": 1}
    assert rows["1"].completed_at is None  # a2 failed for a while: not complete
    assert rows["2"].completed_at is None and rows["2"].attempts == 1  # its page failed
    assert first.labels["swift"].listings_incomplete == 2

    market.down = set()
    second = scrape(workspace, spec, ["swift"])
    rows = _listings(workspace)
    assert _stored_urls(workspace) == {"a1.jpg", "a2.jpg", "b1.jpg"}
    assert all(row.completed_at is not None for row in rows.values())
    assert rows["1"].photos_failed == 1
    assert market.hit("/img/a3.jpg") == 1  # a 404 is final: not asked again
    assert second.labels["swift"].photos_failed_before == 1

    assert scrape(workspace, spec, ["swift"]).labels["swift"].listings_skipped == 2
    market.gone = set()
    again = scrape(workspace, spec, ["swift"], retry_failed=True)
    assert market.hit("/img/a3.jpg") == 2
    assert again.total("photos_stored") == 1
    assert _listings(workspace)["1"].photos_failed == 0


def test_revisit_reads_completed_listings_again(market: Market, workspace: Workspace) -> None:
    spec = make_spec(market)
    scrape(workspace, spec, ["swift"])
    market.listings["1"] = ("Swift VXi (price cut)", ["a1", "a2", "a3", "a4"])
    assert scrape(workspace, spec, ["swift"]).total("photos_stored") == 0
    revisited = scrape(workspace, spec, ["swift"], revisit=True)
    assert revisited.labels["swift"].listings_visited == 2
    assert revisited.total("photos_stored") == 1
    assert revisited.labels["swift"].photos_already_had == 4
    assert _listings(workspace)["1"].title == "Swift VXi (price cut)"
    assert market.hit("/img/a1.jpg") == 1


def test_no_listing_link_is_a_warning_and_a_failing_exit(
    market: Market, workspace: Workspace, tmp_path: Path
) -> None:
    typo = make_spec(market, **{"search.listing_links": "a.add"})
    summary = scrape(workspace, typo, ["swift"])
    search_url = f"{market.base}/search?model=swift&page=1"
    assert summary.warnings == [
        f"swift: search.listing_links 'a.add' matched nothing on {search_url}; fix the selector"
    ]
    assert summary.status == "no_listings"
    with workspace.catalog.reading() as conn:
        assert conn.execute(sa.select(t.runs.c.status)).scalar_one() == "no_listings"

    path = tmp_path / "typo.toml"
    path.write_text(_toml(spec_data(**{"search.listing_links": "a.add"})))
    result = subprocess.run(
        [*CARSCOUT, "--home", str(tmp_path / "cli-home"), "scrape", "--site", str(path)]
        + ["--base-url", market.base, "--labels", "swift"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "search.listing_links 'a.add' matched nothing" in output
    assert "no listing found for swift" in output
    assert "Traceback" not in output


def test_listing_links_in_another_attribute(market: Market, workspace: Workspace) -> None:
    market.link_markup = '<article class="ad" data-href="/car/{id}">{title}</article>'
    plain = scrape(
        workspace, make_spec(market, **{"search.listing_links": "article.ad"}), ["swift"]
    )
    assert plain.labels["swift"].listings_found == 0
    assert "none has a link in 'href'; set search.link_attribute" in plain.warnings[0]
    spec = make_spec(
        market, **{"search.listing_links": "article.ad", "search.link_attribute": "data-href"}
    )
    found = scrape(workspace, spec, ["swift"])
    assert found.labels["swift"].listings_visited == 2
    assert found.total("photos_stored") == 4


def test_dead_runs_are_marked_interrupted_and_live_ones_kept(
    market: Market, workspace: Workspace
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with workspace.catalog.atomic() as conn:
        dead = start_run(conn, "scrape", {"pid": gone.pid})
        legacy = start_run(conn, "scrape", {"site": "demo-motors"})  # written before pids
        alive = start_run(conn, "scrape", {"pid": os.getpid()})
        other = start_run(conn, "import", {"pid": gone.pid})
    summary = scrape(workspace, make_spec(market), ["swift"])
    assert summary.runs_marked_interrupted == [dead, legacy]
    with workspace.catalog.reading() as conn:
        status = dict(conn.execute(sa.select(t.runs.c.id, t.runs.c.status)).all())
    assert status == {
        dead: "interrupted",
        legacy: "interrupted",
        alive: "running",
        other: "running",
        summary.run_id: "ok",
    }


JSONLD_LISTING = """
<html><head>
<script type="application/ld+json">{"@type": "BreadcrumbList", "name": "Home > Cars"}</script>
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebPage", "name": "Used cars"},
  {"@type": "Car", "name": "2017 Maruti Swift VXi", "vehicleModelDate": "2017",
   "offers": {"@type": "Offer", "price": 485000, "priceCurrency": "INR"},
   "image": ["/media/1.jpg", {"@type": "ImageObject", "contentUrl": "https://img.test/2.jpg"}]}
]}
</script>
<script type="application/ld+json">{ not json</script>
</head><body><h1>Swift</h1></body></html>
"""


def test_fields_and_photos_from_json_ld() -> None:
    data = spec_data(
        **{
            "listing.title": "jsonld:Car:name",
            "listing.price": "jsonld:offers.price",
            "listing.year": "jsonld:Car:vehicleModelDate",
            "listing.location": "jsonld:Car:address.addressLocality",
        }
    )
    data["photos"] = {"jsonld": "Car:image"}
    spec = parse_spec(data).with_base_url("https://cars.test")
    page = parse_listing(JSONLD_LISTING, "https://cars.test/car/1", spec)
    assert (page.title, page.price, page.year, page.location) == (
        "2017 Maruti Swift VXi",
        485000,
        2017,
        None,
    )
    assert page.photo_urls == ["https://cars.test/media/1.jpg", "https://img.test/2.jpg"]
    assert page.unmatched == ("location",)
    data["listing"]["title"] = "jsonld:a..b"
    data["photos"] = {"attributes": ["src"]}
    with pytest.raises(ConfigError) as caught:
        parse_spec(data, source="ld.toml")
    assert "listing.title: 'jsonld:a..b' is not a JSON-LD path" in str(caught.value)
    assert "photos.selector: missing" in str(caught.value)
    assert "or give photos.jsonld" in str(caught.value)


def test_page_placeholder_is_only_needed_without_next_page() -> None:
    data = spec_data(**{"start.url": "{base_url}/used/{model}", "search.next_page": "a.next"})
    spec = parse_spec(data).with_base_url("https://cars.test")
    assert spec.start_url_for("swift", 1) == "https://cars.test/used/swift"
    del data["search"]["next_page"]
    with pytest.raises(ConfigError, match=r"needs a \{page\} placeholder .*search\.next_page"):
        parse_spec(data)


def test_spec_errors_keep_their_brackets_on_the_terminal(tmp_path: Path) -> None:
    data = spec_data()
    del data["listing"]
    path = tmp_path / "nolisting.toml"
    path.write_text(_toml(data))
    result = subprocess.run(
        [*CARSCOUT, "--home", str(tmp_path / "home"), "scrape", "--site", str(path)]
        + ["--base-url", "http://127.0.0.1:9", "--labels", "swift"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 1
    assert "listing: missing; add a [listing] table" in result.stderr


def test_status_lists_failures_with_their_targets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Workspace.open(home=home) as ws, ws.catalog.atomic() as conn:
        record_failure(
            conn,
            stage="scrape",
            target="http://cars.test/img/[1].jpg",
            reason="http_404",
            detail="Not Found",
        )
        record_failure(conn, stage="import", target="/photos/x.jpg", reason="not_an_image")
    runner = CliRunner()
    counts = runner.invoke(app, ["--home", str(home), "status", "--failures"])
    assert "http://cars.test" not in counts.output
    listed = runner.invoke(
        app, ["--home", str(home), "status", "--failures", "--list"], env={"COLUMNS": "200"}
    )
    assert listed.exit_code == 0, listed.output
    assert "http://cars.test/img/[1].jpg" in listed.output
    assert "Not Found" in listed.output and "/photos/x.jpg" in listed.output
    only = runner.invoke(
        app,
        ["--home", str(home), "status", "--failures", "--list", "--reason", "not_an_image"],
        env={"COLUMNS": "200"},
    )
    assert "/photos/x.jpg" in only.output and "cars.test" not in only.output


def _toml(data: dict[str, Any]) -> str:
    """Return ``data`` (strings, numbers, booleans and tables of them) as TOML text."""
    lines: list[str] = []
    tables = {key: value for key, value in data.items() if isinstance(value, dict)}
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_value(value)}")
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_value(value)}" for key, value in table.items())
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == data
    return text


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return repr(value)


def test_an_unexpected_error_on_one_photo_is_its_failure_not_the_runs_end(
    market: Market, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scrapers.fetch import Fetcher

    real_get = Fetcher.get

    def get_with_a_bug(self: Fetcher, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.endswith("/img/a2.jpg"):
            raise RuntimeError("a bug in the fetcher")
        return real_get(self, url, *args, **kwargs)

    monkeypatch.setattr(Fetcher, "get", get_with_a_bug)
    summary = scrape(workspace, make_spec(market), ["swift"])
    assert summary.failures == {"internal_error": 1}
    assert _stored_urls(workspace) == {"a1.jpg", "a3.jpg", "b1.jpg"}
    assert _listings(workspace)["1"].completed_at is None  # tried again by the next run
    with workspace.catalog.reading() as conn:
        detail = conn.execute(
            sa.select(t.failures.c.detail).where(t.failures.c.reason == "internal_error")
        ).scalar_one()
    assert "RuntimeError: a bug in the fetcher" in detail

    monkeypatch.setattr(Fetcher, "get", real_get)
    scrape(workspace, make_spec(market), ["swift"])
    assert _stored_urls(workspace) == {"a1.jpg", "a2.jpg", "a3.jpg", "b1.jpg"}
