"""Role writes of the registry: apply a promotion decision to ``training_runs.role``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline import schema as t
from training.registry_policy import Decision, judge


def promote(conn: Connection, run_id: int, *, champion_validation: float | None = None) -> Decision:
    """Decide on run ``run_id`` against the current champion and apply the decision.

    The paired test comes from both runs' ``predictions_test.csv`` when they share a test
    fingerprint (:func:`pair_on_test`). On promotion the former champion becomes ``retired``;
    otherwise the run keeps the role ``challenger``. Returns the :class:`Decision`.
    """
    decision = judge(conn, run_id, champion_validation=champion_validation)
    if not decision.promoted:
        return decision
    champion = decision.champion
    if champion is not None:
        conn.execute(
            sa.update(t.training_runs)
            .where(t.training_runs.c.id == champion.run_id)
            .values(role="retired")
        )
    conn.execute(
        sa.update(t.training_runs).where(t.training_runs.c.id == run_id).values(role="champion")
    )
    return decision


def promote_if_better(conn: Connection, run_id: int) -> bool:
    """Apply :func:`promote` with the recorded figures; return True if run ``run_id`` became
    the champion."""
    return promote(conn, run_id).promoted
