"""Near-duplicate decisions on real photographs (realcars-dev), skipped when it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from curation.dedup.search import hex_to_uint64
from curation.dedup.verify import (
    GeometricRule,
    grey_for_features,
    match_inliers,
    mirrored_phash,
    orb_features,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "realcars-dev" / "photos"
pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real-photo tests need the realcars-dev photos at {DATA}"
)
ORIGINALS = ("coupe/00000.jpg", "coupe/00001.jpg", "pickup/00010.jpg")
# Different trucks of the same model in the same pose: pHash candidates, never duplicates.
STOCK_PAIRS = (("pickup/00186.jpg", "pickup/00384.jpg"), ("pickup/00395.jpg", "pickup/00425.jpg"))


def real_copies(image: Image.Image) -> dict[str, Image.Image]:
    """One copy of every kind the goal lists (moderate strength)."""
    w, h = image.size
    marked = image.copy()
    ImageDraw.Draw(marked).rectangle([0, int(h * 0.8), int(w * 0.5), h], fill=(255, 255, 255))
    return {
        "resize": image.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
        "crop": image.crop((int(w * 0.05), int(h * 0.05), int(w * 0.95), int(h * 0.95))),
        "bright": ImageEnhance.Contrast(ImageEnhance.Brightness(image).enhance(1.25)).enhance(0.8),
        "watermark": marked,
        "mirror": ImageOps.mirror(image),
        "greyscale": image.convert("L"),
        "rotate": image.rotate(3, Image.Resampling.BICUBIC, fillcolor=(255, 255, 255)),
        "squeeze": image.resize((int(w * 0.92), h), Image.Resampling.LANCZOS),
    }


def decide(paths: list[Path]) -> set[tuple[int, int]]:
    values = [mirrored_phash(p) for p in paths]
    rule = GeometricRule()
    pairs = rule.pairs_within(
        paths, hex_to_uint64(v for v, _ in values), hex_to_uint64(m for _, m in values)
    )
    return {(int(i), int(j)) for i, j, _ in pairs.tolist()}


@pytest.mark.parametrize("name", ORIGINALS)
def test_every_kind_of_copy_of_a_real_photo_is_verified(name: str, tmp_path: Path) -> None:
    with Image.open(DATA / name) as im:
        original = im.convert("RGB")
    paths = [DATA / name]
    for kind, copy in real_copies(original).items():
        paths.append(tmp_path / f"{kind}.jpg")
        copy.save(paths[-1], quality=85)
    found = decide(paths)
    missed = [paths[k].stem for k in range(1, len(paths)) if (0, k) not in found]
    # A white box over 10% of the photo, or a 3 degree turn, can move the global pHash 14-24
    # bits, past the candidate threshold: the verifier accepts such pairs (next test), the
    # candidate search misses some (benchmarks/dedup_real.py: the open part of issue 14).
    assert [m for m in missed if m not in ("watermark", "rotate")] == []


@pytest.mark.parametrize("name", ORIGINALS)
def test_the_verifier_accepts_a_watermarked_copy(name: str, tmp_path: Path) -> None:
    with Image.open(DATA / name) as im:
        real_copies(im.convert("RGB"))["watermark"].save(tmp_path / "w.jpg", quality=85)
    inliers, fraction = match_inliers(
        orb_features(grey_for_features(DATA / name)),
        orb_features(grey_for_features(tmp_path / "w.jpg")),
    )
    assert GeometricRule().accepts(inliers, fraction)


@pytest.mark.parametrize("pair", STOCK_PAIRS)
def test_stock_shots_in_the_same_pose_stay_apart(pair: tuple[str, str]) -> None:
    assert decide([DATA / pair[0], DATA / pair[1]]) == set()


def test_mirrored_phash_is_within_a_few_bits_of_the_mirror_image(tmp_path: Path) -> None:
    with Image.open(DATA / ORIGINALS[0]) as im:
        ImageOps.mirror(im.convert("RGB")).save(tmp_path / "m.jpg", quality=90)
    plain, mirrored = mirrored_phash(DATA / ORIGINALS[0])
    copy, _ = mirrored_phash(tmp_path / "m.jpg")
    distance = np.bitwise_count(np.uint64(int(mirrored, 16)) ^ np.uint64(int(copy, 16)))
    assert distance <= 4 < np.bitwise_count(np.uint64(int(plain, 16)) ^ np.uint64(int(copy, 16)))
