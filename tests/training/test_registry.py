"""Promotion rules on a real catalog: chosen on validation, guarded on the same test set."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import schema as t
from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace
from training.registry import current_champion, list_models
from training.registry_roles import promote, promote_if_better
from training.registry_stats import mcnemar_p, paired_test
from training.run_folder import ScoredPhoto, write_test_predictions


def _run(
    conn: sa.Connection,
    name: str,
    validation: float | None,
    test: float | None = 0.8,
    *,
    loss: float = 0.5,
    fingerprint: str | None = None,
    run_dir: str | None = None,
) -> int:
    run_id = conn.execute(
        sa.insert(t.training_runs).values(
            name=name,
            model="fast_cnn",
            data_source="catalog:default",
            run_dir=run_dir or f"/runs/{name}",
            status="finished",
            test_fingerprint=fingerprint,
            test_count=10 if fingerprint else None,
            test_looks=1 if test is not None else 0,
        )
    ).inserted_primary_key[0]
    values = []
    if validation is not None:
        values += [("validation", "accuracy", validation), ("validation", "loss", loss)]
    if test is not None:
        values += [("test", "accuracy", test), ("test", "loss", loss)]
    if values:
        conn.execute(
            sa.insert(t.run_metrics),
            [{"run_id": run_id, "subset": s, "name": n, "value": v} for s, n, v in values],
        )
    return int(run_id)


def test_champion_is_chosen_on_validation_and_a_tie_is_not_a_win(workspace: Workspace) -> None:
    with workspace.catalog.atomic() as conn:
        first = _run(conn, "first", 0.80, test=0.70)
        assert promote(conn, first).verdict() == "promoted: no champion before"
        # Better on test, worse on validation: test does not choose.
        worse = _run(conn, "worse", 0.75, test=0.95)
        assert not promote_if_better(conn, worse)
        # Same validation accuracy with a lower loss and a better test: still no win.
        tie = _run(conn, "tie", 0.80, test=0.99, loss=0.1)
        decision = promote(conn, tie)
        assert not decision.promoted and "tie is not a win" in decision.reason
        # No paired test (no test fingerprints): why, and no p-value.
        assert decision.verdict() == (
            "kept: validation 0.8000 ≤ champion 0.8000 (a tie is not a win)"
        )
        assert decision.p_value is None
        better = _run(conn, "better", 0.90, test=0.60)
        assert promote_if_better(conn, better)
    with workspace.catalog.reading() as conn:
        roles = {m.name: m.role for m in list_models(conn)}
        champion = current_champion(conn)
    assert roles == {
        "first": "retired",
        "worse": "challenger",
        "tie": "challenger",
        "better": "champion",
    }
    assert champion is not None and champion.validation_accuracy == 0.90


def test_champion_measured_on_the_same_validation_photos_decides(workspace: Workspace) -> None:
    with workspace.catalog.atomic() as conn:
        assert promote_if_better(conn, _run(conn, "champion", 0.70))
        challenger = _run(conn, "challenger", 0.80)
        # On the challenger's (grown) validation set the champion scores 0.85: no promotion.
        decision = promote(conn, challenger, champion_validation=0.85)
    assert not decision.promoted and decision.champion_validation == 0.85
    assert "validation 0.8000 vs 0.8500" in decision.describe()


def test_unevaluated_model_cannot_be_promoted(workspace: Workspace) -> None:
    with workspace.catalog.atomic() as conn:
        run_id = _run(conn, "never-evaluated", 0.9, test=None)
        with pytest.raises(CarscoutError, match="carscout evaluate"):
            promote_if_better(conn, run_id)


@pytest.mark.parametrize(
    ("challenger_only", "champion_only", "expected"),
    [
        (0, 0, 1.0),  # no discordant photo: no evidence either way
        (5, 5, 1.0),
        (0, 6, 2 * 0.5**6),  # 0.03125
        (6, 0, 2 * 0.5**6),
        (1, 9, 2 * (1 + 10) / 2**10),  # 0.021484375
        (3, 7, 2 * (1 + 10 + 45 + 120) / 2**10),  # 0.34375
        (0, 1, 1.0),
    ],
)
def test_exact_mcnemar_on_known_tables(
    challenger_only: int, champion_only: int, expected: float
) -> None:
    assert mcnemar_p(challenger_only, champion_only) == pytest.approx(expected, abs=1e-12)


def test_paired_test_counts_only_discordant_photos() -> None:
    paired = paired_test(
        [True, True, False, False, True, False], [True, False, True, True, True, False]
    )
    assert (paired.photos, paired.challenger_only, paired.champion_only) == (6, 1, 2)
    assert (paired.challenger_correct, paired.champion_correct) == (3, 4)
    assert paired.p_value == pytest.approx(1.0)
    assert not paired.significantly_worse
    assert "McNemar p = 1" in paired.describe()


def _predictions(run_dir: Path, correct: list[bool]) -> None:
    run_dir.mkdir(parents=True)
    write_test_predictions(
        run_dir,
        [
            ScoredPhoto(Path(f"{i}.jpg"), i, f"{i:064x}", "coupe", "coupe" if ok else "pickup", 0.9)
            for i, ok in enumerate(correct)
        ],
    )


def _run_tested_on(
    conn: sa.Connection,
    run_dir: Path,
    validation: float,
    test: float,
    correct: list[bool],
    fingerprint: str,
) -> int:
    """Insert the run named after ``run_dir`` with its per-photo test predictions (``correct``)
    written there, measured on the test set ``fingerprint``; return its id."""
    _predictions(run_dir, correct)
    return _run(conn, run_dir.name, validation, test, fingerprint=fingerprint, run_dir=str(run_dir))


def test_significantly_worse_on_the_same_test_set_is_not_promoted(
    workspace: Workspace, tmp_path: Path
) -> None:
    # 40 photos: the champion gets 38 right, the challenger 28; they disagree on 10 photos,
    # all in the champion's favour (p = 2 * 0.5**10, about 0.002).
    champion_right = [True] * 38 + [False] * 2
    challenger_right = [True] * 28 + [False] * 12
    with workspace.catalog.atomic() as conn:
        champion = _run_tested_on(conn, tmp_path / "champion", 0.80, 0.95, champion_right, "f" * 64)
        assert promote_if_better(conn, champion)
        challenger = _run_tested_on(
            conn, tmp_path / "challenger", 0.90, 0.70, challenger_right, "f" * 64
        )
        decision = promote(conn, challenger)
    assert not decision.promoted
    assert decision.paired is not None and decision.paired.photos == 40
    assert decision.paired.p_value == pytest.approx(2 * 0.5**10)
    assert "significantly worse on test" in decision.reason
    assert "McNemar p = 0.00195" in decision.describe()
    assert decision.verdict() == (
        "kept: significantly worse on test, McNemar p=0.00195 < 0.05 "
        "(validation 0.9000 > champion 0.8000)"
    )
    assert decision.verdict(hypothetical=True).startswith("would not be promoted: significantly")


def test_not_significantly_worse_on_test_is_promoted_with_p_value(
    workspace: Workspace, tmp_path: Path
) -> None:
    with workspace.catalog.atomic() as conn:
        champion = _run_tested_on(
            conn, tmp_path / "champion", 0.80, 0.75, [True] * 30 + [False] * 10, "a" * 64
        )
        assert promote_if_better(conn, champion)
        challenger = _run_tested_on(
            conn, tmp_path / "challenger", 0.85, 0.725, [True] * 29 + [False] * 11, "a" * 64
        )
        decision = promote(conn, challenger)
    assert decision.promoted and decision.paired is not None
    assert (decision.paired.challenger_only, decision.paired.champion_only) == (0, 1)
    assert "McNemar p = 1" in decision.describe()
    assert decision.p_value == 1.0
    assert decision.verdict() == "promoted: validation 0.8500 > champion 0.8000; McNemar p=1"


def test_runs_on_different_test_sets_are_not_compared_on_test(
    workspace: Workspace, tmp_path: Path
) -> None:
    with workspace.catalog.atomic() as conn:
        champion = _run_tested_on(conn, tmp_path / "champion", 0.80, 1.0, [True] * 40, "a" * 64)
        assert promote_if_better(conn, champion)
        challenger = _run_tested_on(
            conn, tmp_path / "challenger", 0.85, 0.0, [False] * 40, "b" * 64
        )
        decision = promote(conn, challenger)
    assert decision.promoted and decision.paired is None
    assert "not compared on test: different test sets (bbbbbbbb" in decision.describe()


def test_recorded_test_metrics_carry_their_test_set_and_each_look_counts(
    workspace: Workspace,
) -> None:
    from training.records import record_test, start_training_run

    run_id = start_training_run(
        workspace,
        name="looked-at",
        model="fast_cnn",
        data_source="catalog:default",
        split_id=None,
        run_dir="/runs/looked-at",
        config={},
    )
    assert record_test(workspace, run_id, {"accuracy": 0.75}, fingerprint="c" * 64, count=8) == 1
    assert record_test(workspace, run_id, {"accuracy": 0.5}, fingerprint="c" * 64, count=8) == 2
    with workspace.catalog.reading() as conn:
        (record,) = list_models(conn)
    assert (record.test_accuracy, record.test_fingerprint, record.test_count) == (0.5, "c" * 64, 8)
    assert record.test_looks == 2 and record.split == "-"
