"""Hostile files and folders (issue 17, Intake): every entry of an imported folder is accounted
for, one bad file never stops the import, and nothing half-stored is left behind."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from pipeline import schema as t
from pipeline.importer import import_folder
from pipeline.intake import Provenance, intake_file, intake_image
from pipeline.intake_normalize import validate_and_normalize
from pipeline.settings import IntakeLimits
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg
from tests.pipeline.test_intake import CASES

LIMITS = IntakeLimits()


# --- hostile bytes ----------------------------------------------------------------------------


def _frames(count: int, mode: str) -> list[Image.Image]:
    rng = np.random.default_rng(5)
    return [
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).convert(mode)
        for _ in range(count)
    ]


def _animated_gif() -> bytes:
    frames = _frames(3, "P")
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def _gif_image_descriptors(data: bytes) -> list[int]:
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


def _gif_cut_in_second_frame() -> bytes:
    """An animated GIF that ends inside the second frame's image data (IndexError in Pillow)."""
    data = _animated_gif()
    second = _gif_image_descriptors(data)[1]
    return data[: second + 12]


def _multipage_tiff() -> bytes:
    frames = _frames(3, "RGB")
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def _tiff_second_page(tag: int, *, value: int | None = None, rename_to: int | None = None) -> bytes:
    """A three-page TIFF whose second page has ``tag`` set to ``value`` or renamed away."""
    data = bytearray(_multipage_tiff())
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
    ("gif cut in frame 2", _gif_cut_in_second_frame, "internal_error", "IndexError"),
    ("tiff page 2 no width", lambda: _tiff_second_page(256, rename_to=0xFFF0), "internal_error",
     "TypeError: Missing dimensions"),
    ("tiff page 2 compression 241", lambda: _tiff_second_page(259, value=241), "internal_error",
     "KeyError: 241"),
    ("tiff page 2 photometric 246", lambda: _tiff_second_page(262, value=246),
     "truncated_or_corrupt", "unknown pixel mode"),
]  # fmt: skip


def _png_16bit_rgb() -> bytes:
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


def _lab_tiff() -> bytes:
    rng = np.random.default_rng(12)
    array = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(array, "RGB").convert("LAB").save(out, "TIFF")
    return out.getvalue()


def _float_tiff(nan: bool) -> bytes:
    array = np.random.default_rng(13).random((48, 64)).astype(np.float32)
    if nan:
        array[7, 9] = np.nan
    out = io.BytesIO()
    Image.fromarray(array, "F").save(out, "TIFF")
    return out.getvalue()


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _photo(seed: int, mode: str = "RGB") -> Image.Image:
    array = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return Image.fromarray(array, "RGB").convert(mode)


# --- helpers ----------------------------------------------------------------------------------


def _write(folder: Path, name: bytes | str, data: bytes) -> None:
    raw = os.fsencode(folder) + b"/" + (name if isinstance(name, bytes) else name.encode())
    with open(raw, "wb") as handle:
        handle.write(data)


def _non_utf8_or_skip(folder: Path) -> None:
    try:
        _write(folder, b"probe-\xe9", b"")
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")
    os.remove(os.fsencode(folder) + b"/probe-\xe9")


def _assert_store_consistent(ws: Workspace) -> None:
    with ws.catalog.reading() as conn:
        rows = set(conn.execute(sa.select(t.images.c.store_path)).scalars())
    assert set(ws.store.iter_files()) == rows, "every store file has a row and every row a file"
    assert list(ws.store.iter_temporaries()) == []


def _summary_rows(output: str) -> dict[str, int]:
    """Return the import summary table of the CLI's output as ``{outcome: count}``."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if len(cells) == 2 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    return rows


def _runs(ws: Workspace) -> list[tuple[str, str]]:
    with ws.catalog.reading() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t.runs.c.kind, t.runs.c.status)).all()]


def _failures(ws: Workspace) -> list[sa.Row]:
    with ws.catalog.reading() as conn:
        return list(conn.execute(sa.select(t.failures).order_by(t.failures.c.id)).all())


# --- non-UTF-8 names --------------------------------------------------------------------------


def test_non_utf8_file_names_import_and_rerun(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "photos" / "swift"
    folder.mkdir(parents=True)
    _non_utf8_or_skip(folder)
    _write(folder, b"caf\xe9.jpg", small_jpeg(1))
    _write(folder, b"broken-\xff.jpg", b"<html>gone</html>")
    _write(folder, "zz-after.jpg", small_jpeg(2))

    first = import_folder(workspace, tmp_path / "photos")
    assert (first.stored, first.known, dict(first.rejected)) == (2, 0, {"not_an_image": 1})
    _assert_store_consistent(workspace)
    assert _runs(workspace) == [("import", "ok")]
    with workspace.catalog.reading() as conn:
        paths = set(conn.execute(sa.select(t.image_sources.c.source_path)).scalars())
    assert str(folder.resolve() / "caf\\xe9.jpg") in paths
    assert _failures(workspace)[0].target == str(folder.resolve() / "broken-\\xff.jpg")

    again = import_folder(workspace, tmp_path / "photos")
    assert (again.stored, again.known, dict(again.rejected)) == (0, 2, {"not_an_image": 1})
    with workspace.catalog.reading() as conn:
        sources = conn.execute(sa.select(sa.func.count()).select_from(t.image_sources))
        assert sources.scalar_one() == 2
    assert _runs(workspace) == [("import", "ok"), ("import", "ok")]
    _assert_store_consistent(workspace)


def test_non_utf8_name_through_the_cli_prints_no_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _non_utf8_or_skip(folder)
    _write(folder, b"caf\xe9.jpg", small_jpeg(3))
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "import", str(folder), "--label", "swift"]
    )
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "stored (new)" in result.output


# --- any exception becomes the file's failure row ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "reason", "detail"), DAMAGED_MULTIFRAME, ids=[c[0] for c in DAMAGED_MULTIFRAME]
)
def test_damaged_multiframe_file_is_a_failure_row(
    workspace: Workspace, name: str, make: object, reason: str, detail: str
) -> None:
    data = make()  # type: ignore[operator]
    result = intake_image(
        workspace.catalog,
        workspace.store,
        data,
        Provenance(label="swift", source_url=f"http://127.0.0.1/{name}", stage="scrape"),
    )
    assert (result.outcome, result.reason) == ("rejected", reason)
    [row] = _failures(workspace)
    assert (row.stage, row.reason, row.target) == ("scrape", reason, f"http://127.0.0.1/{name}")
    assert detail in row.detail
    assert list(workspace.store.iter_files()) == []


def test_import_goes_on_after_damaged_multiframe_files(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, (_, make, _, _) in enumerate(DAMAGED_MULTIFRAME):
        suffix = "gif" if index == 0 else "tif"
        _write(folder, f"a{index}.{suffix}", make())  # type: ignore[operator]
    _write(folder, "z-good.jpg", small_jpeg(4))
    summary = import_folder(workspace, folder, label="swift")
    assert summary.stored == 1
    assert summary.rejected == Counter(r for _, _, r, _ in DAMAGED_MULTIFRAME)
    assert _runs(workspace) == [("import", "ok")]
    _assert_store_consistent(workspace)


def test_an_interrupted_import_is_not_left_running(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of two: the interruption lands after the first batch's commit.
    monkeypatch.setattr("pipeline.importer.IMPORT_BATCH", 2)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        _write(folder, f"{i}.jpg", small_jpeg(10 + i))

    def stop(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_folder(workspace, folder, label="swift", progress=stop)
    assert _runs(workspace) == [("import", "interrupted")]
    again = import_folder(workspace, folder, label="swift")
    assert (again.known, again.stored) == (2, 1)


def test_intake_file_refuses_a_fifo_without_blocking(workspace: Workspace, tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    results: list[object] = []
    worker = threading.Thread(
        target=lambda: results.append(
            intake_file(workspace.catalog, workspace.store, str(fifo), Provenance("swift"))
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader so the test process can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO blocked")
    [result] = results
    assert (result.outcome, result.reason) == ("rejected", "not_a_file")  # type: ignore[attr-defined]
    assert _failures(workspace)[0].target == str(fifo)


# --- skipped entries, decided by content ------------------------------------------------------


def _mixed_folder(root: Path) -> tuple[Path, Counter[str], int]:
    """Fill ``root/swift`` with photos under unusual names and entries that are not photos;
    return the folder, the skips expected by reason and the number of photos."""
    folder = root / "swift"
    folder.mkdir(parents=True)
    photos = {
        "p.ppm": _encode(_photo(20), "PPM"),
        "p.pgm": _encode(_photo(21, "L"), "PPM"),
        "p.pbm": _encode(_photo(22, "1"), "PPM"),
        "p.jfif": _encode(_photo(23), "JPEG"),
        "p.jpe": _encode(_photo(24), "JPEG"),
        "p.mpo": _encode(_photo(25), "MPO", save_all=True, append_images=[_photo(26)]),
        "no-extension": _encode(_photo(27), "PNG"),
        "photo.dat": _encode(_photo(28), "WEBP"),
    }
    for name, data in photos.items():
        _write(folder, name, data)
    _write(folder, "drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="64"/>')
    _write(folder, "notes.txt", b"seller's notes")
    _write(folder, ".DS_Store", b"\0\0\0\1Bud1")
    os.mkfifo(folder / "pipe.jpg")
    (folder / "gone.jpg").symlink_to(root / "nowhere.jpg")
    (folder / "more").mkdir()
    skipped = Counter(
        {"not_an_image": 2, "hidden": 1, "special_file": 1, "dangling_link": 1, "sub_folder": 1}
    )
    return folder, skipped, len(photos)


def test_skipped_entries_are_decided_by_content_and_counted(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder, skipped, photos = _mixed_folder(tmp_path / "photos")
    summary = import_folder(workspace, tmp_path / "photos")
    assert (summary.stored, dict(summary.rejected)) == (photos, {})
    assert summary.skipped == skipped
    assert summary.total == len(os.listdir(folder))
    with workspace.catalog.reading() as conn:
        formats = Counter(conn.execute(sa.select(t.images.c.format)).scalars())
    assert formats == {"PNG": 4, "JPEG": 3, "WEBP": 1}  # PPM/PGM/PBM and PNG; JPEGs and MPO
    with workspace.catalog.reading() as conn:
        run = conn.execute(sa.select(t.runs)).one()
    assert run.summary["skipped"] == dict(skipped)


def test_cli_summary_lists_every_skip_reason(tmp_path: Path) -> None:
    folder, skipped, photos = _mixed_folder(tmp_path / "photos")
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "import", str(tmp_path / "photos")]
    )
    assert result.exit_code == 0, result.output
    rows = _summary_rows(result.output)
    skipped_rows = {k.split()[1]: v for k, v in rows.items() if k.startswith("skipped:")}
    assert skipped_rows == skipped
    assert (rows["stored (new)"], rows["total"]) == (photos, photos + sum(skipped.values()))


# --- deterministic, documented re-encoding ----------------------------------------------------


def test_16bit_rgb_png_is_stored_as_8bit(workspace: Workspace) -> None:
    data = _png_16bit_rgb()
    result = intake_image(workspace.catalog, workspace.store, data, Provenance("swift"))
    assert result.outcome == "stored"
    with workspace.catalog.reading() as conn:
        image = conn.execute(sa.select(t.images)).one()
    stored = workspace.store.path(image.store_path).read_bytes()
    assert stored[12:16] == b"IHDR" and stored[24] == 8, "8 bits per sample in the store"
    assert "16-bit" in image.normalized
    high = Image.open(io.BytesIO(data)).convert("RGB")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(stored))), np.asarray(high))


def test_lab_tiff_reimported_is_the_same_image(workspace: Workspace) -> None:
    data = _lab_tiff()
    first = intake_image(
        workspace.catalog, workspace.store, data, Provenance("swift", source_path="/a/lab.tif")
    )
    second = intake_image(
        workspace.catalog, workspace.store, data, Provenance("swift", source_path="/b/lab.tif")
    )
    assert (first.outcome, second.outcome) == ("stored", "known")
    assert first.sha256 == second.sha256
    assert len(list(workspace.store.iter_files())) == 1
    with workspace.catalog.reading() as conn:
        image = conn.execute(sa.select(t.images)).one()
    stored = Image.open(workspace.store.path(image.store_path))
    assert "icc_profile" not in stored.info, "no profile made up by the LAB conversion"


RE_ENCODED = {
    "lab tiff": _lab_tiff,
    "float tiff": lambda: _float_tiff(nan=False),
    "cmyk jpeg": lambda: _encode(_photo(30, "CMYK"), "JPEG"),
    "rgba png": lambda: _encode(_photo(31, "RGBA"), "PNG"),
    "bmp": lambda: _encode(_photo(32), "BMP"),
    "16-bit png": _png_16bit_rgb,
    "gif": _animated_gif,
    "ppm": lambda: _encode(_photo(34), "PPM"),
}


def test_re_encoding_gives_the_same_bytes_every_time() -> None:
    inputs = {name: make() for name, make in RE_ENCODED.items()}
    first = {name: validate_and_normalize(data, LIMITS) for name, data in inputs.items()}
    assert all(result.changes for result in first.values()), "every case is re-encoded"
    time.sleep(1.1)  # anything stamped with the time of day would now differ
    again = {name: validate_and_normalize(data, LIMITS).data for name, data in inputs.items()}
    assert [name for name in inputs if again[name] != first[name].data] == []


def test_source_icc_profile_is_kept_when_colours_are_unchanged(workspace: Workspace) -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = _encode(_photo(33, "RGBA"), "PNG", icc_profile=profile)
    normalized = validate_and_normalize(data, LIMITS)
    assert "transparency" in "; ".join(normalized.changes)
    assert Image.open(io.BytesIO(normalized.data)).info.get("icc_profile") == profile


def test_float_tiff_with_nan_is_rejected(workspace: Workspace) -> None:
    result = intake_image(
        workspace.catalog, workspace.store, _float_tiff(nan=True), Provenance("swift")
    )
    assert (result.outcome, result.reason) == ("rejected", "non_finite_pixels")
    assert "1 of 3072 pixels" in _failures(workspace)[0].detail
    assert list(workspace.store.iter_files()) == []
    clean = intake_image(
        workspace.catalog, workspace.store, _float_tiff(nan=False), Provenance("swift")
    )
    assert clean.outcome == "stored"


# --- symbolic links ---------------------------------------------------------------------------


def _linked_folder(tmp_path: Path) -> Path:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    _write(outside, "private.jpg", small_jpeg(40))
    _write(outside, "secret.txt", b"root:x:0:0:root:/root:/bin/bash\n")
    folder = tmp_path / "photos" / "swift"
    folder.mkdir(parents=True)
    _write(folder, "own.jpg", small_jpeg(41))
    (folder / "private.jpg").symlink_to(outside / "private.jpg")
    (folder / "passwd.jpg").symlink_to(outside / "secret.txt")
    (folder / "alias.jpg").symlink_to(folder / "own.jpg")  # inside the folder: followed
    (tmp_path / "photos" / "wagonr").symlink_to(outside, target_is_directory=True)
    return tmp_path / "photos"


def test_links_out_of_the_folder_are_not_followed(workspace: Workspace, tmp_path: Path) -> None:
    photos = _linked_folder(tmp_path)
    summary = import_folder(workspace, photos)
    assert (summary.stored, summary.known, dict(summary.rejected)) == (1, 1, {})
    assert summary.skipped == {"link_outside_folder": 3}
    assert _failures(workspace) == []
    with workspace.catalog.reading() as conn:
        paths = set(conn.execute(sa.select(t.image_sources.c.source_path)).scalars())
    root = str(photos.resolve())
    assert paths == {f"{root}/swift/own.jpg", f"{root}/swift/alias.jpg"}


def test_follow_links_takes_them_in_under_the_folder_path(tmp_path: Path) -> None:
    photos = _linked_folder(tmp_path)
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["--home", str(home), "import", str(photos), "--follow-links"])
    assert result.exit_code == 0, result.output
    with Workspace.open(home=home) as ws:
        failures = _failures(ws)
        with ws.catalog.reading() as conn:
            paths = set(conn.execute(sa.select(t.image_sources.c.source_path)).scalars())
    root = str(photos.resolve())
    # wagonr/ is the outside folder: its photo and its text file are looked at too.
    assert f"{root}/swift/private.jpg" in paths and f"{root}/wagonr/private.jpg" in paths
    assert [(f.reason, f.target) for f in failures] == [
        ("not_an_image", f"{root}/swift/passwd.jpg")
    ]
    assert all(str(tmp_path / "elsewhere") not in p for p in paths)


# --- the whole hostile folder -----------------------------------------------------------------


def test_a_folder_of_hostile_files_is_accounted_for(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    folder, _, _ = _mixed_folder(photos)
    for index, (_, make, _, _) in enumerate(CASES):
        _write(folder, f"case-{index:02d}.{'jpg' if index % 2 else 'bin'}", make())
    for index, (_, make, _, _) in enumerate(DAMAGED_MULTIFRAME):
        _write(folder, f"damaged-{index}.tif", make())  # type: ignore[operator]
    _write(folder, "sixteen.png", _png_16bit_rgb())
    _write(folder, "lab.tif", _lab_tiff())
    _write(folder, "nan.tif", _float_tiff(nan=True))
    (folder / "passwd.jpg").symlink_to("/etc/passwd")
    with contextlib.suppress(OSError):  # a file system without such names: the rest counts
        _write(folder, b"caf\xe9.jpg", small_jpeg(50))
    (photos / "loose.jpg").write_bytes(small_jpeg(51))

    home = tmp_path / "home"
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(home), "import", str(photos)])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    entries = len(os.listdir(os.fsencode(folder))) + len(os.listdir(photos)) - 1
    rows = _summary_rows(result.output)
    assert rows["total"] == entries
    assert sum(v for k, v in rows.items() if k != "total") == entries
    with Workspace.open(home=home) as ws:
        _assert_store_consistent(ws)
        assert _runs(ws) == [("import", "ok")]
        with ws.catalog.reading() as conn:
            summary = conn.execute(sa.select(t.runs.c.summary)).scalar_one()
            failures = conn.execute(sa.select(sa.func.count()).select_from(t.failures))
            assert sum(summary["rejected"].values()) == failures.scalar_one()
    accounted = (
        summary["stored"]
        + summary["known"]
        + sum(summary["rejected"].values())
        + sum(summary["skipped"].values())
    )
    assert accounted == entries
    again = runner.invoke(app, ["--home", str(home), "import", str(photos)])
    assert again.exit_code == 0, again.output
    again_rows = _summary_rows(again.output)
    assert again_rows["stored (new)"] == 0
    assert again_rows["already in the catalog"] == summary["stored"] + summary["known"]
