"""Promotion rules on a real catalog: the better model becomes champion, nothing is lost."""

from __future__ import annotations

import sqlalchemy as sa

from pipeline import schema as t
from pipeline.workspace import Workspace
from training.registry import current_champion, list_models, promote_if_better


def _run(conn: sa.Connection, name: str, accuracy: float | None, loss: float = 0.5) -> int:
    run_id = conn.execute(
        sa.insert(t.training_runs).values(
            name=name, model="fast_cnn", data_source="catalog:default", run_dir=f"/runs/{name}"
        )
    ).inserted_primary_key[0]
    if accuracy is not None:
        conn.execute(
            sa.insert(t.run_metrics),
            [
                {"run_id": run_id, "subset": "test", "name": "accuracy", "value": accuracy},
                {"run_id": run_id, "subset": "test", "name": "loss", "value": loss},
            ],
        )
    return int(run_id)


def test_promotion_keeps_every_model_and_one_champion(workspace: Workspace) -> None:
    with workspace.catalog.atomic() as conn:
        first = _run(conn, "first", 0.80)
        assert promote_if_better(conn, first)
        worse = _run(conn, "worse", 0.75)
        assert not promote_if_better(conn, worse)
        tie_lower_loss = _run(conn, "tie", 0.80, loss=0.3)
        assert promote_if_better(conn, tie_lower_loss)
        better = _run(conn, "better", 0.90)
        assert promote_if_better(conn, better)
    with workspace.catalog.reading() as conn:
        roles = {m.name: m.role for m in list_models(conn)}
        champion = current_champion(conn)
    assert roles == {
        "first": "retired",
        "worse": "challenger",
        "tie": "retired",
        "better": "champion",
    }
    assert champion is not None and champion.test_accuracy == 0.90


def test_unevaluated_model_cannot_be_promoted(workspace: Workspace) -> None:
    import pytest

    from pipeline.errors import CarscoutError

    with workspace.catalog.atomic() as conn:
        run_id = _run(conn, "never-evaluated", None)
        with pytest.raises(CarscoutError, match="carscout evaluate"):
            promote_if_better(conn, run_id)
