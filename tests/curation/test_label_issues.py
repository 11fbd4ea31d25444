"""Label-issue scoring on a small generated set with injected wrong photos: each feature
source, the automatic choice among them, and the review queue they fill."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from curation.labels import issues
from curation.labels.auto_source import STACK_MODEL_NAME
from curation.labels.features import compute_features, find_backbone_weights, offline_vector
from curation.labels.issues import (
    CNN_MODEL_NAME,
    SHAPE_MODEL_NAME,
    ScoreConfig,
    Scores,
    combine_scores,
    label_issue_scores,
    resolve_source,
    score_catalog,
)
from curation.review.queue import NOT_A_CAR, WRONG_MODEL, QueueConfig, build_queue, queue_items
from pipeline import schema as t
from pipeline.errors import CarscoutError, ConfigError
from pipeline.workspace import Workspace
from tests.curation.label_photos import photo, populate, stored_scores


def test_offline_vector_has_the_documented_length() -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    assert offline_vector(rgb).shape == (848,)


def test_injected_wrong_photos_score_above_correct_ones(workspace: Workspace) -> None:
    truth = populate(workspace)
    run = score_catalog(workspace, ScoreConfig(source="handmade", folds=3, neighbours=5))
    assert run.feature_source.startswith("handmade:")
    rows = stored_scores(workspace, run.run_id)
    assert len(rows) == len(truth)
    assert {r.feature_source for r in rows} == {run.feature_source}
    combined = {r.image_id: max(r.issue_score, min(1.0, r.outlier_score - 1.0)) for r in rows}
    wrong = [combined[i] for i, what in truth.items() if what != "ok"]
    right = sorted(combined[i] for i, what in truth.items() if what == "ok")
    # Every injected photo outranks at least 90 % of the correct ones.
    assert min(wrong) > right[int(0.9 * len(right)) - 1]
    by_image = {r.image_id: r for r in rows}
    for image_id, what in truth.items():
        if what == "other_model":
            row = by_image[image_id]
            assert row.suggested_label not in (None, row.label)
            assert set(row.probabilities) == {"swift", "wagonr"}

    summary = build_queue(workspace.catalog, QueueConfig(budget=0.2))
    assert summary.added == 10  # ceil(0.2 * 24) per label
    with workspace.catalog.reading() as conn:
        items = queue_items(conn)
    queued = {item.image_id: item for item in items}
    assert sum(truth[i] != "ok" for i in queued) >= 7
    assert [item.score for item in items] == sorted((item.score for item in items), reverse=True)
    assert {item.reason for item in items} <= {WRONG_MODEL, NOT_A_CAR}
    for image_id, what in truth.items():
        if what == "other_model" and image_id in queued:
            assert queued[image_id].reason == WRONG_MODEL
            assert queued[image_id].suggested_label not in (None, queued[image_id].label)


def test_backbone_needs_weights_or_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(ConfigError, match="--weights PATH"):
        compute_features([], source="backbone")
    with pytest.raises(ConfigError, match="does not exist"):
        find_backbone_weights(tmp_path / "missing.h5")


def test_default_source_chooses_among_the_offline_sources_and_says_why(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached backbone weights
    assert resolve_source(ScoreConfig()) == "offline"
    truth = populate(workspace, correct=6)
    config = ScoreConfig(cnn_epochs=1, cnn_size=16, cnn_folds=2, cnn_flip=True)
    run = score_catalog(workspace, config)
    cnn_source = "offline:oof-cnn@16px,2folds,1epochs,flip"
    shape_source = "shape:hog4-8-16@128,flip"
    by_choice = {
        "offline CNN": (cnn_source, CNN_MODEL_NAME),
        "shape features": (shape_source, SHAPE_MODEL_NAME),
        "stacked blend": (f"stacked({cnn_source}+{shape_source})", STACK_MODEL_NAME),
    }
    chosen = run.choice.removeprefix("auto chose the ").split(":")[0]
    assert (run.feature_source, run.model) == by_choice[chosen], run.choice
    # One line, with the figure it chose by and the other candidates' figures.
    assert "\n" not in run.choice and run.choice.count("log-loss") == 1
    assert all(name in run.choice for name in by_choice)
    rows = stored_scores(workspace, run.run_id)
    assert len(rows) == len(truth)
    assert {(r.feature_source, r.model) for r in rows} == {(run.feature_source, run.model)}
    assert all(0.0 <= r.issue_score <= 1.0 and r.outlier_score > 0.0 for r in rows)
    with workspace.catalog.reading() as conn:
        params, summary = conn.execute(
            sa.select(t.runs.c.params, t.runs.c.summary).where(t.runs.c.id == run.run_id)
        ).one()
    assert params["choice"] == summary["choice"] == run.choice
    # The same photos and settings again: the stored run and its choice come back.
    assert score_catalog(workspace, config).choice == run.choice
    # An explicit source makes no choice.
    assert score_catalog(workspace, replace(config, source="shape", folds=3)).choice == ""
    # A catalog too large to hold shape features: the CNN alone, and the line says why.
    monkeypatch.setattr(issues, "AUTO_SHAPE_MAX_ROWS", len(truth) - 1)
    large = score_catalog(workspace, replace(config, seed=1))
    assert large.feature_source == cnn_source and large.model == CNN_MODEL_NAME
    assert large.choice.startswith(f"auto kept to the offline CNN: {len(truth)} photos is above")
    with pytest.raises(ConfigError, match="unknown feature source"):
        resolve_source(ScoreConfig(source="imagenet"))


def test_backbone_embeddings_come_from_the_given_weights_file(tmp_path: Path) -> None:
    import keras

    from curation.labels.issues import ScoreConfig, resolve_source

    # No ImageNet download here: random weights saved to a file stand in for the real ones.
    weights = tmp_path / "mobilenet_v3_small_no_top.weights.h5"
    keras.applications.MobileNetV3Small(
        include_top=False, pooling="avg", weights=None, input_shape=(224, 224, 3)
    ).save_weights(weights)
    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.png"
        path.write_bytes(photo("wide" if i else "page", i))
        paths.append(path)

    assert resolve_source(ScoreConfig(weights=weights)) == "backbone"
    features = compute_features(paths, "backbone", weights)
    assert features.matrix.shape == (3, 576)
    assert features.source == f"backbone:MobileNetV3Small({weights.name})"
    assert np.isfinite(features.matrix).all()


def test_shape_source_ranks_the_other_body_shape_first_and_says_so(workspace: Workspace) -> None:
    truth = populate(workspace)
    run = score_catalog(workspace, ScoreConfig(source="shape", folds=3))
    assert run.feature_source == "shape:hog4-8-16@128,flip"
    assert run.model == SHAPE_MODEL_NAME
    rows = {r.image_id: r for r in stored_scores(workspace, run.run_id)}
    assert len(rows) == len(truth)
    assert all(0.0 <= r.issue_score <= 1.0 for r in rows.values())
    right = sorted(rows[i].issue_score for i, what in truth.items() if what == "ok")
    # A tall body listed as the wide one (and the reverse) outranks 90 % of the correct photos.
    for image_id, what in truth.items():
        if what == "other_model":
            assert rows[image_id].issue_score > right[int(0.9 * len(right)) - 1]


def test_snapshot_averaging_names_itself_and_keeps_probabilities_valid(
    workspace: Workspace,
) -> None:
    populate(workspace, correct=6)
    config = ScoreConfig(source="offline", cnn_epochs=2, cnn_size=16, cnn_folds=2, cnn_snapshots=2)
    run = score_catalog(workspace, config)
    assert run.feature_source == "offline:oof-cnn@16px,2folds,2epochs,flip,2snapshots"
    for row in stored_scores(workspace, run.run_id):
        assert abs(sum(row.probabilities.values()) - 1.0) < 1e-3


def test_combined_scores_average_the_probabilities_and_refuse_other_images() -> None:
    labels, classes = ["swift", "swift", "wagonr"], ["swift", "wagonr"]

    def scores(probabilities: list[list[float]], source: str) -> Scores:
        p = np.array(probabilities)
        issue, suggested = label_issue_scores(p, labels, classes)
        return Scores(labels, classes, p, issue, np.ones(3), suggested, source, source)

    cnn = scores([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]], "cnn")
    shape = scores([[0.7, 0.3], [0.1, 0.9], [0.4, 0.6]], "shape")
    both = combine_scores(cnn, shape)
    assert np.allclose(both.probabilities, [[0.8, 0.2], [0.3, 0.7], [0.3, 0.7]])
    assert both.issue[1] > both.issue[0] and both.feature_source == "cnn+shape"
    assert both.suggested[1] == "wagonr"
    relabelled = Scores(
        ["wagonr"] * 3, classes, np.full((3, 2), 0.5), np.zeros(3), np.ones(3), [None] * 3
    )
    with pytest.raises(CarscoutError, match="same images"):
        combine_scores(cnn, relabelled)
