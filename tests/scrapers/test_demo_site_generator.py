"""The demo site's generator: deterministic content, honest ground truth, real reposts."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import imagehash
import pytest
from PIL import Image

from pipeline.errors import ConfigError
from scrapers.demo_site import GeneratedSite, SiteConfig, generate_site, plan_site
from scrapers.demo_site.photos import REPOST_KINDS


def test_default_plan_leaves_2000_clean_photos_per_model_and_10pc_wrong() -> None:
    plan = plan_site(SiteConfig())
    for model in ("swift", "wagonr"):
        photos = [p for p in plan.photos if p.listed_model == model]
        wrong = [p for p in photos if p.wrong_kind]
        clean_unique = [p for p in photos if not p.wrong_kind and not p.repost_of]
        assert 2200 <= len(photos) <= 2600
        assert 0.08 <= len(wrong) / len(photos) <= 0.12
        assert len(clean_unique) >= 2000
        kinds = Counter(p.wrong_kind for p in wrong)
        assert set(kinds) == {"other_model", "interior", "document", "closeup", "no_car"}
        assert {p.repost_kind for p in photos if p.repost_of} == set(REPOST_KINDS)
        other = [p for p in wrong if p.wrong_kind == "other_model"]
        assert all(p.true_content != model and p.true_content in ("swift", "wagonr") for p in other)


def test_plan_is_deterministic_by_seed() -> None:
    config = SiteConfig(listings_per_model=30)
    assert plan_site(config) == plan_site(config)
    assert plan_site(config) != plan_site(SiteConfig(listings_per_model=30, seed=1))


def test_reposts_point_at_originals_of_other_listings_of_the_same_model() -> None:
    plan = plan_site(SiteConfig(listings_per_model=40))
    by_id = {p.photo_id: p for p in plan.photos}
    reposts = [p for p in plan.photos if p.repost_of]
    assert reposts
    for p in reposts:
        source = by_id[p.repost_of]
        assert not source.repost_of
        assert source.listing_id != p.listing_id
        assert source.listed_model == p.listed_model
        assert (source.true_content, source.wrong_kind) == (p.true_content, p.wrong_kind)


def test_ground_truth_matches_the_files(demo_site_generated: GeneratedSite) -> None:
    site = demo_site_generated
    rows = site.read_ground_truth()
    assert len(rows) == len(site.photos) == sum(len(x.photo_ids) for x in site.listings)
    listing_of = {pid: x.listing_id for x in site.listings for pid in x.photo_ids}
    for row in rows:
        data = site.photo_path(row["photo_id"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        with Image.open(site.photo_path(row["photo_id"])) as img:
            assert img.format == "JPEG"
            assert img.size == (int(row["width"]), int(row["height"]))
        assert listing_of[row["photo_id"]] == row["listing_id"]
        truth_is_model = row["true_content"] in site.config.models
        assert truth_is_model == (row["wrong_kind"] in ("", "other_model"))


def test_reposts_are_transformed_but_perceptually_close(tmp_path: Path) -> None:
    config = SiteConfig.tiny(seed=3, listings_per_model=8, repost_share=0.3)
    site = generate_site(config, tmp_path)
    rows = site.read_ground_truth()
    seen: set[str] = set()

    def phash(photo_id: str) -> imagehash.ImageHash:
        with Image.open(site.photo_path(photo_id)) as img:
            return imagehash.phash(img)

    for row in (r for r in rows if r["repost_of"]):
        kind, source = row["repost_kind"], row["repost_of"]
        seen.add(kind)
        same_bytes = site.photos[source].sha256 == row["sha256"]
        assert same_bytes == (kind == "identical")
        assert phash(row["photo_id"]) - phash(source) <= 10, kind
        if kind == "cropped":
            src = site.photos[source]
            assert 0.94 <= row_w(row) / src.width < 1 and 0.94 <= row_h(row) / src.height < 1
    assert seen == set(REPOST_KINDS)
    originals = [r["photo_id"] for r in rows if not r["repost_of"]]
    distances = [phash(a) - phash(b) for a, b in zip(originals, originals[1:], strict=False)]
    assert min(distances) > 10


def row_w(row: dict[str, str]) -> int:
    return int(row["width"])


def row_h(row: dict[str, str]) -> int:
    return int(row["height"])


def test_generation_is_deterministic_and_cached(tmp_path: Path) -> None:
    config = SiteConfig.tiny(seed=11, listings_per_model=2)
    first = generate_site(config, tmp_path / "a")
    second = generate_site(config, tmp_path / "b")
    assert not first.from_cache and not second.from_cache
    assert first.ground_truth_path.read_bytes() == second.ground_truth_path.read_bytes()
    again = generate_site(config, tmp_path / "a")
    assert again.from_cache and again.root == first.root
    assert again.photos == first.photos
    other = generate_site(SiteConfig.tiny(seed=12, listings_per_model=2), tmp_path / "a")
    assert other.root != first.root


def test_faults_do_not_change_the_cache_key() -> None:
    from scrapers.demo_site import FaultConfig

    noisy = SiteConfig.tiny(faults=FaultConfig.preset_all())
    assert noisy.content_key() == SiteConfig.tiny().content_key()


def test_default_photo_sizes_are_like_listing_photos() -> None:
    plan = plan_site(SiteConfig(listings_per_model=20))
    sizes = {(p.width, p.height) for p in plan.photos}
    assert all(640 <= w <= 1280 and 480 <= h <= 960 for w, h in sizes)
    assert len(sizes) > 10


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"models": ("swift", "beetle")}, "choose from"),
        ({"models": ("swift", "swift")}, "once"),
        ({"photos_per_listing": (3, 1)}, "photos_per_listing"),
        ({"wrong_share": 0.7}, "wrong_share"),
        ({"image_size": ((640, 480), (4000, 3000))}, "image_size"),
    ],
)
def test_bad_configs_say_how_to_fix_them(overrides: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        SiteConfig(**overrides)


def test_more_models_can_be_drawn(tmp_path: Path) -> None:
    config = SiteConfig.tiny(
        models=("swift", "wagonr", "sedan", "suv", "pickup"), listings_per_model=1
    )
    site = generate_site(config, tmp_path)
    assert {x.model for x in site.listings} == set(config.models)
