"""Hostile photo bytes and the helpers the hostile intake and import tests share: damaged
multi-frame files, 16-bit and LAB and float images, file names that are not UTF-8, and checks
of the store, the runs and the failure rows."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from pipeline import schema as t
from pipeline.workspace import Workspace

# --- hostile bytes ----------------------------------------------------------------------------


def random_frames(count: int, mode: str) -> list[Image.Image]:
    """Return ``count`` 64x48 frames of seeded noise in ``mode``."""
    rng = np.random.default_rng(5)
    return [
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).convert(mode)
        for _ in range(count)
    ]


def animated_gif() -> bytes:
    """Return a three-frame animated GIF."""
    frames = random_frames(3, "P")
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def gif_image_descriptors(data: bytes) -> list[int]:
    """Return the offset of every image descriptor (``,``) in a GIF."""
    pos = 13
    if data[10] & 0x80:
        pos += 3 * 2 ** ((data[10] & 7) + 1)
    found = []
    while pos < len(data) and data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension: introducer, label, then sub-blocks
            pos += 2
        else:
            found.append(pos)
            flags = data[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 * 2 ** ((flags & 7) + 1)
            pos += 1  # LZW minimum code size
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return found


def gif_cut_in_second_frame() -> bytes:
    """An animated GIF that ends inside the second frame's image data (IndexError in Pillow)."""
    data = animated_gif()
    second = gif_image_descriptors(data)[1]
    return data[: second + 12]


def multipage_tiff() -> bytes:
    """Return a three-page RGB TIFF."""
    frames = random_frames(3, "RGB")
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def tiff_second_page(tag: int, *, value: int | None = None, rename_to: int | None = None) -> bytes:
    """A three-page TIFF whose second page has ``tag`` set to ``value`` or renamed away."""
    data = bytearray(multipage_tiff())
    assert data[:2] == b"II"
    offset = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, offset)[0]
    offset = struct.unpack_from("<I", data, offset + 2 + 12 * count)[0]
    count = struct.unpack_from("<H", data, offset)[0]
    entries = {
        struct.unpack_from("<H", data, offset + 2 + 12 * i)[0]: offset + 2 + 12 * i
        for i in range(count)
    }
    if value is not None:
        struct.pack_into("<H", data, entries[tag] + 8, value)
    if rename_to is not None:
        struct.pack_into("<H", data, entries[tag], rename_to)
    return bytes(data)


# (name, bytes, reasons accepted, text the failure detail must hold)
DAMAGED_MULTIFRAME = [
    ("gif cut in frame 2", gif_cut_in_second_frame, "internal_error", "IndexError"),
    ("tiff page 2 no width", lambda: tiff_second_page(256, rename_to=0xFFF0), "internal_error",
     "TypeError: Missing dimensions"),
    ("tiff page 2 compression 241", lambda: tiff_second_page(259, value=241), "internal_error",
     "KeyError: 241"),
    ("tiff page 2 photometric 246", lambda: tiff_second_page(262, value=246),
     "truncated_or_corrupt", "unknown pixel mode"),
]  # fmt: skip


def png_16bit_rgb() -> bytes:
    """A 16-bit-per-sample RGB PNG (Pillow cannot write one, so build the chunks)."""
    rng = np.random.default_rng(11)
    array = rng.integers(0, 65535, (48, 64, 3)).astype(">u2")
    raw = b"".join(b"\0" + row.tobytes() for row in array)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 64, 48, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def lab_tiff() -> bytes:
    """Return a TIFF in the LAB colour space."""
    rng = np.random.default_rng(12)
    array = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(array, "RGB").convert("LAB").save(out, "TIFF")
    return out.getvalue()


def float_tiff(nan: bool) -> bytes:
    """Return a 32-bit float TIFF, with one NaN pixel when ``nan``."""
    array = np.random.default_rng(13).random((48, 64)).astype(np.float32)
    if nan:
        array[7, 9] = np.nan
    out = io.BytesIO()
    Image.fromarray(array, "F").save(out, "TIFF")
    return out.getvalue()


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """Return ``image`` saved as ``fmt`` with Pillow's ``options``."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def photo(seed: int, mode: str = "RGB") -> Image.Image:
    """Return a 64x48 image of seeded noise converted to ``mode``."""
    array = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return Image.fromarray(array, "RGB").convert(mode)


# --- helpers --------------------------------------------------------------------------------------


def write(folder: Path, name: bytes | str, data: bytes) -> None:
    """Write ``data`` to ``folder/name``; a bytes ``name`` may be any file name, UTF-8 or not."""
    raw = os.fsencode(folder) + b"/" + (name if isinstance(name, bytes) else name.encode())
    with open(raw, "wb") as handle:
        handle.write(data)


def non_utf8_or_skip(folder: Path) -> None:
    """Skip the test when ``folder``'s file system refuses names that are not UTF-8."""
    try:
        write(folder, b"probe-\xe9", b"")
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")
    os.remove(os.fsencode(folder) + b"/probe-\xe9")


def assert_store_consistent(ws: Workspace) -> None:
    """Assert that every store file has a row, every row a file, and no temporary is left."""
    with ws.catalog.reading() as conn:
        rows = set(conn.execute(sa.select(t.images.c.store_path)).scalars())
    assert set(ws.store.iter_files()) == rows, "every store file has a row and every row a file"
    assert list(ws.store.iter_temporaries()) == []


def summary_rows(output: str) -> dict[str, int]:
    """Return the import summary table of the CLI's output as ``{outcome: count}``."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if len(cells) == 2 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    return rows


def run_states(ws: Workspace) -> list[tuple[str, str]]:
    """Return ``(kind, status)`` of every run."""
    with ws.catalog.reading() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t.runs.c.kind, t.runs.c.status)).all()]


def failure_rows(ws: Workspace) -> list[sa.Row]:
    """Return every ``failures`` row, oldest first."""
    with ws.catalog.reading() as conn:
        return list(conn.execute(sa.select(t.failures).order_by(t.failures.c.id)).all())
