"""The out-of-fold CNN's pixels: streamed from a file beyond the memory limit with the same
results, a seeded training sample per label, and pixel files that close with their arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from curation.labels.issues import (
    ScoreConfig,
    score_catalog,
)
from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace
from tests.curation.label_photos import photo_files, populate, stored_scores


def test_cnn_streams_file_backed_pixels_and_repeats_itself_for_a_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmap
    import tempfile

    from curation.labels.oof_cnn import load_pixels, out_of_fold_cnn

    paths, labels = photo_files(tmp_path, per_label=8)
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

    paths, _ = photo_files(tmp_path, per_label=3)
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

    paths, labels = photo_files(tmp_path, per_label=8)
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
