"""Tiny generated photos for the label-issue tests: wide and tall car bodies and documents,
put in a catalog with injected wrong labels (:func:`populate`) or written to files."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from PIL import Image, ImageDraw

from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace

SIZE = 48


def photo(kind: str, seed: int) -> bytes:
    """Draw a tiny photo: ``wide`` (a long low body), ``tall`` (a short high body), ``page``."""
    rng = random.Random(seed)
    grey = rng.randint(90, 140)
    img = Image.new("RGB", (SIZE, SIZE), (grey, grey + 10, grey))
    draw = ImageDraw.Draw(img)
    colour = tuple(rng.randint(0, 255) for _ in range(3))
    jitter = rng.randint(-3, 3)
    if kind == "wide":
        draw.rectangle((4 + jitter, 26, 44 + jitter, 36), fill=colour)
        draw.ellipse((8 + jitter, 33, 16 + jitter, 41), fill="black")
        draw.ellipse((32 + jitter, 33, 40 + jitter, 41), fill="black")
    elif kind == "tall":
        draw.rectangle((14 + jitter, 8, 32 + jitter, 38), fill=colour)
        draw.ellipse((14 + jitter, 35, 21 + jitter, 42), fill="black")
        draw.ellipse((26 + jitter, 35, 33 + jitter, 42), fill="black")
    else:  # a document: a white page with lines of text
        img.paste((245, 245, 240), (0, 0, SIZE, SIZE))
        for row in range(6, SIZE - 4, 5):
            draw.line((4, row, rng.randint(20, 44), row), fill=(30, 30, 30))
    array = np.asarray(img).astype(np.int16)
    array += np.random.default_rng(seed).integers(-6, 7, array.shape, dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


def populate(ws: Workspace, correct: int = 20) -> dict[int, str]:
    """Put ``correct`` photos per label and 8 injected wrong ones in ``ws``.

    Returns ``{image_id: truth}`` where truth is ``"ok"``, ``"other_model"`` or ``"document"``.
    """
    truth: dict[int, str] = {}
    plan = [("swift", "wide", "ok")] * correct + [("wagonr", "tall", "ok")] * correct
    plan += [("swift", "tall", "other_model")] * 3 + [("wagonr", "wide", "other_model")] * 3
    plan += [("swift", "page", "document"), ("wagonr", "page", "document")]
    for seed, (label, kind, what) in enumerate(plan):
        result = intake_image(
            ws.catalog, ws.store, photo(kind, seed), Provenance(label=label, source_path=f"{seed}")
        )
        assert result.image_id is not None
        truth[result.image_id] = what
    return truth


def stored_scores(ws: Workspace, run_id: int) -> list:
    """Return the ``label_scores`` rows of one scoring run."""
    with ws.catalog.reading() as conn:
        return conn.execute(
            sa.select(t.label_scores).where(t.label_scores.c.run_id == run_id)
        ).all()


def photo_files(folder: Path, per_label: int = 10) -> tuple[list[Path], list[str]]:
    """Write ``per_label`` photos of each label (tall wagonr, wide swift) as PNG files in
    ``folder``; return their paths and labels."""
    paths, labels = [], []
    for i in range(2 * per_label):
        kind, label = ("wide", "swift") if i % 2 else ("tall", "wagonr")
        path = folder / f"{i}.png"
        path.write_bytes(photo(kind, i))
        paths.append(path)
        labels.append(label)
    return paths, labels
