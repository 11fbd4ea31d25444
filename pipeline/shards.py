"""Shards: how a CPU-heavy stage hands slices of its photos to workers elsewhere.

A stage that can spread its work (hashing, feature extraction, reading imported files) takes
an optional :data:`ShardMap`: a function that runs ``work(shard)`` for every shard, wherever it
likes, and yields the results in the order of the shards. The stage itself only reads files
in ``work`` and writes the catalog when the results come back, so the catalog is only ever
written by the process that called the stage. ``flows.sharding`` supplies a map that submits
each shard as a Prefect task (on Dask workers with a ``DaskTaskRunner``); without one the
stage keeps its own in-process path.

``work`` must be a module-level function (with :func:`functools.partial` arguments at most):
it is pickled by reference to reach another process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from pipeline.errors import ConfigError

S = TypeVar("S")

# map(work, shards) -> one result per shard, in the order of ``shards``.
ShardMap = Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]]


def split(items: Sequence[S], size: int) -> list[list[S]]:
    """Return ``items`` cut into consecutive lists of at most ``size`` (none when empty)."""
    if size < 1:
        raise ValueError(f"shard size {size} must be at least 1")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def serial_map(work: Callable[[Any], Any], shards: Sequence[Any]) -> Iterator[Any]:
    """The :data:`ShardMap` that runs every shard here, one after the other."""
    for shard in shards:
        yield work(shard)


def check_shared(path: str) -> None:
    """Raise :class:`ConfigError` when ``path``, which a worker could not read, is readable here:
    the worker does not see this machine's files at the same path."""
    if os.path.isfile(path) and os.access(path, os.R_OK):
        raise ConfigError(
            f"a worker could not read {path}, which is readable here; mount the store (and any "
            "folder being imported) at the same path on every worker, or use the default runner"
        )
