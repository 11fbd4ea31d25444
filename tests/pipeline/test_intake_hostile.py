"""Hostile single photos (issue 17, Intake): any exception while taking a photo in becomes its
failure row, a FIFO never blocks, and awkward images are re-encoded the same way every time."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from pipeline import schema as t
from pipeline.intake import Provenance, intake_file, intake_image
from pipeline.intake_normalize import validate_and_normalize
from pipeline.settings import IntakeLimits
from pipeline.workspace import Workspace
from tests.pipeline.hostile_files import (
    DAMAGED_MULTIFRAME,
    animated_gif,
    encode,
    failure_rows,
    float_tiff,
    lab_tiff,
    photo,
    png_16bit_rgb,
)

LIMITS = IntakeLimits()


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
    [row] = failure_rows(workspace)
    assert (row.stage, row.reason, row.target) == ("scrape", reason, f"http://127.0.0.1/{name}")
    assert detail in row.detail
    assert list(workspace.store.iter_files()) == []


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
    assert failure_rows(workspace)[0].target == str(fifo)


# --- deterministic, documented re-encoding ----------------------------------------------------


def test_16bit_rgb_png_is_stored_as_8bit(workspace: Workspace) -> None:
    data = png_16bit_rgb()
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
    data = lab_tiff()
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
    "lab tiff": lab_tiff,
    "float tiff": lambda: float_tiff(nan=False),
    "cmyk jpeg": lambda: encode(photo(30, "CMYK"), "JPEG"),
    "rgba png": lambda: encode(photo(31, "RGBA"), "PNG"),
    "bmp": lambda: encode(photo(32), "BMP"),
    "16-bit png": png_16bit_rgb,
    "gif": animated_gif,
    "ppm": lambda: encode(photo(34), "PPM"),
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
    data = encode(photo(33, "RGBA"), "PNG", icc_profile=profile)
    normalized = validate_and_normalize(data, LIMITS)
    assert "transparency" in "; ".join(normalized.changes)
    assert Image.open(io.BytesIO(normalized.data)).info.get("icc_profile") == profile


def test_float_tiff_with_nan_is_rejected(workspace: Workspace) -> None:
    result = intake_image(
        workspace.catalog, workspace.store, float_tiff(nan=True), Provenance("swift")
    )
    assert (result.outcome, result.reason) == ("rejected", "non_finite_pixels")
    assert "1 of 3072 pixels" in failure_rows(workspace)[0].detail
    assert list(workspace.store.iter_files()) == []
    clean = intake_image(
        workspace.catalog, workspace.store, float_tiff(nan=False), Provenance("swift")
    )
    assert clean.outcome == "stored"
