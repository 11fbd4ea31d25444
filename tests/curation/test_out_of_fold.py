"""The one out-of-fold loop (curation.labels.fold_tasks) and the sampled standardize + PCA
(curation.labels.projection) that the scoring sources share."""

from __future__ import annotations

from functools import partial

import numpy as np

from curation.labels.fold_tasks import fold_count, folds_on, out_of_fold
from curation.labels.projection import sample_rows, standardized_pca
from pipeline.shards import serial_map

Y = np.array([0] * 9 + [1] * 6 + [2] * 5)


def _fit(y: np.ndarray, seen: list, task: tuple[np.ndarray, np.ndarray]) -> tuple:
    """A "model" that predicts each held-out row's share of its class in the training rows."""
    train, held_out = task
    seen.append((train, held_out))
    shares = np.bincount(y[train], minlength=3) / len(train)
    return np.tile(shares, (len(held_out), 1)), held_out


def test_every_row_is_predicted_once_by_a_fold_that_did_not_train_on_it() -> None:
    seen: list = []
    found = out_of_fold(partial(_fit, Y, seen), Y, 3, folds=4, seed=0)
    assert len(seen) == len(found.tasks) == len(found.results) == 4
    held = np.concatenate([h for _, h in seen])
    assert sorted(held.tolist()) == list(range(len(Y))), "each row held out exactly once"
    for k, (train, held_out) in enumerate(seen):
        assert not set(train.tolist()) & set(held_out.tolist())
        assert (found.fold[held_out] == k).all()
        # The fold's own prediction landed on its held-out rows.
        expected = np.bincount(Y[train], minlength=3) / len(train)
        assert np.array_equal(found.probabilities[held_out], np.tile(expected, (len(held_out), 1)))
    # Stratified: every fold holds out rows of every class.
    assert all(set(Y[h].tolist()) == {0, 1, 2} for _, h in seen)
    again = out_of_fold(partial(_fit, Y, []), Y, 3, folds=4, seed=0)
    assert np.array_equal(again.fold, found.fold), "the same seed gives the same folds"


def test_folds_are_lowered_to_the_smallest_class_and_never_below_two() -> None:
    assert fold_count(Y, 10) == 5 and fold_count(Y, 3) == 3
    assert fold_count(np.array([0, 0, 0, 1]), 5) == 2
    assert len(out_of_fold(partial(_fit, Y, []), Y, 3, folds=10, seed=1).tasks) == 5


def test_tasks_are_made_in_fold_order_before_any_fold_is_fit() -> None:
    events: list[str] = []

    def task(k: int, train: np.ndarray, held_out: np.ndarray) -> tuple:
        events.append(f"task {k}")
        return train, held_out

    def fit(rows: tuple) -> np.ndarray:
        events.append("fit")
        return np.zeros((len(rows[1]), 3))

    out_of_fold(fit, Y, 3, folds=3, seed=0, task=task)
    assert events == ["task 0", "task 1", "task 2", "fit", "fit", "fit"]


def test_folds_run_through_the_map_folds_on_sets_unless_asked_to_stay_here() -> None:
    calls: list[int] = []

    def counting_map(work, shards):  # noqa: ANN001, ANN202
        calls.append(len(shards))
        return serial_map(work, shards)

    fit = partial(_fit, Y, [])
    with folds_on(counting_map):
        mapped = out_of_fold(fit, Y, 3, folds=3, seed=0)
        here = out_of_fold(fit, Y, 3, folds=3, seed=0, here=True)
    out_of_fold(fit, Y, 3, folds=3, seed=0)  # outside the block: one by one, here
    assert calls == [3], "one map call with every fold; none for here=True or outside"
    assert np.array_equal(mapped.probabilities, here.probabilities)


def test_a_projection_fit_on_every_row_equals_scikit_learns_pipeline_in_any_chunks() -> None:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    features = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    whole = PCA(n_components=3, random_state=0).fit_transform(
        StandardScaler().fit_transform(features)
    )
    reduce = standardized_pca(features, 3, None, 0, chunk_rows=7)
    assert np.allclose(reduce(features), whole, atol=1e-5)
    assert (
        reduce(features).dtype == np.float32 and reduce(features, dtype=np.float64).dtype == float
    )
    rows = np.array([3, 9, 10, 49])
    assert np.allclose(reduce(features, rows), whole[rows], atol=1e-5)


def test_a_sample_is_drawn_only_beyond_the_limit_and_is_seeded_and_sorted() -> None:
    rows = np.arange(100, 200)
    assert sample_rows(rows, 100, np.random.default_rng(0)) is None
    first = sample_rows(rows, 30, np.random.default_rng(0))
    assert first is not None and len(set(first.tolist())) == 30
    assert np.array_equal(first, np.sort(first)) and set(first.tolist()) <= set(rows.tolist())
    assert np.array_equal(first, sample_rows(rows, 30, np.random.default_rng(0)))
    counted = sample_rows(100, 30, np.random.default_rng(0))
    assert counted is not None and counted.max() < 100
