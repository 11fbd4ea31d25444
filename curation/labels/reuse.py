"""Whether a scoring run can stand in for a new one: incremental label scoring.

Out-of-fold scores depend on every photo (each is scored by models trained on the others), so
a photo that arrives, leaves or changes label changes them all and the whole catalog is scored
again. When nothing did — the same active photos with the same labels, the same settings — a
new run would only repeat the last one, seeded as it was: :func:`reusable_run` returns that run
instead (a :class:`ReusedScoreRun`). Review decisions that change a label, reject a photo or
undo either show up as a changed photo set; a decision that keeps a photo changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from curation.labels.config import ScoreConfig, ScoreRun
from pipeline import schema as t


@dataclass
class ReusedScoreRun(ScoreRun):
    """A :class:`ScoreRun` whose stored scores were reused: nothing new since run ``run_id``."""


def config_key(config: ScoreConfig) -> dict[str, Any]:
    """Return ``config`` as JSON-ready data, stored with a run to compare later runs with."""
    return {
        name: str(value) if value is not None else None for name, value in asdict(config).items()
    }


def reusable_run(
    conn: Connection, images: Iterable[tuple[int, str]], config: ScoreConfig
) -> ReusedScoreRun | None:
    """Return the newest scoring run if it scored exactly ``images`` (``(image id, label)`` of
    every active photo now) with ``config``; None when something changed or nothing was scored.
    """
    run = conn.execute(
        sa.select(t.runs.c.id, t.runs.c.params, t.runs.c.summary)
        .where(t.runs.c.kind == "score", t.runs.c.status == "ok")
        .order_by(t.runs.c.id.desc())
        .limit(1)
    ).first()
    if run is None or (run.params or {}).get("config") != config_key(config):
        return None
    scored = conn.execute(
        sa.select(t.label_scores.c.image_id, t.label_scores.c.label).where(
            t.label_scores.c.run_id == run.id
        )
    ).all()
    if {(int(row.image_id), row.label) for row in scored} != set(images):
        return None
    params, summary = run.params or {}, run.summary or {}
    return ReusedScoreRun(
        run_id=int(run.id),
        feature_source=str(params.get("feature_source", "")),
        model=str(params.get("model", "")),
        images=dict(summary.get("images") or {}),
        choice=str(params.get("choice", "")),
    )
