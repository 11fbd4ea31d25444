"""The model registry: every trained model with its metrics and role, read from the catalog.

:func:`list_models` and :func:`current_champion` read the runs (:mod:`training.records`
writes them). Roles in ``training_runs.role``: ``champion`` (at most one), ``challenger``
(trained, not promoted) and ``retired`` (a former champion). Whether a run is promoted is
decided in :mod:`training.registry_policy` (with :mod:`training.registry_stats`' paired
test) and applied by :mod:`training.registry_roles`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline import schema as t

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


def short_fingerprint(fingerprint: str | None) -> str:
    """Return the first 8 characters of a test-set fingerprint, or ``-`` when unknown."""
    return fingerprint[:8] if fingerprint else "-"


@dataclass(frozen=True)
class ModelRecord:
    """One trained model with its metrics (None where never measured).

    ``test_fingerprint`` and ``test_count`` describe the test set its test metrics were
    measured on, ``test_looks`` how many times that test set was looked at; ``split_name`` and
    ``split_version`` the split version it was trained on.
    """

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
    split_name: str | None = None
    split_version: int | None = None
    test_fingerprint: str | None = None
    test_count: int | None = None
    test_looks: int = 0

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

    @property
    def split(self) -> str:
        """Return ``name vN`` of the split version the run was trained on, or ``-``."""
        return f"{self.split_name} v{self.split_version}" if self.split_name else "-"


def _metrics(conn: Connection) -> dict[tuple[int, str, str], float]:
    rows = conn.execute(
        sa.select(
            t.run_metrics.c.run_id,
            t.run_metrics.c.subset,
            t.run_metrics.c.name,
            t.run_metrics.c.value,
        ).where(
            t.run_metrics.c.subset.in_(("test", "validation")),
            t.run_metrics.c.name.in_(("accuracy", "loss", "majority_share", "count")),
        )
    )
    return {(int(r.run_id), r.subset, r.name): float(r.value) for r in rows}


def list_models(conn: Connection) -> list[ModelRecord]:
    """Return every training run, champion first, then newest first."""
    rows = conn.execute(
        sa.select(t.training_runs, t.splits.c.name.label("split_name"), t.splits.c.version)
        .outerjoin(t.splits, t.splits.c.id == t.training_runs.c.split_id)
        .order_by(t.training_runs.c.id.desc())
    ).all()
    metrics = _metrics(conn)
    records = [
        ModelRecord(
            run_id=row.id,
            name=row.name,
            model=row.model,
            role=row.role,
            status=row.status,
            run_dir=row.run_dir,
            split_id=row.split_id,
            test_accuracy=metrics.get((row.id, "test", "accuracy")),
            test_loss=metrics.get((row.id, "test", "loss")),
            validation_accuracy=metrics.get((row.id, "validation", "accuracy")),
            validation_majority_share=metrics.get((row.id, "validation", "majority_share")),
            validation_count=metrics.get((row.id, "validation", "count")),
            split_name=row.split_name,
            split_version=row.version,
            test_fingerprint=row.test_fingerprint,
            test_count=row.test_count,
            test_looks=int(row.test_looks or 0),
        )
        for row in rows
    ]
    return sorted(records, key=lambda r: r.role != "champion")


def current_champion(conn: Connection) -> ModelRecord | None:
    """Return the champion, or None before the first promotion."""
    return next((r for r in list_models(conn) if r.role == "champion"), None)
