"""One real training run on a catalog split, then evaluate and predict on it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from curation.splits.build import build_split
from curation.splits.stored import get_split, read_test_set
from pipeline import schema as t
from pipeline.errors import CarscoutError
from pipeline.intake import Provenance, intake_file
from pipeline.workspace import Workspace
from training.config import TrainConfig
from training.data_sources import from_catalog_split
from training.evaluation import evaluate, predict
from training.labelled import LabelledFiles
from training.run_folder import cache_dir_for, file_sha256, looks_so_far
from training.trainer import TrainResult, train

CONFIG = TrainConfig(
    model="baseline_aug_dropout_bn",
    image_size=40,
    batch_size=8,
    epochs=2,
    quantize_colors=8,
    weights="none",
)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, painter
) -> Iterator[tuple[Workspace, TrainResult, LabelledFiles]]:
    """Train once on a catalog split whose test files are hidden during training."""

    base = tmp_path_factory.mktemp("trained")
    with Workspace.open(home=base / "home") as workspace:
        for style, label in enumerate(("suzuki swift", "suzuki wagonr")):
            for i in range(12):
                path = painter(base / "photos" / f"{style}-{i}.jpg", style, 50 * style + i)
                intake_file(
                    workspace.catalog,
                    workspace.store,
                    str(path),
                    Provenance(label=label, source_path=str(path)),
                )
        build_split(workspace, fractions=(0.5, 0.25, 0.25), seed=0, phash_threshold=-1)
        data = from_catalog_split(workspace)
        # Training cannot read the test set: the catalog's data holds no test photo.
        assert set(data.subsets) == {"train", "validation"}
        result = train(CONFIG, data, workspace=workspace, name="first")
        yield workspace, result, data


def test_run_folder_holds_every_output(trained) -> None:  # noqa: ANN001
    _, result, data = trained
    run = result.run_dir
    for name in (
        "model.keras",
        "class_names.json",
        "config.json",
        "history.csv",
        "curves.png",
        "confusion_matrix.png",
        "worst_mistakes.png",
        "metrics.json",
        "model_card.md",
    ):
        assert (run / name).is_file(), name
    assert json.loads((run / "class_names.json").read_text()) == ["suzuki swift", "suzuki wagonr"]
    assert TrainConfig.load(run / "config.json") == CONFIG
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"validation", "train", "best_epoch", "epochs_run"}
    assert "test" not in metrics
    validation = metrics["validation"]
    assert validation["count"] == len(data.subsets["validation"])
    assert validation["top5_accuracy"] is None  # two classes: top-5 means nothing
    assert set(validation["per_class"]) == set(data.class_names)
    assert 0 <= validation["accuracy"] <= 1
    assert metrics["epochs_run"] == 2 == len(result.history)
    assert "Not measured yet" in (run / "model_card.md").read_text()


def test_catalog_has_run_with_train_and_validation_metrics_only(trained) -> None:  # noqa: ANN001
    workspace, result, data = trained
    with workspace.catalog.reading() as conn:
        row = conn.execute(
            sa.select(t.training_runs).where(t.training_runs.c.name == "first")
        ).one()
        subsets = set(
            conn.execute(
                sa.select(t.run_metrics.c.subset).where(t.run_metrics.c.run_id == row.id)
            ).scalars()
        )
    assert (row.status, row.role, row.model) == ("finished", "challenger", CONFIG.model)
    assert row.split_id == data.split_id and row.run_dir == str(result.run_dir)
    assert row.config["quantize_colors"] == 8
    assert subsets == {"train", "validation"}


def test_quantized_photos_are_cached_with_few_colours(trained) -> None:  # noqa: ANN001
    _, result, data = trained
    cached = sorted(cache_dir_for(result.run_dir).rglob("*.png"))
    assert len(cached) == len(data.subsets["train"]) + len(data.subsets["validation"])
    with Image.open(cached[0]) as image:
        assert image.size == (40, 40)
        assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) <= 8


def test_finished_run_is_not_overwritten(trained) -> None:  # noqa: ANN001
    workspace, result, data = trained
    with pytest.raises(CarscoutError, match="finished run"):
        train(CONFIG, data, run_dir=result.run_dir)


def test_evaluate_then_predict_agrees(trained) -> None:  # noqa: ANN001
    workspace, result, data = trained
    metrics = evaluate(result.run_dir, workspace=workspace)  # the run's own source: the catalog
    assert metrics["count"] == len(read_test_set(workspace, int(data.split_id)).members) > 0
    saved = json.loads((result.run_dir / "metrics.json").read_text())
    assert saved["test"]["accuracy"] == metrics["accuracy"]
    with workspace.catalog.reading() as conn:
        recorded = dict(
            conn.execute(
                sa.select(t.run_metrics.c.name, t.run_metrics.c.value).where(
                    (t.run_metrics.c.run_id == result.run_id) & (t.run_metrics.c.subset == "test")
                )
            ).all()
        )
    assert recorded["accuracy"] == pytest.approx(metrics["accuracy"])
    with (result.run_dir / "predictions_test.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    predictions = predict(result.run_dir, [Path(r["path"]) for r in rows])
    for row, prediction in zip(rows, predictions, strict=True):
        assert prediction.label == row["predicted"]
        assert prediction.confidence == pytest.approx(float(row["confidence"]), abs=1e-4)
        assert row["sha256"] == file_sha256(Path(row["path"])) and int(row["image_id"]) > 0
    # The fingerprint of the photos scored is the split's, stored with the run's metrics.
    split = get_split(workspace)
    assert metrics["test_fingerprint"] == split.test_fingerprint
    assert metrics["count"] == split.test_count and metrics["test_looks"] == 1
    with workspace.catalog.reading() as conn:
        row = conn.execute(
            sa.select(t.training_runs).where(t.training_runs.c.id == result.run_id)
        ).one()
    assert (row.test_fingerprint, row.test_count, row.test_looks) == (
        split.test_fingerprint,
        split.test_count,
        1,
    )
    card = (result.run_dir / "model_card.md").read_text()
    assert "Not measured yet" not in card
    assert f"Accuracy {metrics['accuracy']:.4f} on {metrics['count']} held-out photos" in card
    assert split.test_fingerprint[:12] in card and "Looked at once" in card


def test_a_second_look_at_the_test_set_needs_again_and_is_counted(trained) -> None:  # noqa: ANN001
    workspace, result, _ = trained
    looks = looks_so_far(result.run_dir, workspace)
    if looks == 0:
        evaluate(result.run_dir, workspace=workspace)
        looks = 1
    metrics_before = (result.run_dir / "metrics.json").read_text()
    with pytest.raises(CarscoutError, match="already evaluated.*--again"):
        evaluate(result.run_dir, workspace=workspace)
    assert (result.run_dir / "metrics.json").read_text() == metrics_before  # nothing rewritten
    again = evaluate(result.run_dir, workspace=workspace, again=True)
    assert again["test_looks"] == looks + 1 == looks_so_far(result.run_dir, workspace)
    saved = json.loads((result.run_dir / "metrics.json").read_text())
    assert saved["test_looks"] == saved["test"]["test_looks"] == looks + 1
    assert f"Looked at {looks + 1} times" in (result.run_dir / "model_card.md").read_text()


def test_predict_names_each_photo_it_cannot_read(trained, tmp_path: Path) -> None:  # noqa: ANN001
    _, result, data = trained
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    good = data.subsets["validation"][0].path
    missing, not_image, fine = predict(result.run_dir, [tmp_path / "nope.jpg", text, good])
    assert missing.error == "no such file" and missing.index == -1
    assert not_image.error is not None and not_image.error.startswith("not an image")
    assert fine.error is None and fine.label
