"""Shards of photos as Prefect tasks, so a flow's task runner decides where they run.

:func:`shard_map` returns the :data:`pipeline.shards.ShardMap` a flow hands to a CPU-heavy
stage (hashing, feature extraction for scoring, reading imported files): every shard becomes
one run of the :func:`photo_shard` task, submitted to the flow's task runner, and the results
come back to the flow in shard order; the flow alone writes the catalog.

With ``flow.with_options(task_runner=DaskTaskRunner(address=...))`` the shards run on the Dask
workers, which read the photos by the paths the flow gives them: the store (and a folder being
imported) must be on a filesystem every worker mounts at the same path. Workers never open
the catalog. With Prefect's default thread-pool runner :func:`shard_map` returns None and each
stage keeps its in-process path (hashing on one process pool per run), which is as fast as
before: threads in the flow's process would only share one core's worth of Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline import process_env
from pipeline.shards import ShardMap


@task(cache_policy=NO_CACHE, task_run_name="{stage}-shard-{index}")
def photo_shard(work: Callable[[Any], Any], shard: Sequence[Any], stage: str, index: int) -> Any:
    """Return ``work(shard)``: one shard of a stage, run wherever the task runner puts it."""
    process_env.configure()  # on a Dask worker, before ``work`` loads TensorFlow
    return work(shard)


def shard_map(stage: str) -> ShardMap | None:
    """Return a map that runs each shard of ``stage`` as a :func:`photo_shard` task, or None.

    None (the stage runs in-process, as without Prefect) outside a flow run and under a
    thread-pool task runner, whose tasks would run in this process anyway.
    """
    context = FlowRunContext.get()
    if context is None or isinstance(context.task_runner, ThreadPoolTaskRunner):
        return None

    def run(work: Callable[[Any], Any], shards: Sequence[Any]) -> Iterator[Any]:
        futures = [
            photo_shard.submit(work, shard, stage, index) for index, shard in enumerate(shards)
        ]
        for future in futures:
            yield future.result()

    return run
