"""The default near-duplicate decision (``align``) and its grouping on real and drawn photos.

Real photographs come from realcars-dev (skipped when it is absent); drawn ones from the demo
marketplace's generator.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from curation.dedup.alignment import AlignedRule, Evidence, compare, load_pixels, mirror_pixels
from curation.dedup.anchored import anchored_groups
from curation.dedup.decision import NearDuplicateDecision, PhotoSet
from curation.dedup.hashing import MIRROR_KIND, hash_files
from curation.dedup.near_duplicates import COLOUR_KIND
from curation.dedup.pair_order import local_order

SET = Path(__file__).resolve().parents[3] / "shared" / "realcars-dev"
needs_real_photos = pytest.mark.skipif(
    not (SET / "truth.json").is_file(), reason=f"needs the realcars-dev photos at {SET}"
)
ORIGINAL = "coupe/00000.jpg"
STOCK_PAIR = ("pickup/00186.jpg", "pickup/00384.jpg")  # two trucks, one studio pose


def photo_set(paths: list[Path]) -> PhotoSet:
    """The photos hashed as dedup hashes them for the default decision."""
    hashed = hash_files(paths, NearDuplicateDecision().kinds(), workers=1)
    return PhotoSet.of(
        [h.hashes["phash"] for h in hashed],  # type: ignore[index]
        [h.hashes[COLOUR_KIND] for h in hashed],  # type: ignore[index]
        [h.hashes[MIRROR_KIND] for h in hashed],  # type: ignore[index]
        paths,
    )


def original_photo() -> Image.Image:
    """The real photo the tests copy, as RGB."""
    with Image.open(SET / "photos" / ORIGINAL) as im:
        return im.convert("RGB")


def decide(paths: list[Path]) -> set[tuple[int, int]]:
    """The default decision's pairs over ``paths``, as index pairs."""
    pairs = NearDuplicateDecision().pairs_within(photo_set(paths), workers=1)
    return {(int(i), int(j)) for i, j, _ in pairs}


def test_a_photo_joins_through_the_kept_copy_never_through_a_chain() -> None:
    best_first = {1: 3, 2: 2, 3: 1}  # quality: 1 is the best copy
    # 1≈2 and 2≈3 but 1≉3: 3 was verified only against 2, which is not the kept copy.
    assert anchored_groups([(1, 2), (2, 3)], best_first.__getitem__) == [[1, 2]]
    # The same links with 2 as the best copy: both are copies of it.
    assert anchored_groups([(1, 2), (2, 3)], {1: 1, 2: 3, 3: 2}.__getitem__) == [[2, 3, 1]]
    # A fourth photo verified against two of three members joins by majority.
    quality = {1: 4, 2: 3, 3: 2, 4: 1}.__getitem__
    groups = anchored_groups([(1, 2), (1, 3), (2, 4), (3, 4)], quality)
    assert groups == [[1, 2, 3, 4]]


@needs_real_photos
def test_copies_of_a_real_photo_are_found_and_stock_twins_and_chains_kept_apart(
    tmp_path: Path,
) -> None:
    original = original_photo()
    w, h = original.size
    copies = {
        "resize30": original.resize((w * 3 // 10, h * 3 // 10), Image.Resampling.LANCZOS),
        "mirror": ImageOps.mirror(original),
        "grey": original.convert("L"),
        "bright": ImageEnhance.Brightness(original).enhance(1.25),
        "squeeze": original.resize((int(w * 0.93), h), Image.Resampling.LANCZOS),
    }
    paths = [SET / "photos" / ORIGINAL]
    for kind, image in copies.items():
        paths.append(tmp_path / f"{kind}.jpg")
        image.save(paths[-1], quality=25 if kind == "resize30" else 90)
    webp = tmp_path / "webp.webp"
    original.save(webp, quality=80)
    paths.append(webp)
    stock = [SET / "photos" / name for name in STOCK_PAIR]
    paths += stock
    pairs = decide(paths)
    copies_found = {j for i, j in pairs if i == 0}
    assert copies_found == set(range(1, len(copies) + 2))
    n = len(paths)
    assert (n - 2, n - 1) not in pairs  # the stock twins are two trucks


@needs_real_photos
def test_the_photos_stanford_holds_twice_are_found() -> None:
    truth = json.loads((SET / "truth.json").read_text())
    # Identical or mirrored copies of one photograph (the re-cut backgrounds are harder).
    group = truth["same_photo"][0]
    pairs = decide([SET / "photos" / name for name in group])
    assert pairs == {(0, 1)}


def test_drawn_cars_of_one_model_stay_apart(tmp_path: Path) -> None:
    from scrapers.demo_site import SiteConfig, generate_site

    config = SiteConfig(
        seed=3,
        listings_per_model=12,
        photos_per_listing=(3, 3),
        wrong_share=0.0,
        repost_share=0.0,
        image_size=((320, 240), (320, 240)),
    )
    site = generate_site(config, tmp_path / "cache", workers=1)
    rows = site.read_ground_truth()
    paths = [site.root / "photos" / f"{r['photo_id']}.jpg" for r in rows]
    photos = photo_set(paths)
    # ORB + RANSAC alone links drawings of one model (why the cells are compared).
    assert len(NearDuplicateDecision("orb").pairs_within(photos, workers=1)) > 0
    assert len(NearDuplicateDecision().pairs_within(photos, workers=1)) == 0
    # The rule's shortcuts (no box looked for below its inliers, no structure once the tone
    # fails) change no verdict; mirrored pixels equal a mirrored read of the file.
    rule = AlignedRule()
    pixels = [load_pixels(path) for path in paths[:12]]
    matched = 0
    for k, a in enumerate(pixels):
        for b in pixels[k + 1 :]:
            full = compare(a, b, rule.min_inliers)
            quick = compare(a, b, rule.min_inliers, rule.min_tone, rule.overlay_min_inliers)
            assert rule.accepts(full) == rule.accepts(quick)
            matched += full.inliers >= rule.min_inliers
    assert matched > 0
    mirrored = mirror_pixels(pixels[0])
    read = load_pixels(paths[0], mirrored=True)
    assert np.array_equal(mirrored.rgb, read.rgb)
    assert np.array_equal(mirrored.descriptors, read.descriptors)


def test_the_wide_search_finds_far_nearest_hashes_within_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import curation.dedup.decision as decision_module

    far = 0x0123456789ABCDEF ^ 0xFFFF  # 16 bits apart: beyond the radius, within the reach
    photos = PhotoSet.of([f"{0x0123456789ABCDEF:016x}", f"{far:016x}"], None, None, None)
    # No photo files: the pair cannot be verified, and split units keep such pairs.
    leak_safe = NearDuplicateDecision(unverified="keep")
    assert leak_safe.pairs_within(photos, workers=1)[:, :2].tolist() == [[0, 1]]
    monkeypatch.setattr(decision_module, "WIDE_BUDGET", 3)
    assert leak_safe.pairs_within(photos, workers=1).tolist() == []


@needs_real_photos
def test_verification_through_shards_gives_the_pairs_of_the_local_run(tmp_path: Path) -> None:
    from pipeline.shards import serial_map

    with Image.open(SET / "photos" / ORIGINAL) as im:
        mirror = tmp_path / "mirror.jpg"
        ImageOps.mirror(im.convert("RGB")).save(mirror)
    paths = [SET / "photos" / ORIGINAL, mirror, *(SET / "photos" / n for n in STOCK_PAIR)]
    photos = photo_set(paths)
    decision = NearDuplicateDecision()
    shards_seen: list[int] = []

    def counting_map(work, shards):  # noqa: ANN001, ANN202 - a ShardMap
        shards_seen.append(len(shards))
        return serial_map(work, shards)

    sharded = decision.pairs_within(photos, workers=1, map_shards=counting_map)
    assert shards_seen and shards_seen[0] >= 1
    local = decision.pairs_within(photos, workers=1)
    assert sharded.tolist() == local.tolist() and local[:, :2].tolist() == [[0, 1]]
    # The verdicts are remembered in this process: asking again verifies nothing.
    shards_seen.clear()
    again = decision.pairs_within(photos, workers=1, map_shards=counting_map)
    assert again.tolist() == local.tolist() and shards_seen == []
    # Another copy (new files): verified again, through the shards.
    grey = tmp_path / "grey.jpg"
    with Image.open(SET / "photos" / ORIGINAL) as im:
        im.convert("L").save(grey)
    query, base = photo_set([grey]), photo_set(paths[:1] + paths[2:])
    found = decision.cross_pairs(query, base, workers=1, map_shards=counting_map)
    assert found[:, :2].tolist() == [[0, 0]] and shards_seen


@needs_real_photos
def test_crops_rotations_and_contrast_changes_are_found(tmp_path: Path) -> None:
    original = original_photo()
    w, h = original.size
    contrast = ImageEnhance.Contrast(ImageEnhance.Brightness(original).enhance(1.3)).enhance(1.3)
    copies = {
        "crop": original.crop((int(w * 0.09), int(h * 0.02), int(w * 0.93), int(h * 0.9))),
        "rotate": original.rotate(-4.5, Image.Resampling.BICUBIC, fillcolor=(255, 255, 255)),
        "contrast": contrast,
    }
    paths = [SET / "photos" / ORIGINAL]
    for kind, image in copies.items():
        paths.append(tmp_path / f"{kind}.jpg")
        image.save(paths[-1], quality=85)
    paths += [SET / "photos" / name for name in STOCK_PAIR]
    pairs = decide(paths)
    assert {j for i, j in pairs if i == 0} == {1, 2, 3}
    assert (4, 5) not in pairs
    # Brightness and contrast move the three channels along one line: compared with the
    # photo as that line predicts it, every cell keeps its hue.
    assert compare(load_pixels(paths[0]), load_pixels(paths[3])).hue == 1.0


@needs_real_photos
def test_a_price_box_pasted_over_a_textured_corner_is_excused(tmp_path: Path) -> None:
    source = SET / "photos" / "pickup/00181.jpg"
    with Image.open(source) as im:
        boxed = im.convert("RGB")
    w, h = boxed.size
    box = (0, 0, w // 2, int(h * 0.3))  # 15% of the photo, over trees and a windscreen
    draw = ImageDraw.Draw(boxed)
    draw.rectangle(box, fill=(200, 30, 30))
    for line in range(box[3] // 14):
        draw.text((6, 4 + line * 14), "CARSCOUT DEALS 555-0199", fill="white")
    copy = tmp_path / "boxed.jpg"
    boxed.save(copy, quality=85)
    evidence = compare(load_pixels(source), load_pixels(copy), 20)
    # Too few cells agree for the structure test; the box alone differs.
    assert evidence.structure < AlignedRule().strong_min_structure and evidence.overlay
    assert decide([source, copy]) == {(0, 1)}


@needs_real_photos
def test_a_photo_whose_hash_moved_far_is_found_through_its_colour_layout(
    tmp_path: Path,
) -> None:
    original = original_photo()
    w, h = original.size
    crop = tmp_path / "crop.jpg"
    original.crop((int(w * 0.1), int(h * 0.1), int(w * 0.9), int(h * 0.9))).save(crop)
    paths = [SET / "photos" / ORIGINAL, crop]
    found = photo_set(paths)
    # The same colours, but pHashes 40 bits apart: beyond every hash search's reach.
    far = f"{int(found.hashes[0]) ^ ((1 << 40) - 1):016x}"
    hashes = [f"{int(found.hashes[0]):016x}", far]
    colours = hash_files(paths, (COLOUR_KIND,), workers=1)
    layouts = [c.hashes[COLOUR_KIND] for c in colours]  # type: ignore[index]
    with_layouts = PhotoSet.of(hashes, layouts, None, paths)
    assert NearDuplicateDecision().pairs_within(with_layouts, workers=1)[:, :2].tolist() == [[0, 1]]
    without = PhotoSet.of(hashes, None, None, paths)
    assert NearDuplicateDecision().pairs_within(without, workers=1).tolist() == []


def test_pairs_are_ordered_so_that_a_photo_s_pairs_stay_together() -> None:
    # A chain of 40 photos, its pairs shuffled: in the local order each pair shares a photo
    # with the next one, so a process reading them in turn meets each photo in one stretch.
    rng = np.random.default_rng(0)
    chain = np.array([(k, k + 1, 0, 1) for k in range(39)], dtype=np.int64)
    shuffled = chain[rng.permutation(len(chain))]
    order = local_order(shuffled, 40)
    assert sorted(order.tolist()) == list(range(39))
    rows = shuffled[order]
    for a, b in zip(rows[:-1], rows[1:], strict=True):
        assert set(a[:2].tolist()) & set(b[:2].tolist())
    # Two sets (queries against a base): the same holds across them.
    cross = np.array([(k, k, 0, 1) for k in range(10)] + [(k + 1, k, 0, 1) for k in range(9)])
    rows = cross[local_order(cross[rng.permutation(len(cross))], 10, 10)]
    assert len(rows) == 19


def test_a_pair_found_by_colour_alone_must_agree_in_every_test() -> None:
    rule = AlignedRule()
    # A drawn car of the same model and colour: passes the usual tiers, not the colour-only one.
    drawn = Evidence(inliers=146, structure=0.81, hue=1.0, tone=0.91)
    assert rule.accepts(drawn) and not rule.accepts(drawn, colour_only=True)
    crop = Evidence(inliers=43, structure=1.0, hue=1.0, tone=1.0)
    assert rule.accepts(crop, colour_only=True)
    # A pasted box excuses a pair its hashes found, not one found by colour alone.
    boxed = Evidence(inliers=150, structure=0.6, hue=0.8, tone=0.8, overlay=True)
    assert rule.accepts(boxed) and not rule.accepts(boxed, colour_only=True)
