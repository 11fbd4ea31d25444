"""The demo site draws for any seed, size range and model list, and says which photo failed.

Issue 22: seeds 1, 2, 4 and 5 crashed in ``paint_closeup`` with a process-pool traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from scrapers.demo_site import GeneratedSite, SiteConfig, generate_site, plan_site
from scrapers.demo_site import generator as generator_module
from scrapers.demo_site.canvas import Canvas, ordered_box
from scrapers.demo_site.cars import BODY_STYLES
from scrapers.demo_site.generator import PhotoRenderError, SitePlan
from scrapers.demo_site.photos import PhotoJob, draw_photo
from scrapers.demo_site.wrong_photos import WRONG_KINDS

ALL_MODELS = tuple(BODY_STYLES)
ALL_KINDS = (*ALL_MODELS, *WRONG_KINDS)
SEEDS = range(50)
PHOTOS_PER_KIND = 6  # extra direct draws of each kind per seed, beyond the planned ones
# Square, landscape, portrait and letterbox ranges down to the 32 px minimum.
SIZE_RANGES = (
    ((32, 32), (160, 120)),
    ((48, 96), (64, 200)),
    ((200, 40), (240, 64)),
    ((96, 72), (128, 96)),
)
# Photos that raised "y1 must be greater than or equal to y0" at the default size.
CRASHED = {
    1: ("2f0a0652a917", "11fe24df71ce"),
    2: ("bce88ed63cd5", "7a6fc692fff1"),
    4: ("bd5e84a69f8a",),
    5: ("4b95e4d31df0", "d75fcf8f41c0"),
}


def _small_config(seed: int) -> SiteConfig:
    """Return a site of every model with many wrong photos and reposts, in small sizes."""
    return SiteConfig(
        seed=seed,
        models=ALL_MODELS,
        listings_per_model=2,
        photos_per_listing=(2, 3),
        wrong_share=0.45,
        repost_share=0.2,
        image_size=SIZE_RANGES[seed % len(SIZE_RANGES)],
    )


def _decoded_size(data: bytes) -> tuple[int, int]:
    """Return the size of the JPEG ``data`` after fully decoding it."""
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        img.load()
        return img.size


def _check_site(site: GeneratedSite) -> None:
    """Assert every photo decodes and its ground-truth row agrees with files and plan."""
    config = site.config
    rows = {row["photo_id"]: row for row in site.read_ground_truth()}
    listing_of = {pid: x.listing_id for x in site.listings for pid in x.photo_ids}
    model_of = {x.listing_id: x.model for x in site.listings}
    on_disk = {p.stem for p in (site.root / "photos").glob("*.jpg")}
    assert set(rows) == set(listing_of) == set(site.photos) == on_disk
    (w0, h0), (w1, h1) = config.image_size
    for pid, row in rows.items():
        data = site.photo_path(pid).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"] == site.photos[pid].sha256
        assert _decoded_size(data) == (int(row["width"]), int(row["height"]))
        assert row["listing_id"] == listing_of[pid]
        assert row["listed_model"] == model_of[row["listing_id"]]
        kind, content = row["wrong_kind"], row["true_content"]
        if kind == "":
            assert content == row["listed_model"]
        elif kind == "other_model":
            assert content in config.models and content != row["listed_model"]
        else:
            assert kind in WRONG_KINDS and content == kind
        if not row["repost_of"]:
            assert w0 <= int(row["width"]) <= w1 and h0 <= int(row["height"]) <= h1
            continue
        source = rows[row["repost_of"]]
        assert not source["repost_of"]
        assert source["listed_model"] == row["listed_model"]
        assert (source["true_content"], source["wrong_kind"]) == (content, kind)
        assert (source["sha256"] == row["sha256"]) == (row["repost_kind"] == "identical")


@pytest.mark.parametrize("seed", SEEDS)
def test_every_seed_draws_a_consistent_site(seed: int, tmp_path: Path) -> None:
    site = generate_site(_small_config(seed), tmp_path, workers=1)
    _check_site(site)
    # Every kind on every seed, at both ends of the size range, whatever the plan picked.
    (w0, h0), (w1, h1) = site.config.image_size
    for kind in ALL_KINDS:
        for k in range(PHOTOS_PER_KIND):
            size = (w0, h0) if k % 2 else (w1, h1)
            job = PhotoJob("p", kind, *size, seed * PHOTOS_PER_KIND + k)
            assert _decoded_size(draw_photo(job)) == size, job


def test_the_seed_sweep_covers_every_photo_kind_and_repost() -> None:
    plans = [plan_site(_small_config(seed)) for seed in SEEDS]
    contents = {p.true_content for plan in plans for p in plan.photos if not p.repost_of}
    assert contents == set(ALL_KINDS)
    assert sum(p.true_content == "closeup" for plan in plans for p in plan.photos) >= 50
    assert all(any(p.repost_of for p in plan.photos) for plan in plans)


@pytest.mark.parametrize("seed", sorted(CRASHED))
def test_the_photos_that_crashed_seeds_1_2_4_5_now_draw(seed: int) -> None:
    planned = {p.photo_id: p for p in plan_site(SiteConfig(seed=seed)).photos}
    for photo_id in CRASHED[seed]:
        p = planned[photo_id]
        assert p.true_content == "closeup"
        data = draw_photo(PhotoJob(p.photo_id, p.true_content, p.width, p.height, p.seed))
        assert _decoded_size(data) == (p.width, p.height)


def test_boxes_draw_the_same_with_corners_in_either_order() -> None:
    assert ordered_box((5, 9, 1, 2)) == (1, 2, 5, 9)
    assert ordered_box((1.5, 2, 5, 9.5)) == (1.5, 2, 5, 9.5)
    forward, backward = Image.new("RGB", (20, 20)), Image.new("RGB", (20, 20))
    Canvas(forward).rectangle((2, 3, 12, 25), fill=(200, 10, 10))
    Canvas(forward).ellipse((1, 1, 9, 7), fill=(10, 200, 10))
    Canvas(backward).rectangle((12, 25, 2, 3), fill=(200, 10, 10))
    Canvas(backward).ellipse((9, 7, 1, 1), fill=(10, 200, 10))
    assert forward.tobytes() == backward.tobytes()
    Canvas(forward).rectangle((0, 30, 20, 20), fill=(1, 2, 3))  # entirely below: no-op
    assert forward.tobytes() == backward.tobytes()


def test_a_repost_copies_from_its_own_listing_when_no_other_has_an_original() -> None:
    same_listing = 0
    for seed in range(60):
        config = SiteConfig(
            seed=seed, listings_per_model=2, photos_per_listing=(1, 8), repost_share=0.49
        )
        plan = plan_site(config)
        by_id = {p.photo_id: p for p in plan.photos}
        for p in (p for p in plan.photos if p.repost_of):
            source = by_id[p.repost_of]
            assert not source.repost_of and source.listed_model == p.listed_model
            same_listing += source.listing_id == p.listing_id
    assert same_listing  # the case that used to be rng.choice([]) -> IndexError


def _plan_with_unicorn(config: SiteConfig) -> SitePlan:
    """Return the real plan of ``config`` with its first original photo made undrawable."""
    plan = plan_site(config)
    first = next(p for p in plan.photos if not p.repost_of)
    photos = tuple(
        dataclasses.replace(p, true_content="unicorn") if p is first else p for p in plan.photos
    )
    return SitePlan(plan.listings, photos)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_photo_is_one_line_naming_seed_and_kind(
    workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan is made in this process, so the bad photo reaches the pool's workers too.
    monkeypatch.setattr(generator_module, "plan_site", _plan_with_unicorn)
    size = ((32, 32), (32, 32))
    config = SiteConfig.tiny(seed=5, listings_per_model=12, image_size=size)
    assert len(plan_site(config).photos) >= generator_module.SERIAL_LIMIT
    with pytest.raises(PhotoRenderError) as caught:
        generate_site(config, tmp_path, workers=workers)
    message = str(caught.value)
    assert "\n" not in message
    assert "seed 5" in message and "'unicorn' photo" in message and "KeyError" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not list(tmp_path.glob("site-*")), "no half-drawn site is left in the cache"
