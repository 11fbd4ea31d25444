"""A run that ends at chance level is reported as failed, with a hint, and never promoted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import schema as t
from pipeline.workspace import Workspace
from training.config import TrainConfig
from training.data_sources import from_folder_tree
from training.registry import list_models
from training.registry_roles import promote_if_better
from training.trainer import train

from .conftest import paint


def _unlearnable_tree(root: Path) -> Path:
    """Return a tree whose two classes hold copies of one photo: no model can tell them apart."""
    photo = paint(root / "one.jpg", 0, 7)
    for subset, count in (("train", 12), ("validation", 12)):
        for label in ("coupe", "pickup"):
            folder = root / subset / label
            folder.mkdir(parents=True)
            for i in range(count):
                shutil.copy(photo, folder / f"{i:03d}.jpg")
    photo.unlink()
    return root


def _record_test_accuracy(conn: sa.Connection, run_id: int, accuracy: float) -> None:
    conn.execute(
        sa.insert(t.run_metrics),
        [
            {"run_id": run_id, "subset": "test", "name": "accuracy", "value": accuracy},
            {"run_id": run_id, "subset": "test", "name": "loss", "value": 0.1},
        ],
    )


def test_run_that_cannot_learn_fails_with_a_hint_and_is_never_promoted(
    tmp_path: Path, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    data = from_folder_tree(_unlearnable_tree(tmp_path / "tree"))
    config = TrainConfig(
        model="baseline", image_size=32, batch_size=8, epochs=1, weights="none", tensorboard=False
    )
    result = train(config, data, workspace=workspace, name="chance", verbose=1)
    assert result.validation["majority_share"] == 0.5
    assert result.failure is not None
    assert "majority class share 0.500" in result.failure and "--epochs" in result.failure
    assert result.failure in capsys.readouterr().out
    assert json.loads((result.run_dir / "metrics.json").read_text())["failure"] == result.failure
    with workspace.catalog.atomic() as conn:
        assert result.run_id is not None
        # Even a (mis)measured perfect test score must not make a chance-level run champion.
        _record_test_accuracy(conn, result.run_id, 1.0)
        assert not promote_if_better(conn, result.run_id)
    with workspace.catalog.reading() as conn:
        (record,) = list_models(conn)
    assert (record.status, record.role, record.at_chance) == ("failed", "challenger", True)


def test_registry_judges_chance_by_validation_accuracy_and_majority_share(
    workspace: Workspace,
) -> None:
    def run(conn: sa.Connection, name: str, validation: float) -> int:
        run_id = conn.execute(
            sa.insert(t.training_runs).values(
                name=name,
                model="baseline",
                data_source="catalog:default",
                run_dir=f"/runs/{name}",
                status="finished",
            )
        ).inserted_primary_key[0]
        conn.execute(
            sa.insert(t.run_metrics),
            [
                {"run_id": run_id, "subset": "validation", "name": key, "value": value}
                for key, value in (
                    ("accuracy", validation),
                    ("majority_share", 0.6),
                    ("count", 100),
                )
            ],
        )
        _record_test_accuracy(conn, run_id, validation)
        return int(run_id)

    with workspace.catalog.atomic() as conn:
        assert not promote_if_better(conn, run(conn, "at-chance", 0.62))
        assert promote_if_better(conn, run(conn, "learnt", 0.63))
