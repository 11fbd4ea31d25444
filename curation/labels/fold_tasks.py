"""Where the out-of-fold models are fit: here, one fold after the other, or as shard tasks.

The folds of an out-of-fold model are independent fits, so each fold (fit on the other folds,
predict the held-out photos) can run as one task wherever a :data:`pipeline.shards.ShardMap`
sends it (a Dask worker under ``--cluster``). The caller that has such a map opens
:func:`folds_on` around the scoring; the fitting code asks :func:`fold_map` for it, so the
scoring functions between the two need not pass it along. The fold functions are module-level
and get their data as arguments: a worker needs nothing but carscout installed. Each fold's
rows and seeds are chosen before any fold runs, so the results are the same wherever it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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
