"""The model registry: which trained model is the one to use, kept in the catalog.

Reads every training run with its metrics (:func:`list_models`, :func:`current_champion`) and
changes roles (:func:`promote_if_better`); :mod:`training.records` writes the runs themselves.
Roles in ``training_runs.role``: ``champion`` (at most one), ``challenger`` (trained, not
promoted) and ``retired`` (a former champion). Models are compared on the test subset's
accuracy (loss breaks ties), measured on the same test set. A run that ended at chance level
(:func:`chance_level`) or failed is never promoted, whatever its test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline import schema as t
from pipeline.errors import CarscoutError

# A run whose validation accuracy is at most this far above the majority class's share learnt
# nothing worth keeping: predicting the majority class everywhere scores the same.
CHANCE_MARGIN = 0.02
# Below this many validation photos one photo moves accuracy by 5+ points: too few to tell a
# model at chance from an unlucky one, so the guard does not judge them.
CHANCE_MIN_PHOTOS = 20


def chance_level(accuracy: float, majority_share: float, photos: int) -> bool:
    """Return True when ``accuracy`` on ``photos`` validation photos is within
    :data:`CHANCE_MARGIN` of (or below) ``majority_share``, the share of the commonest class;
    False with fewer than :data:`CHANCE_MIN_PHOTOS` photos."""
    return photos >= CHANCE_MIN_PHOTOS and accuracy <= majority_share + CHANCE_MARGIN


def chance_level_hint(accuracy: float, majority_share: float) -> str:
    """Return the one-line explanation of a chance-level run and what to try instead."""
    return (
        f"training failed: validation accuracy {accuracy:.3f} is within "
        f"{CHANCE_MARGIN * 100:.0f} points of the majority class share {majority_share:.3f}, "
        "so the model learnt nothing; try more --epochs, a larger --image-size, a lower "
        "--learning-rate or --model baseline_aug, and check the labels with `carscout review`"
    )


@dataclass(frozen=True)
class ModelRecord:
    """One trained model with its test metrics (None where it was never evaluated)."""

    run_id: int
    name: str
    model: str
    role: str
    status: str
    run_dir: str
    split_id: int | None
    test_accuracy: float | None
    test_loss: float | None
    validation_accuracy: float | None
    validation_majority_share: float | None = None
    validation_count: float | None = None

    @property
    def at_chance(self) -> bool:
        """True when the run failed or its validation accuracy is at chance level."""
        if self.status == "failed":
            return True
        if None in (self.validation_accuracy, self.validation_majority_share):
            return False
        return chance_level(
            float(self.validation_accuracy),  # type: ignore[arg-type]
            float(self.validation_majority_share),  # type: ignore[arg-type]
            int(self.validation_count or CHANCE_MIN_PHOTOS),
        )


def _metric(conn: Connection, run_id: int, subset: str, name: str) -> float | None:
    return conn.execute(
        sa.select(t.run_metrics.c.value).where(
            t.run_metrics.c.run_id == run_id,
            t.run_metrics.c.subset == subset,
            t.run_metrics.c.name == name,
        )
    ).scalar()


def list_models(conn: Connection) -> list[ModelRecord]:
    """Return every training run, champion first, then newest first."""
    rows = conn.execute(sa.select(t.training_runs).order_by(t.training_runs.c.id.desc())).all()
    records = [
        ModelRecord(
            run_id=row.id,
            name=row.name,
            model=row.model,
            role=row.role,
            status=row.status,
            run_dir=row.run_dir,
            split_id=row.split_id,
            test_accuracy=_metric(conn, row.id, "test", "accuracy"),
            test_loss=_metric(conn, row.id, "test", "loss"),
            validation_accuracy=_metric(conn, row.id, "validation", "accuracy"),
            validation_majority_share=_metric(conn, row.id, "validation", "majority_share"),
            validation_count=_metric(conn, row.id, "validation", "count"),
        )
        for row in rows
    ]
    return sorted(records, key=lambda r: r.role != "champion")


def current_champion(conn: Connection) -> ModelRecord | None:
    """Return the champion, or None before the first promotion."""
    return next((r for r in list_models(conn) if r.role == "champion"), None)


def is_better(challenger: ModelRecord, champion: ModelRecord | None) -> bool:
    """Return True when ``challenger`` beats ``champion`` on test accuracy (then lower loss)."""
    if challenger.test_accuracy is None:
        raise CarscoutError(
            f"run {challenger.name} has no test metrics; run `carscout evaluate` on it first"
        )
    if champion is None or champion.test_accuracy is None:
        return True
    if challenger.test_accuracy != champion.test_accuracy:
        return challenger.test_accuracy > champion.test_accuracy
    return (challenger.test_loss or 0.0) < (champion.test_loss or 0.0)


def promote_if_better(conn: Connection, run_id: int) -> bool:
    """Make run ``run_id`` the champion if it beats the current one; return True if promoted.

    The former champion becomes ``retired``; a losing challenger keeps the role ``challenger``,
    and so does a run that failed or ended at chance level (:attr:`ModelRecord.at_chance`).
    """
    records = {r.run_id: r for r in list_models(conn)}
    if run_id not in records:
        raise CarscoutError(f"training run {run_id} is not in the catalog; see `carscout models`")
    challenger, champion = records[run_id], current_champion(conn)
    if champion is not None and champion.run_id == run_id:
        return False
    if challenger.at_chance:
        return False
    if not is_better(challenger, champion):
        return False
    if champion is not None:
        conn.execute(
            sa.update(t.training_runs)
            .where(t.training_runs.c.id == champion.run_id)
            .values(role="retired")
        )
    conn.execute(
        sa.update(t.training_runs).where(t.training_runs.c.id == run_id).values(role="champion")
    )
    return True
