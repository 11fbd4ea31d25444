"""The out-of-fold CNN's folds give the same result wherever they run.

A Dask worker's other threads draw from Python's global random generator while a task runs; the
CNN's random layers used to take their seeds from it, so a fold trained on a worker could end
up to 0.29 apart from the same fold trained in the command's process."""

from __future__ import annotations

import random

import numpy as np
import pytest


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
