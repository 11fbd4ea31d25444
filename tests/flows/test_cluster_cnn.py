"""The out-of-fold CNN's folds give the same result wherever they run: in the command's process
or as tasks on a real Dask cluster (a ``dask scheduler`` and two ``dask worker`` processes).

A Dask worker's other threads draw from Python's global random generator while a task runs; the
CNN's random layers used to take their seeds from it, so a fold trained on a worker could end
up to 0.29 apart from the same fold trained in the command's process."""

from __future__ import annotations

import mmap
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.flows.dask_processes import DaskProcesses

distributed = pytest.importorskip("distributed", reason="the dask extra: pip install -e '.[dask]'")


def _weights(seed: int) -> list[np.ndarray]:
    import keras

    from curation.labels.oof_cnn import _build

    model = _build(16, 3, seed, flip=True)
    weights = [np.array(variable.numpy()) for variable in model.variables]
    keras.backend.clear_session()
    return weights


def test_the_cnn_starts_alike_whatever_else_draws_from_pythons_random(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keras

    quiet = _weights(7)
    seed_everything = keras.utils.set_random_seed

    def then_another_thread_draws(seed: int) -> None:
        seed_everything(seed)
        random.random()  # what a worker's event loop may do while the model is built

    monkeypatch.setattr(keras.utils, "set_random_seed", then_another_thread_draws)
    disturbed = _weights(7)
    assert len(quiet) == len(disturbed) == 26  # weights, batch-norm statistics, seed states
    assert all(np.array_equal(a, b) for a, b in zip(quiet, disturbed, strict=True))
    assert not np.array_equal(quiet[0], _weights(8)[0])


def _photos(make: Any) -> tuple[np.ndarray, list[str]]:
    """Return 48 noisy 16-px photos made by ``make(shape, dtype)`` and their labels."""
    labels = ["swift", "wagonr"] * 24
    pixels = make((len(labels), 16, 16, 3), np.uint8)
    pixels[:] = np.random.default_rng(5).integers(0, 255, pixels.shape, dtype=np.uint8)
    pixels[1::2, 3:11, 3:11, 0] = 230  # a red box on every wagonr
    return pixels, labels


def test_a_memory_mapped_pixel_file_keeps_its_folds_here() -> None:
    """A catalog's pixels beyond 32 MB are a temporary file of this process: no worker could
    read it, so its folds run here whatever map the scoring was given."""
    from curation.labels.fold_tasks import folds_on
    from curation.labels.oof_cnn import out_of_fold_cnn, pixel_buffer

    def refuse(work: Any, shards: Any) -> Any:
        raise AssertionError("the folds of a pixel file were sent away")

    pixels, labels = _photos(lambda shape, _: pixel_buffer(shape[0], shape[1], 0))
    assert isinstance(pixels.base, mmap.mmap)
    with folds_on(refuse):
        found = out_of_fold_cnn(pixels, labels, folds=2, epochs=1, batch_size=16)
    assert found.probabilities.shape == (48, 2) and set(found.fold.tolist()) == {0, 1}


def test_the_cnn_folds_on_workers_equal_the_folds_here(
    dask_cluster: DaskProcesses, tmp_path: Path
) -> None:
    """``score --cluster``'s offline CNN: each fold is a task on a worker, and the out-of-fold
    probabilities and embeddings equal to the bit those trained in this process, also on
    workers that ran other Keras work first."""
    from curation.labels.fold_tasks import folds_on
    from curation.labels.oof_cnn import out_of_fold_cnn
    from flows.cluster import cluster_shards
    from pipeline.settings import load_settings
    from tests.flows.test_cluster_cli import _shards_done

    pixels, labels = _photos(np.zeros)
    options = {"folds": 3, "epochs": 2, "batch_size": 8}
    here = out_of_fold_cnn(pixels, labels, **options)

    def other_work(_: int) -> int:
        import keras

        random.random()
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5)])
        model.compile("sgd", "mse")
        model.fit(np.ones((8, 4)), np.ones((8, 4)), epochs=1, verbose=0)
        return 0

    settings = load_settings(home=tmp_path, cluster=dask_cluster.address)
    with distributed.Client(dask_cluster.address, set_as_default=False) as client:
        before = sum(_shards_done(client, "folds").values())
        with cluster_shards(settings, "folds") as fold_shards, folds_on(fold_shards):
            spread = [out_of_fold_cnn(pixels, labels, **options)]
            client.gather(client.map(other_work, range(4), pure=False))
            spread.append(out_of_fold_cnn(pixels, labels, **options))
        done = sum(_shards_done(client, "folds").values()) - before
    assert done == 2 * 3  # every fold of both runs was a task on a worker
    for found in spread:
        assert np.array_equal(found.probabilities, here.probabilities)
        assert np.array_equal(found.embeddings, here.embeddings)
        assert np.array_equal(found.fold, here.fold) and found.source == here.source


def test_score_offline_with_cluster_stores_the_scores_of_the_default_runner(
    dask_cluster: DaskProcesses, tmp_path: Path
) -> None:
    """``carscout score --features offline --cluster``: the photos read into pixels and each
    CNN fold as tasks on the workers; the stored scores and queue equal the default runner's
    to the bit."""
    import shutil

    from typer.testing import CliRunner

    from cli.app import app
    from tests.flows.test_cluster_cli import _catalog_state, _draw, _shards_done

    def carscout(*args: str) -> None:
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
        assert result.exit_code == 0, f"{args}: {result.output}{result.exception!r}"

    plain = tmp_path / "plain"
    carscout("--home", str(plain), "import", str(_draw(tmp_path / "photos")))
    carscout("--home", str(plain), "dedup")
    spread = shutil.copytree(plain, tmp_path / "spread")
    score = ["score", "--features", "offline", "--folds", "3"]
    with distributed.Client(dask_cluster.address, set_as_default=False) as client:
        before = sum(_shards_done(client, "folds").values())
        carscout("--home", str(spread), "--cluster", dask_cluster.address, *score)
        folds = sum(_shards_done(client, "folds").values()) - before
    carscout("--home", str(plain), *score)
    assert folds == 3
    state = _catalog_state(spread)
    assert state["scores"] and state == _catalog_state(plain)
