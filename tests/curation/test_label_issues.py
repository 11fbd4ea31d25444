"""Label-issue scoring on a small generated set with injected wrong photos."""

from __future__ import annotations

import io
import os
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw

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
    outlier_scores,
    resolve_source,
    score_catalog,
)
from curation.review.queue import NOT_A_CAR, WRONG_MODEL, QueueConfig, build_queue, queue_items
from pipeline import schema as t
from pipeline.errors import CarscoutError, ConfigError
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace

SIZE = 48


def _photo(kind: str, seed: int) -> bytes:
    """Draw a tiny photo: ``wide`` (a long low body), ``tall`` (a short high body), ``page``."""
    rng = random.Random(seed)
    grey = rng.randint(90, 140)
    img = Image.new("RGB", (SIZE, SIZE), (grey, grey + 10, grey))
    draw = ImageDraw.Draw(img)
    colour = tuple(rng.randint(0, 255) for _ in range(3))
    jitter = rng.randint(-3, 3)
    if kind == "wide":
        draw.rectangle((4 + jitter, 26, 44 + jitter, 36), fill=colour)
        draw.ellipse((8 + jitter, 33, 16 + jitter, 41), fill="black")
        draw.ellipse((32 + jitter, 33, 40 + jitter, 41), fill="black")
    elif kind == "tall":
        draw.rectangle((14 + jitter, 8, 32 + jitter, 38), fill=colour)
        draw.ellipse((14 + jitter, 35, 21 + jitter, 42), fill="black")
        draw.ellipse((26 + jitter, 35, 33 + jitter, 42), fill="black")
    else:  # a document: a white page with lines of text
        img.paste((245, 245, 240), (0, 0, SIZE, SIZE))
        for row in range(6, SIZE - 4, 5):
            draw.line((4, row, rng.randint(20, 44), row), fill=(30, 30, 30))
    array = np.asarray(img).astype(np.int16)
    array += np.random.default_rng(seed).integers(-6, 7, array.shape, dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


def populate(ws: Workspace, correct: int = 20) -> dict[int, str]:
    """Put ``correct`` photos per label and 8 injected wrong ones in ``ws``.

    Returns ``{image_id: truth}`` where truth is ``"ok"``, ``"other_model"`` or ``"document"``.
    """
    truth: dict[int, str] = {}
    plan = [("swift", "wide", "ok")] * correct + [("wagonr", "tall", "ok")] * correct
    plan += [("swift", "tall", "other_model")] * 3 + [("wagonr", "wide", "other_model")] * 3
    plan += [("swift", "page", "document"), ("wagonr", "page", "document")]
    for seed, (label, kind, what) in enumerate(plan):
        result = intake_image(
            ws.catalog, ws.store, _photo(kind, seed), Provenance(label=label, source_path=f"{seed}")
        )
        assert result.image_id is not None
        truth[result.image_id] = what
    return truth


def test_offline_vector_has_the_documented_length() -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    assert offline_vector(rgb).shape == (848,)


def stored_scores(ws: Workspace, run_id: int) -> list:
    """Return the ``label_scores`` rows of one scoring run."""
    with ws.catalog.reading() as conn:
        return conn.execute(
            sa.select(t.label_scores).where(t.label_scores.c.run_id == run_id)
        ).all()


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


def test_outlier_score_ranks_a_small_cluster_of_one_wrong_kind_above_the_cars() -> None:
    # 5 near-identical "documents" among 40 cars of one label: with k = 5 their nearest
    # neighbours would be each other; k grows with the label so they still stand out.
    rng = np.random.default_rng(0)
    cars = rng.normal(0.0, 1.0, (40, 16))
    documents = rng.normal(6.0, 0.05, (5, 16))
    other_label = rng.normal(0.0, 1.0, (30, 16))
    features = np.concatenate([cars, documents, other_label])
    labels = ["swift"] * 45 + ["wagonr"] * 30
    scores = outlier_scores(features, labels, neighbours=5, components=8, neighbour_share=0.15)
    assert scores[40:45].min() > scores[:40].max()
    # A fixed k below the cluster size is what fails (the reason k now grows with the label).
    fixed = outlier_scores(features, labels, neighbours=4, components=8, neighbour_share=0.0)
    assert fixed[40:45].min() < fixed[:40].max()


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
        path.write_bytes(_photo("wide" if i else "page", i))
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


def _brute_force_outliers(reduced: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The outlier score by definition: every pairwise distance within each label."""
    scores = np.zeros(len(labels))
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        points = reduced[rows]
        distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
        np.fill_diagonal(distances, np.inf)
        mean = np.sort(distances, axis=1)[:, :k].mean(axis=1)
        scores[rows] = mean / np.median(mean)
    return scores


def test_outlier_score_is_the_mean_distance_to_the_nearest_share_of_the_label() -> None:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    features = rng.normal(0.0, 1.0, (2600, 12))
    labels = np.array(["swift"] * 1500 + ["wagonr"] * 1100)
    reduced = PCA(n_components=6, random_state=0).fit_transform(
        StandardScaler().fit_transform(features)
    )
    # Labels below the reference size are scored exactly (k = 15 % of 1,500 and of 1,100),
    # and the chunked queries (1,024 rows each) change nothing.
    expected = _brute_force_outliers(reduced, labels, 225)
    expected[1500:] = _brute_force_outliers(reduced[1500:], labels[1500:], 165)
    scores = outlier_scores(features, list(labels), components=6)
    assert np.allclose(scores, expected, atol=1e-6)


def test_outlier_score_of_a_large_label_samples_its_neighbours_and_keeps_the_ranking() -> None:
    rng = np.random.default_rng(4)
    cars = rng.normal(0.0, 1.0, (3000, 16))
    # 150 near-identical documents (5 %): a fixed small k would let them vouch for each other.
    documents = rng.normal(5.0, 0.05, (150, 16))
    features = np.concatenate([cars, documents])
    labels = ["swift"] * len(features)
    exact = outlier_scores(features, labels, components=8, reference_rows=len(features))
    sampled = outlier_scores(features, labels, components=8, reference_rows=400)
    assert sampled[3000:].min() > sampled[:3000].max()
    assert exact[3000:].min() > exact[:3000].max()
    ranks = np.argsort(np.argsort(sampled)), np.argsort(np.argsort(exact))
    assert np.corrcoef(*ranks)[0, 1] > 0.97
    # Seeded: the same inputs give the same scores.
    assert np.array_equal(
        sampled, outlier_scores(features, labels, components=8, reference_rows=400)
    )


def test_outlier_score_memory_grows_linearly_with_the_label() -> None:
    import tracemalloc

    rng = np.random.default_rng(5)

    def peak(n: int) -> int:
        features = rng.normal(0.0, 1.0, (n, 16)).astype(np.float32)
        tracemalloc.start()
        outlier_scores(features, ["swift"] * n, components=8, reference_rows=500)
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak_bytes

    small, large = peak(4000), peak(16000)
    # Linear would be 4x; a full neighbour matrix (k = 15 % of the label) would be 16x.
    assert large < 6 * small, (small, large)


def _photo_files(folder: Path, per_label: int = 10) -> tuple[list[Path], list[str]]:
    paths, labels = [], []
    for i in range(2 * per_label):
        kind, label = ("wide", "swift") if i % 2 else ("tall", "wagonr")
        path = folder / f"{i}.png"
        path.write_bytes(_photo(kind, i))
        paths.append(path)
        labels.append(label)
    return paths, labels


def test_cnn_streams_file_backed_pixels_and_repeats_itself_for_a_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmap
    import tempfile

    from curation.labels.oof_cnn import load_pixels, out_of_fold_cnn

    paths, labels = _photo_files(tmp_path, per_label=8)
    in_memory = load_pixels(paths, 16)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "pixels"))
    (tmp_path / "pixels").mkdir()
    on_file = load_pixels(paths, 16, in_memory_bytes=0)
    assert isinstance(on_file.base, mmap.mmap) and not isinstance(in_memory.base, mmap.mmap)
    assert np.array_equal(on_file, in_memory)
    assert list((tmp_path / "pixels").iterdir()) == []  # unlinked: nothing outlives the array

    def run(pixels: np.ndarray, seed: int = 0) -> object:
        return out_of_fold_cnn(pixels, labels, folds=2, epochs=2, seed=seed, batch_size=8)

    # The same seed gives the same results, from memory or streamed from the file.
    first, streamed, other = run(in_memory), run(on_file), run(on_file, 1)
    assert np.allclose(streamed.probabilities, first.probabilities, atol=1e-5)
    assert np.allclose(streamed.embeddings, first.embeddings, atol=1e-4)
    assert np.array_equal(streamed.fold, first.fold)
    assert not np.allclose(other.probabilities, first.probabilities, atol=1e-5)


def test_pixels_without_room_for_their_file_say_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from curation.labels.oof_cnn import pixel_buffer

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(CarscoutError, match="set TMPDIR to a folder with more free space"):
        pixel_buffer(10, 16, in_memory_bytes=0)


def test_scoring_the_catalog_reads_pixels_into_a_file_beyond_the_memory_limit(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmap
    import tempfile

    from curation.labels import oof_cnn
    from curation.labels.inputs import image_inputs

    paths, _ = _photo_files(tmp_path, per_label=3)
    monkeypatch.setattr(oof_cnn, "PIXELS_IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "pixels"))
    (tmp_path / "pixels").mkdir()
    inputs = image_inputs(paths, source="offline", cnn_size=16)
    assert inputs.pixels is not None and isinstance(inputs.pixels.base, mmap.mmap)
    assert np.array_equal(inputs.pixels, oof_cnn.load_pixels(paths, 16, in_memory_bytes=10**9))
    populate(workspace, correct=4)
    config = ScoreConfig(source="offline", cnn_epochs=1, cnn_size=16, cnn_folds=2)
    run = score_catalog(workspace, config)
    assert len(stored_scores(workspace, run.run_id)) == 4 * 2 + 8
    assert list((tmp_path / "pixels").iterdir()) == []


def test_cnn_training_sample_caps_each_label_with_a_seeded_sample() -> None:
    from curation.labels.oof_cnn import training_sample

    train = np.arange(5, 105)
    y = np.zeros(110, int)
    y[75:] = 1  # rows 5..74 label 0 (70), rows 75..104 label 1 (30)
    capped = training_sample(train, y, 20, [0, 1])
    assert np.array_equal(capped, np.sort(capped)) and len(set(capped.tolist())) == 40
    assert set(capped.tolist()) <= set(train.tolist())
    assert np.bincount(y[capped]).tolist() == [20, 20]
    assert np.array_equal(training_sample(train, y, 20, [0, 1]), capped)
    assert not np.array_equal(training_sample(train, y, 20, [0, 2]), capped)
    # A label under the cap keeps every row; no cap or a cap above both labels changes nothing.
    assert np.bincount(y[training_sample(train, y, 50, [0, 1])]).tolist() == [50, 30]
    assert training_sample(train, y, 70, [0, 1]) is train
    assert training_sample(train, y, None, [0, 1]) is train


def test_capped_cnn_training_still_predicts_every_photo_out_of_fold(tmp_path: Path) -> None:
    from curation.labels.oof_cnn import load_pixels, out_of_fold_cnn

    paths, labels = _photo_files(tmp_path, per_label=8)
    pixels = load_pixels(paths, 16)

    def run(cap: int | None) -> object:
        return out_of_fold_cnn(pixels, labels, folds=2, epochs=2, batch_size=8, train_per_label=cap)

    # Two folds of 8 photos a label: each fold's model sees 4 of each label.
    full, at_cap, capped = run(None), run(4), run(2)
    assert np.array_equal(at_cap.probabilities, full.probabilities)
    assert at_cap.source == full.source and "train<=" not in full.source
    assert capped.source.endswith(",train<=2/label")
    assert np.allclose(capped.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(capped.probabilities > 0) and np.array_equal(capped.fold, full.fold)
    assert not np.allclose(capped.probabilities, full.probabilities, atol=1e-4)


def test_rows_of_a_pixel_file_are_read_without_mapping_them_and_its_file_closes_with_it() -> None:
    import gc

    from curation.labels import oof_cnn

    pixels = oof_cnn.pixel_buffer(500, 8, in_memory_bytes=0)
    pixels[:] = np.random.default_rng(0).integers(0, 256, pixels.shape, dtype=np.uint8)
    assert oof_cnn._file_of(pixels) is not None and oof_cnn._file_of(pixels[10:20]) is None
    rows = np.array([0, 1, 2, 7, 100, 101, 499])  # runs of consecutive rows and single ones
    assert np.array_equal(oof_cnn.read_rows(pixels, rows), pixels[rows])
    in_memory = np.array(pixels)
    assert oof_cnn._file_of(in_memory) is None
    assert np.array_equal(oof_cnn.read_rows(in_memory, rows), pixels[rows])
    fd = oof_cnn._file_of(pixels)
    del pixels
    gc.collect()
    assert fd not in oof_cnn._PIXEL_FILES.values()
    with pytest.raises(OSError):
        os.fstat(fd)
