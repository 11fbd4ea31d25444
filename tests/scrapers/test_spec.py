"""Site specs: the shipped demo spec, YAML, the worked example of docs/scrape.md, field errors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from pipeline.errors import ConfigError
from scrapers.spec import load_spec, parse_spec, shipped_spec_path

SCRAPE_DOCS = Path(__file__).parents[2] / "docs" / "scrape.md"


def _demo_data() -> dict:
    return tomllib.loads(shipped_spec_path("demo").read_text())


def test_demo_spec_resolves_on_any_port() -> None:
    spec = load_spec("demo", base_url="http://127.0.0.1:8123/")
    assert spec.render == "browser"
    assert spec.start_url_for("swift", 2) == "http://127.0.0.1:8123/search?model=swift&page=2"
    assert spec.resolved_domains() == ("127.0.0.1",)
    assert spec.photos.attributes == ("data-src", "srcset", "src")


def test_search_terms_are_url_quoted_and_labels_may_override_urls() -> None:
    data = _demo_data()
    data["start"]["labels"] = {
        "wagon r": "wagon r",
        "swift": {"model": "swift-dzire", "url": "https://cars.test/s/{model}/{page}"},
    }
    spec = parse_spec(data).with_base_url("https://cars.test")
    assert spec.start_url_for("wagon r", 1) == "https://cars.test/search?model=wagon%20r&page=1"
    assert spec.start_url_for("swift", 3) == "https://cars.test/s/swift-dzire/3"
    assert spec.start_url_for("alto", 1).endswith("model=alto&page=1")  # label is the term


def test_missing_base_url_says_how_to_fix() -> None:
    spec = load_spec("demo")
    with pytest.raises(ConfigError, match="--base-url"):
        spec.start_url_for("swift", 1)


def test_every_wrong_field_is_named_with_its_fix() -> None:
    data = _demo_data()
    data["render"] = "phantomjs"
    data["start"]["url"] = "{base_url}/search?model={model}"
    del data["search"]["next_page"]  # without a next-page link, pages need {page}
    data["search"]["listing_links"] = "a[href"
    data["photos"]["attributes"] = ["data-src", "data-original"]
    data["photos"]["full_size"] = [{"pattern": "(unclosed", "replace": "x"}]
    data["download"]["workers"] = 0
    data["politeness"]["delay_seconds"] = "fast"
    data["colour"] = "red"
    with pytest.raises(ConfigError) as caught:
        parse_spec(data, source="bad.toml")
    message = str(caught.value)
    assert "bad.toml has 8 error(s)" in message
    for field_name in (
        "render: must be one of browser, static",
        "start.url: ",
        "{page}",
        "search.listing_links: 'a[href' is not a valid CSS selector",
        "photos.attributes[1]: 'data-original' is not supported",
        "photos.full_size[0].pattern",
        "download.workers: must be an integer >= 1",
        "politeness.delay_seconds: must be a number",
        "colour: unknown field",
    ):
        assert field_name in message


def test_missing_tables_are_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_spec({"name": "x"}, source="empty.toml")
    for table in ("start", "search", "listing", "photos"):
        assert f"{table}: missing; add a [{table}] table" in str(caught.value)


def test_yaml_spec_equals_toml_spec(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(_demo_data()))
    from_yaml = load_spec(path, base_url="http://127.0.0.1:9")
    from_toml = load_spec("demo", base_url="http://127.0.0.1:9")
    assert from_yaml.photos == from_toml.photos
    assert from_yaml.search == from_toml.search
    assert from_yaml.start_url_for("wagonr", 1) == from_toml.start_url_for("wagonr", 1)


def test_unreadable_specs_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="shipped name"):
        load_spec(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_spec(broken)


def test_docs_worked_example_is_a_valid_spec() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", SCRAPE_DOCS.read_text(), flags=re.S)
    specs = [block for block in blocks if "[start]" in block]
    assert len(specs) == 1, "docs/scrape.md must hold one TOML worked example of a site spec"
    spec = parse_spec(tomllib.loads(specs[0]), source="docs/scrape.md")
    assert spec.render == "static"
    assert spec.start_url_for("swift", 2).startswith("https://")


def test_listing_render_is_validated() -> None:
    data = tomllib.loads(shipped_spec_path("demo").read_text())
    data["listing"]["render"] = "magic"
    with pytest.raises(ConfigError, match="listing.render: must be one of browser, static"):
        parse_spec(data)
    data["listing"]["render"] = "browser"
    data["render"] = "static"
    with pytest.raises(ConfigError, match="listing.render: 'browser' needs render = 'browser'"):
        parse_spec(data)
