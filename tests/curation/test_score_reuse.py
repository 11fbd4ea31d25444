"""Incremental label scoring: a rerun with nothing new reuses the stored scores, a new photo or
a changed label scores everything again, and decided photos are not queued again."""

from __future__ import annotations

import io
import random

import numpy as np
import sqlalchemy as sa
from PIL import Image, ImageDraw

from curation.labels.issues import ScoreConfig, score_catalog
from curation.labels.reuse import ReusedScoreRun
from curation.review.decisions import decide
from curation.review.queue import QueueConfig, build_queue, queue_items
from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace

CONFIG = ScoreConfig(source="handmade", folds=3, neighbours=3)


def _photo(wide: bool, seed: int) -> bytes:
    """Draw a 48-px photo of a long low body (``wide``) or a short high one, with noise."""
    rng = random.Random(seed)
    img = Image.new("RGB", (48, 48), (120, 130, 120))
    draw = ImageDraw.Draw(img)
    colour = tuple(rng.randint(0, 255) for _ in range(3))
    box = (4, 26, 44, 36) if wide else (14, 8, 32, 38)
    draw.rectangle(box, fill=colour)
    array = np.asarray(img).astype(np.int16)
    array += np.random.default_rng(seed).integers(-6, 7, array.shape, dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


def _add(ws: Workspace, label: str, wide: bool, seed: int) -> int:
    result = intake_image(
        ws.catalog, ws.store, _photo(wide, seed), Provenance(label=label, source_path=str(seed))
    )
    assert result.image_id is not None
    return result.image_id


def _populate(ws: Workspace) -> int:
    """Add 10 photos per label and one wrong one; return the wrong one's image id."""
    for seed in range(10):
        _add(ws, "swift", True, seed)
        _add(ws, "wagonr", False, 100 + seed)
    return _add(ws, "swift", False, 200)


def _score_runs(ws: Workspace) -> int:
    with ws.catalog.reading() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(t.runs).where(t.runs.c.kind == "score")
        ).scalar_one()


def test_a_rerun_with_nothing_new_reuses_the_stored_scores(workspace: Workspace) -> None:
    _populate(workspace)
    first = score_catalog(workspace, CONFIG)
    assert not isinstance(first, ReusedScoreRun)
    again = score_catalog(workspace, CONFIG)
    assert isinstance(again, ReusedScoreRun)
    assert (again.run_id, again.feature_source, again.images) == (
        first.run_id,
        first.feature_source,
        first.images,
    )
    assert _score_runs(workspace) == 1
    # Other settings are another model: scored again.
    other = score_catalog(workspace, ScoreConfig(source="handmade", folds=4, neighbours=3))
    assert not isinstance(other, ReusedScoreRun) and other.run_id != first.run_id
    assert not isinstance(score_catalog(workspace, CONFIG, reuse=False), ReusedScoreRun)


def test_a_new_photo_is_scored_with_all_others_and_decided_photos_stay_out_of_the_queue(
    workspace: Workspace,
) -> None:
    wrong = _populate(workspace)
    first = score_catalog(workspace, CONFIG)
    build_queue(workspace.catalog, QueueConfig(budget=0.12, run_id=first.run_id))
    with workspace.catalog.reading() as conn:
        kept = next(item for item in queue_items(conn) if item.image_id == wrong)
    decide(workspace.catalog, kept.id, "keep", "test")
    # A decision that keeps the photo changes nothing the scores depend on.
    assert isinstance(score_catalog(workspace, CONFIG), ReusedScoreRun)

    new_id = _add(workspace, "wagonr", False, 300)
    second = score_catalog(workspace, CONFIG)
    assert not isinstance(second, ReusedScoreRun) and second.run_id != first.run_id
    with workspace.catalog.reading() as conn:
        scored = set(
            conn.execute(
                sa.select(t.label_scores.c.image_id).where(t.label_scores.c.run_id == second.run_id)
            ).scalars()
        )
    assert new_id in scored and kept.image_id in scored
    queued = build_queue(workspace.catalog, QueueConfig(budget=0.12, run_id=second.run_id))
    with workspace.catalog.reading() as conn:
        open_images = {item.image_id for item in queue_items(conn)}
    assert kept.image_id not in open_images
    assert queued.already_decided == 1  # still a suspect, but a person decided it


def test_a_relabelled_photo_means_scoring_again(workspace: Workspace) -> None:
    _populate(workspace)
    first = score_catalog(workspace, CONFIG)
    build_queue(workspace.catalog, QueueConfig(budget=0.12, run_id=first.run_id))
    with workspace.catalog.reading() as conn:
        item = queue_items(conn)[0]
    other = "wagonr" if item.label == "swift" else "swift"
    decide(workspace.catalog, item.id, "relabel", "test", new_label=other)
    again = score_catalog(workspace, CONFIG)
    assert not isinstance(again, ReusedScoreRun) and again.run_id != first.run_id
    assert isinstance(score_catalog(workspace, CONFIG), ReusedScoreRun)
