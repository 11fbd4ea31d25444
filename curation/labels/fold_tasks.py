"""The out-of-fold loop of every scoring source, and where its folds are fit.

:func:`out_of_fold` is the one loop: it splits the photos into stratified folds, has each fold's
model fit on the other folds and predict the held-out photos, and puts the predictions back in
the photos' order, so every photo's probabilities come from a model that never saw it. The
linear model, the shape classifier, the CNN and auto's stacked blend each give it only their
fold function.

The folds are independent fits, so each fold can run as one task wherever a
:data:`pipeline.shards.ShardMap` sends it (a Dask worker under ``--cluster``). The caller that
has such a map opens :func:`folds_on` around the scoring; :func:`out_of_fold` asks
:func:`fold_map` for it, so the scoring functions between the two need not pass it along. The
fold functions are module-level and get their data as arguments: a worker needs nothing but
carscout installed. Each fold's rows and seeds are chosen before any fold runs, so the results
are the same wherever it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.shards import ShardMap, serial_map

_FOLD_MAP: ContextVar[ShardMap | None] = ContextVar("carscout_fold_map", default=None)


@contextmanager
def folds_on(map_shards: ShardMap | None) -> Iterator[None]:
    """Within the block, fit the out-of-fold models' folds through ``map_shards`` (None: here)."""
    token = _FOLD_MAP.set(map_shards)
    try:
        yield
    finally:
        _FOLD_MAP.reset(token)


def fold_map() -> ShardMap:
    """Return the map the folds run through: the one :func:`folds_on` set, else one by one."""
    return _FOLD_MAP.get() or serial_map


def fold_count(y: np.ndarray, folds: int) -> int:
    """Return how many folds ``y`` (class indices) is split into: ``folds``, lowered to the
    smallest class's count, at least 2."""
    return max(2, min(folds, int(np.bincount(y).min())))


@dataclass(frozen=True)
class OutOfFold:
    """What :func:`out_of_fold` gives back for N photos: ``probabilities`` ``(N, C)``, ``fold``
    ``(N,)`` (the fold each photo was held out in), and per fold, in order, the ``tasks`` its
    function was given and the ``results`` it returned."""

    probabilities: np.ndarray
    fold: np.ndarray
    tasks: list[Any]
    results: list[Any]


def default_task(k: int, train: np.ndarray, held_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return a fold's task as most fold functions take it: ``(train rows, held-out rows)``."""
    return train, held_out


def out_of_fold(
    fit_fold: Callable[[Any], Any],
    y: np.ndarray,
    classes: int,
    folds: int,
    seed: int,
    task: Callable[[int, np.ndarray, np.ndarray], Any] = default_task,
    here: bool = False,
) -> OutOfFold:
    """Fit one model per stratified fold of ``y`` on the other folds; return :class:`OutOfFold`.

    ``task(k, train, held_out)`` makes fold ``k``'s task (default ``(train, held_out)``); it is
    called for every fold, in order, before any fold is fit, so a seeded choice it makes is the
    same wherever the folds run. ``fit_fold(task)`` returns the held-out rows' probabilities
    ``(len(held_out), classes)``, or a tuple whose first item they are. The folds run through
    :func:`fold_map`, or here one after the other with ``here`` (a fold function that needs
    this process, like the CNN's on a memory-mapped pixel file). ``folds`` is lowered by
    :func:`fold_count`; the split is scikit-learn's shuffled ``StratifiedKFold``.
    """
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=fold_count(y, folds), shuffle=True, random_state=seed)
    splits = list(cv.split(np.zeros(len(y)), y))
    tasks = [task(k, train, held_out) for k, (train, held_out) in enumerate(splits)]
    results = list((serial_map if here else fold_map())(fit_fold, tasks))
    probabilities = np.zeros((len(y), classes))
    fold = np.zeros(len(y), np.int32)
    for k, ((_, held_out), result) in enumerate(zip(splits, results, strict=True)):
        probabilities[held_out] = result[0] if isinstance(result, tuple) else result
        fold[held_out] = k
    return OutOfFold(probabilities, fold, tasks, results)
