"""Intake: a table of malformed and unusual files, each stored sensibly or rejected with a reason,
and nothing else in the catalog changes."""

from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from pipeline import schema as t
from pipeline.intake import Provenance, intake_files, intake_image
from pipeline.settings import IntakeLimits
from pipeline.store import sha256_of
from pipeline.workspace import Workspace

RNG = np.random.default_rng(7)


def _photo(width: int = 96, height: int = 64, mode: str = "RGB") -> Image.Image:
    array = RNG.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(array, "RGB").convert(mode)


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _jpeg() -> bytes:
    return _encode(_photo(), "JPEG", quality=90)


def _truncated_jpeg() -> bytes:
    data = _jpeg()
    return data[: len(data) // 2]


def _truncated_png() -> bytes:
    data = _encode(_photo(), "PNG")
    return data[: len(data) - 40]


def _bomb_png() -> bytes:
    # A valid PNG header declaring 100000 x 100000 pixels; the pixel data never needs to exist.
    header = _encode(Image.new("L", (1, 1)), "PNG")
    ihdr_start = header.index(b"IHDR")
    body = struct.pack(">II", 100_000, 100_000) + header[ihdr_start + 12 : ihdr_start + 17]
    import zlib

    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    return header[: ihdr_start + 4] + body + crc + header[ihdr_start + 21 :]


def _corrupted_middle() -> bytes:
    data = bytearray(_jpeg())
    middle = len(data) // 2
    data[middle : middle + 200] = b"\x00" * 200
    data[200:260] = b"\xff\xd9" * 30
    return bytes(data)


def _exif_rotated() -> bytes:
    image = _photo(96, 64)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    return _encode(image, "JPEG", exif=exif.tobytes())


def _palette_transparent() -> bytes:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (16, 16, 48, 48))
    return _encode(image, "PNG", transparency=0)


def _sixteen_bit() -> bytes:
    array = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    return _encode(Image.fromarray(array), "PNG")


def _animated_gif() -> bytes:
    frames = [_photo(64, 64).convert("P") for _ in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def _zip_bytes() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "hello")
    return out.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"></svg>'

# (name, make bytes, expected outcome, expected reason or normalization hint)
CASES: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("empty", lambda: b"", "rejected", "empty"),
    (
        "html page",
        lambda: b"<!DOCTYPE html><html><body>404</body></html>",
        "rejected",
        "not_an_image",
    ),
    ("json error", lambda: b'{"error": "rate limited"}', "rejected", "not_an_image"),
    ("plain text", lambda: b"this is not an image at all" * 5, "rejected", "not_an_image"),
    ("zip archive", _zip_bytes, "rejected", "not_an_image"),
    ("svg", lambda: SVG, "rejected", "not_an_image"),
    ("truncated jpeg", _truncated_jpeg, "rejected", "truncated_or_corrupt"),
    ("truncated png", _truncated_png, "rejected", "truncated_or_corrupt"),
    ("decompression bomb", _bomb_png, "rejected", "too_many_pixels"),
    ("too large", lambda: _jpeg() + b"\0" * 300_000, "rejected", "too_large"),
    ("tiny 8x8", lambda: _encode(_photo(8, 8), "PNG"), "rejected", "too_small"),
    ("corrupted middle", _corrupted_middle, "rejected", "truncated_or_corrupt"),
    ("plain jpeg", _jpeg, "stored", ""),
    ("cmyk jpeg", lambda: _encode(_photo(mode="CMYK"), "JPEG"), "stored", "CMYK"),
    ("exif rotated", _exif_rotated, "stored", "EXIF orientation"),
    ("palette transparency", _palette_transparent, "stored", "transparency"),
    ("rgba png", lambda: _encode(_photo(mode="RGBA"), "PNG"), "stored", "transparency"),
    ("16-bit png", _sixteen_bit, "stored", "8-bit"),
    ("animated gif", _animated_gif, "stored", "first frame"),
    ("grey webp", lambda: _encode(_photo(mode="L"), "WEBP"), "stored", ""),
    ("bmp", lambda: _encode(_photo(), "BMP"), "stored", "re-encoded BMP"),
]

LIMITS = IntakeLimits(max_bytes=200_000, max_pixels=20_000_000, min_side=32)


def _table_counts(ws: Workspace) -> dict[str, int]:
    with ws.catalog.reading() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in t.metadata.tables.items()
        }


@pytest.mark.parametrize(("name", "make", "outcome", "hint"), CASES, ids=[c[0] for c in CASES])
def test_intake_case(
    workspace: Workspace, name: str, make: Callable[[], bytes], outcome: str, hint: str
) -> None:
    before = _table_counts(workspace)
    result = intake_image(
        workspace.catalog,
        workspace.store,
        make(),
        Provenance(label="swift", source_url=f"http://127.0.0.1/{name}"),
        LIMITS,
    )
    after = _table_counts(workspace)
    assert result.outcome == outcome
    changed = {table for table in after if after[table] != before[table]}
    if outcome == "rejected":
        assert result.reason == hint
        assert changed == {"failures"}
        with workspace.catalog.reading() as conn:
            row = conn.execute(sa.select(t.failures)).one()
        assert (row.reason, row.target, row.stage) == (hint, f"http://127.0.0.1/{name}", "import")
        assert list(workspace.store.iter_files()) == []
    else:
        assert changed == {"images", "image_sources"}
        with workspace.catalog.reading() as conn:
            image = conn.execute(sa.select(t.images)).one()
        assert hint in (image.normalized or "")
        stored = Image.open(workspace.store.path(image.store_path))
        stored.load()
        assert stored.mode in {"RGB", "L"}
        assert (stored.width, stored.height) == (image.width, image.height)


def test_exif_rotation_swaps_dimensions(workspace: Workspace) -> None:
    result = intake_image(
        workspace.catalog, workspace.store, _exif_rotated(), Provenance(label="swift"), LIMITS
    )
    with workspace.catalog.reading() as conn:
        image = conn.execute(sa.select(t.images).where(t.images.c.id == result.image_id)).one()
    assert (image.width, image.height) == (64, 96)


def test_same_bytes_twice_is_one_image_with_two_sources(workspace: Workspace) -> None:
    data = _jpeg()
    first = intake_image(
        workspace.catalog, workspace.store, data, Provenance("swift", source_url="http://a/1.jpg")
    )
    second = intake_image(
        workspace.catalog, workspace.store, data, Provenance("swift", source_url="http://b/2.jpg")
    )
    again = intake_image(
        workspace.catalog, workspace.store, data, Provenance("swift", source_url="http://b/2.jpg")
    )
    assert (first.outcome, second.outcome, again.outcome) == ("stored", "known", "known")
    assert first.image_id == second.image_id == again.image_id
    counts = _table_counts(workspace)
    assert (counts["images"], counts["image_sources"]) == (1, 2)
    assert len(list(workspace.store.iter_files())) == 1


def test_missing_label_is_rejected(workspace: Workspace) -> None:
    result = intake_image(workspace.catalog, workspace.store, _jpeg(), Provenance(label="  "))
    assert (result.outcome, result.reason) == ("rejected", "no_label")


def _files(folder: Path, count: int) -> list[tuple[str, Provenance]]:
    folder.mkdir(exist_ok=True)
    files = []
    for i in range(count):
        path = folder / f"{i}.jpg"
        path.write_bytes(_jpeg())
        files.append((str(path), Provenance("swift", source_path=str(path))))
    return files


def test_a_batch_is_flushed_in_order_files_then_folders_then_one_durable_commit(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files(tmp_path / "in", 6)
    broken = tmp_path / "in" / "broken.jpg"
    broken.write_bytes(_truncated_jpeg())
    files.insert(2, (str(broken), Provenance("swift", source_path=str(broken))))
    files.append(files[0])  # the same file twice in one batch: one image
    events: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def on_commit(conn: sa.engine.Connection) -> None:
        mode = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        events.append(f"commit synchronous={mode}")

    monkeypatch.setattr(os, "fsync", fsync)
    sa.event.listen(workspace.catalog.engine, "commit", on_commit)
    results = intake_files(workspace.catalog, workspace.store, files, LIMITS)
    sa.event.remove(workspace.catalog.engine, "commit", on_commit)

    outcomes = [r.outcome for r in results]
    assert outcomes == ["stored", "stored", "rejected", "stored", "stored", "stored", "stored"] + [
        "known"
    ]
    assert (
        results[2].reason == "truncated_or_corrupt" and results[-1].image_id == results[0].image_id
    )
    folders = {workspace.store.path(p).parent for p in workspace.store.iter_files()}
    # Six file flushes, then each folder and the store root, then one commit at FULL (2).
    assert events == ["file"] * 6 + ["folder"] * (len(folders) + 1) + ["commit synchronous=2"]
    counts = _table_counts(workspace)
    assert (counts["images"], counts["image_sources"], counts["failures"]) == (6, 6, 1)
    assert list(workspace.store.iter_temporaries()) == []
    with workspace.catalog.atomic() as conn:  # the pooled connection is back at NORMAL (1)
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1


def test_files_of_an_unfinished_batch_are_adopted_by_the_rerun(
    workspace: Workspace, tmp_path: Path
) -> None:
    files = _files(tmp_path / "in", 4)
    # What a crash before the commit leaves: the files in the store, no rows.
    for path, _ in files[:3]:
        data = Path(path).read_bytes()
        workspace.store.write(data, workspace.store.relative_path(sha256_of(data), "jpg"))
    assert _table_counts(workspace)["images"] == 0
    results = intake_files(workspace.catalog, workspace.store, files, LIMITS)
    assert [r.outcome for r in results] == ["stored"] * 4
    with workspace.catalog.reading() as conn:
        stored = set(conn.execute(sa.select(t.images.c.store_path)).scalars())
    assert stored == set(workspace.store.iter_files())


def test_a_row_that_cannot_be_written_fails_alone_and_leaves_no_file(
    workspace: Workspace, tmp_path: Path
) -> None:
    files = _files(tmp_path / "in", 3)
    # A listing that does not exist: the foreign key refuses this photo's row.
    path, provenance = files[1]
    files[1] = (path, Provenance("swift", source_path=path, listing_id=999))
    results = intake_files(workspace.catalog, workspace.store, files, LIMITS)
    assert [r.outcome for r in results] == ["stored", "rejected", "stored"]
    assert results[1].reason == "internal_error" and "IntegrityError" in results[1].detail
    assert len(list(workspace.store.iter_files())) == 2
    assert _table_counts(workspace)["images"] == 2


def test_a_batch_writes_the_same_rows_as_one_photo_at_a_time(tmp_path: Path) -> None:
    from pipeline.intake import intake_file

    files = _files(tmp_path / "in", 5)
    text = tmp_path / "in" / "notes.jpg"
    text.write_bytes(b"<html>not a photo</html>")
    files += [(str(text), Provenance("swift")), files[1], files[3]]
    files.append((files[2][0], Provenance("wagon r", source_url="http://127.0.0.1/2.jpg")))

    def rows(ws: Workspace) -> tuple[list, list, list]:
        with ws.catalog.reading() as conn:
            images = conn.execute(
                sa.select(t.images.c.sha256, t.images.c.store_path, t.images.c.label).order_by(
                    t.images.c.id
                )
            ).all()
            sources = conn.execute(
                sa.select(
                    t.images.c.sha256, t.image_sources.c.source_path, t.image_sources.c.source_url
                )
                .join(t.images, t.images.c.id == t.image_sources.c.image_id)
                .order_by(t.image_sources.c.id)
            ).all()
            failures = conn.execute(sa.select(t.failures.c.target, t.failures.c.reason)).all()
        return images, sorted(sources, key=repr), failures

    outcomes = []
    for name, one_by_one in (("batch", False), ("single", True)):
        with Workspace.open(home=tmp_path / name) as ws:
            # One photo is in the catalog already.
            intake_image(ws.catalog, ws.store, Path(files[4][0]).read_bytes(), Provenance("x"))
            if one_by_one:
                results = [intake_file(ws.catalog, ws.store, p, prov, LIMITS) for p, prov in files]
            else:
                results = intake_files(ws.catalog, ws.store, files, LIMITS)
            outcomes.append(([(r.outcome, r.image_id, r.reason) for r in results], rows(ws)))
    assert outcomes[0] == outcomes[1]
    assert [o for o, _, _ in outcomes[0][0]] == ["stored"] * 4 + ["known", "rejected"] + [
        "known"
    ] * 3
