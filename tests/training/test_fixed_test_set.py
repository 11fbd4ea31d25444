"""The test set of a split version never changes, and champions are chosen on validation.

The scenario of issue 16: a split is built, a run is trained and evaluated, then a curate run
(real label scores, real review queue) sends some test photos to review. Before, those photos
silently left the test set, so the next run was scored on fewer photos than the champion and
the two figures were compared anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.app import app
from curation.labels.issues import ScoreConfig, score_catalog
from curation.review.queue import QueueConfig, build_queue
from curation.splits.build import build_split
from curation.splits.stored import fingerprint_of, load_split, read_test_set
from pipeline import schema as t
from pipeline.catalog import change_image
from pipeline.errors import CarscoutError
from pipeline.intake import Provenance, intake_file
from pipeline.workspace import Workspace
from training.config import TrainConfig
from training.data_sources import from_catalog_split
from training.evaluation import evaluate, validation_metrics
from training.registry import list_models
from training.registry_roles import promote
from training.trainer import TrainResult, train

TINY = TrainConfig(
    model="fast_cnn",
    image_size=32,
    batch_size=8,
    epochs=2,
    patience=2,
    weights="none",
    tensorboard=False,
)
LABELS = ("suzuki swift", "suzuki wagonr")


def _catalog(workspace: Workspace, folder: Path, painter, per_label: int = 20) -> None:  # noqa: ANN001
    for style, label in enumerate(LABELS):
        for i in range(per_label):
            path = painter(folder / f"{style}-{i}.jpg", style, 300 * style + i)
            intake_file(
                workspace.catalog,
                workspace.store,
                str(path),
                Provenance(label=label, source_path=str(path)),
            )


def _queue_a_share_of_each_label(workspace: Workspace) -> int:
    """Score every label (real out-of-fold scores) and queue 30% of each label for review, as
    a curate run with a large budget does; return how many test photos now wait."""
    scored = score_catalog(workspace, ScoreConfig(source="handmade"), reuse=False)
    build_queue(workspace.catalog, QueueConfig(budget=0.3, run_id=scored.run_id))
    with workspace.catalog.reading() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count(sa.distinct(t.review_items.c.image_id)))
                .join(
                    t.split_assignments,
                    t.split_assignments.c.image_id == t.review_items.c.image_id,
                )
                .where(t.review_items.c.state == "pending", t.split_assignments.c.subset == "test")
            ).scalar_one()
        )


def test_pending_reviews_leave_the_test_set_and_its_fingerprint_alone(
    workspace: Workspace, tmp_path: Path, painter
) -> None:  # noqa: ANN001
    _catalog(workspace, tmp_path / "photos", painter)
    built = build_split(workspace, fractions=(0.5, 0.25, 0.25), seed=0, phash_threshold=-1)
    assert built.test_count == built.total("test") > 0
    before = read_test_set(workspace, built.split_id)
    assert before.fingerprint == built.test_fingerprint
    assert before.fingerprint == fingerprint_of((m.sha256, m.label) for m in before.members)
    assert _queue_a_share_of_each_label(workspace) > 0
    grown = build_split(workspace)
    after = read_test_set(workspace, built.split_id)
    assert (after.fingerprint, after.count) == (before.fingerprint, before.count)
    assert (grown.test_fingerprint, grown.test_count) == (before.fingerprint, before.count)
    assert after.changed()["pending"] > 0
    # Training's reader holds no test photo (evaluate reads the whole fixed set: the scenario
    # below); the usable-only reader would have shrunk it (what the issue saw: 47, then 39).
    assert set(from_catalog_split(workspace).subsets) == {"train", "validation"}
    usable_test = [a for a in load_split(workspace) if a.subset == "test"]
    assert len(usable_test) < before.count


def test_relabelled_and_rejected_test_photos_are_scored_as_built_until_a_new_version(
    workspace: Workspace, tmp_path: Path, painter
) -> None:  # noqa: ANN001
    _catalog(workspace, tmp_path / "photos", painter, per_label=8)
    built = build_split(workspace, fractions=(0.5, 0.25, 0.25), seed=0, phash_threshold=-1)
    relabelled, rejected = read_test_set(workspace, built.split_id).members[:2]
    other = next(label for label in LABELS if label != relabelled.label)
    with workspace.catalog.atomic() as conn:
        change_image(conn, relabelled.image_id, actor="reviewer", label=other)
        change_image(conn, rejected.image_id, actor="reviewer", status="rejected")
    fixed = read_test_set(workspace, built.split_id)
    assert (fixed.fingerprint, fixed.count) == (built.test_fingerprint, built.test_count)
    assert fixed.changed() == {"relabelled": 1, "not_active": 1, "pending": 0}
    members = {m.image_id: m for m in fixed.members}
    assert members[relabelled.image_id].label == relabelled.label
    assert members[relabelled.image_id].label_now == other
    assert members[rejected.image_id].status_now == "rejected"
    # A new version applies the decision, under a new fingerprint.
    reshuffled = build_split(workspace, reshuffle=True)
    assert reshuffled.test_fingerprint != built.test_fingerprint


def test_a_test_set_changed_outside_carscout_is_refused(
    workspace: Workspace, tmp_path: Path, painter
) -> None:  # noqa: ANN001
    _catalog(workspace, tmp_path / "photos", painter, per_label=8)
    built = build_split(workspace, fractions=(0.5, 0.25, 0.25), seed=0, phash_threshold=-1)
    victim = read_test_set(workspace, built.split_id).members[0]
    with workspace.catalog.atomic() as conn:
        conn.execute(
            sa.delete(t.split_assignments).where(
                t.split_assignments.c.split_id == built.split_id,
                t.split_assignments.c.image_id == victim.image_id,
            )
        )
    with pytest.raises(CarscoutError, match="no longer matches the fingerprint.*--reshuffle"):
        read_test_set(workspace, built.split_id)


@dataclass
class Scenario:
    workspace: Workspace
    home: Path
    champion: TrainResult
    challenger: TrainResult
    first_test: dict
    second_test: dict
    pending_in_test: int


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, painter) -> Iterator[Scenario]:  # noqa: ANN001
    base = tmp_path_factory.mktemp("shrinking")
    with Workspace.open(home=base / "home") as workspace:
        _catalog(workspace, base / "photos", painter)
        build_split(workspace, fractions=(0.5, 0.25, 0.25), seed=0, phash_threshold=-1)
        first = train(TINY, from_catalog_split(workspace), workspace=workspace, name="first")
        first_test = evaluate(first.run_dir, workspace=workspace)
        with workspace.catalog.atomic() as conn:
            assert promote(conn, int(first.run_id)).promoted  # type: ignore[arg-type]
        pending_in_test = _queue_a_share_of_each_label(workspace)
        build_split(workspace)  # the retrain loop grows the split
        data = from_catalog_split(workspace)
        second = train(TINY, data, workspace=workspace, name="second")
        second_test = evaluate(second.run_dir, workspace=workspace)
        yield Scenario(
            workspace, base / "home", first, second, first_test, second_test, pending_in_test
        )


def test_test_set_is_the_same_after_a_curate_run_queues_test_photos(scenario: Scenario) -> None:
    assert scenario.pending_in_test > 0, "the scenario needs test photos waiting for review"
    first, second = scenario.first_test, scenario.second_test
    assert second["test_fingerprint"] == first["test_fingerprint"]
    assert second["count"] == first["count"]
    assert second["test_changed"]["pending"] == scenario.pending_in_test
    with scenario.workspace.catalog.reading() as conn:
        models = {m.name: m for m in list_models(conn)}
    for name in ("first", "second"):
        record = models[name]
        assert record.test_fingerprint == first["test_fingerprint"]
        assert record.test_count == first["count"]
        assert record.test_looks == 1
        assert record.split == "default v1"


def test_champion_is_chosen_on_validation_with_a_paired_test(scenario: Scenario) -> None:
    workspace = scenario.workspace
    data = from_catalog_split(workspace)
    # The champion measured on the challenger's validation photos: the same photos.
    theirs = validation_metrics(scenario.champion.run_dir, data)
    assert theirs["count"] == scenario.challenger.validation["count"]
    with workspace.catalog.atomic() as conn:
        decision = promote(
            conn,
            int(scenario.challenger.run_id),
            champion_validation=theirs["accuracy"],  # type: ignore[arg-type]
        )
    ours = scenario.challenger.validation["accuracy"]
    assert decision.champion_validation == theirs["accuracy"]
    assert decision.paired is not None, "same fingerprint: compared photo by photo"
    assert decision.paired.photos == scenario.first_test["count"]
    wins_on_validation = ours > theirs["accuracy"]
    assert decision.promoted == (wins_on_validation and not decision.paired.significantly_worse)
    if not wins_on_validation:
        assert "validation" in decision.reason
    with workspace.catalog.reading() as conn:
        champion = next(m for m in list_models(conn) if m.role == "champion")
    assert champion.name == ("second" if decision.promoted else "first")
    assert "McNemar p = " in decision.describe()


def test_evaluate_command_refuses_a_second_look_unless_again(scenario: Scenario) -> None:
    runner = CliRunner()
    home = ["--home", str(scenario.home)]
    result = runner.invoke(app, [*home, "evaluate", "first"])
    assert isinstance(result.exception, CarscoutError), result.output
    message = str(result.exception)
    assert "\n" not in message and "--again" in message and "1 look" in message
    result = runner.invoke(app, [*home, "evaluate", "first", "--again"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert scenario.first_test["test_fingerprint"][:8] in flat
    assert "looked at 2 time(s)" in flat
    assert "pending" in flat and "--reshuffle" in flat  # what changed, and how to apply it
    card = (scenario.champion.run_dir / "model_card.md").read_text()
    assert "Looked at 2 times" in card and "Not measured yet" not in card
    result = runner.invoke(app, [*home, "models"])  # 80 columns: two lines a run
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith("first ")]
    details = lines[at + 1]
    assert "split default v1" in details
    assert f"test set {scenario.first_test['test_fingerprint'][:8]} " in details
    assert f"({scenario.first_test['count']} photos)" in details and "looked at 2×" in details
