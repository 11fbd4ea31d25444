"""Intake: a table of malformed and unusual files, each stored sensibly or rejected with a reason,
and nothing else in the catalog changes."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.settings import IntakeLimits
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
