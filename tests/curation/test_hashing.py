"""Perceptual hashing of files: drafted decoding, all cores, failures kept, catalog caching."""

from __future__ import annotations

import io
import random
from pathlib import Path

import sqlalchemy as sa
from PIL import Image, ImageDraw

from curation.dedup.hashing import hash_catalog, hash_file, hash_files
from curation.dedup.near_duplicates import colour_distance, colour_levels
from curation.dedup.search import hamming, hex_to_uint64
from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randint(0, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(15):
        x, y = rng.randint(-50, size[0]), rng.randint(-50, size[1])
        box = (x, y, x + rng.randint(30, 300), y + rng.randint(30, 250))
        draw.ellipse(box, fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return image


def write_jpeg(path: Path, image: Image.Image) -> Path:
    image.save(path, "JPEG", quality=90)
    return path


def test_drafted_hashes_stay_close_to_full_resolution(tmp_path: Path) -> None:
    for seed in range(6):
        path = write_jpeg(tmp_path / f"{seed}.jpg", photo(seed))
        drafted, full = hash_file(path), hash_file(path, draft_size=None)
        assert set(drafted) == {"phash", "dhash", "colour"} and len(drafted["phash"]) == 16
        assert hamming(*hex_to_uint64([drafted["phash"], full["phash"]])) <= 4
        levels, present = colour_levels([drafted["colour"], full["colour"]])
        assert present.all() and colour_distance(levels[:1], levels[1:])[0] <= 12


def test_grey_only_hashes_match_those_decoded_with_colour(tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "a.jpg", photo(3))
    assert hash_file(path, ("phash", "dhash")) == {
        k: v for k, v in hash_file(path).items() if k != "colour"
    }


def test_png_and_other_formats_hash_without_draft(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    photo(1).save(path)
    assert hash_file(path) == hash_file(path, draft_size=None)


def test_parallel_hashing_keeps_order_and_reports_failures(tmp_path: Path) -> None:
    paths = [write_jpeg(tmp_path / f"{n}.jpg", photo(n, (160, 120))) for n in range(40)]
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    paths.insert(7, tmp_path / "bad.jpg")
    paths.append(tmp_path / "missing.jpg")

    parallel = hash_files(paths, workers=2)
    serial = hash_files(paths, workers=1)

    assert [r.path for r in parallel] == [str(p) for p in paths]
    assert [r.hashes for r in parallel] == [r.hashes for r in serial]
    assert parallel[7].hashes is None and parallel[7].reason == "undecodable"
    assert parallel[-1].hashes is None and parallel[-1].reason == "missing_file"
    assert sum(r.hashes is not None for r in parallel) == 40


def test_catalog_hashes_are_computed_once(workspace: Workspace) -> None:
    for seed in range(3):
        out = io.BytesIO()
        photo(seed, (200, 150)).save(out, "JPEG")
        intake_image(workspace.catalog, workspace.store, out.getvalue(), Provenance(label="swift"))

    first = hash_catalog(workspace.catalog, workspace.store, workers=1)
    second = hash_catalog(workspace.catalog, workspace.store, workers=1)

    assert (first.hashed, first.failed, first.already) == (3, 0, 0)
    assert (second.hashed, second.already) == (0, 3)
    with workspace.catalog.reading() as conn:
        rows = conn.execute(sa.select(t.image_hashes)).all()
    assert sorted({r.kind for r in rows}) == ["colour", "dhash", "phash"] and len(rows) == 9
    assert all(len(r.value) == (60 if r.kind == "colour" else 16) for r in rows)


def test_a_new_kind_is_added_to_images_hashed_before(workspace: Workspace) -> None:
    out = io.BytesIO()
    photo(9, (200, 150)).save(out, "JPEG")
    intake_image(workspace.catalog, workspace.store, out.getvalue(), Provenance(label="swift"))
    hash_catalog(workspace.catalog, workspace.store, ("phash",), workers=1)
    with workspace.catalog.reading() as conn:
        before = conn.execute(sa.select(t.image_hashes)).one()

    added = hash_catalog(workspace.catalog, workspace.store, ("phash", "colour"), workers=1)

    with workspace.catalog.reading() as conn:
        rows = {r.kind: r for r in conn.execute(sa.select(t.image_hashes))}
    assert added.hashed == 1 and sorted(rows) == ["colour", "phash"]
    assert rows["phash"].created_at == before.created_at and rows["phash"].value == before.value
