"""Where the heavy stages run: this machine, or the Dask cluster named by ``settings.cluster``.

One setting (``--cluster``, ``$CARSCOUT_CLUSTER`` or ``cluster`` in ``carscout.toml``, resolved
by :func:`pipeline.settings.load_settings`) reaches every heavy command:

- :func:`check_cluster` answers, before anything runs, whether the scheduler is reachable and
  has workers (one :class:`ConfigError` line naming the fix otherwise);
- :func:`cluster_shards` is the :data:`pipeline.shards.ShardMap` for commands that call the
  library (``import``, ``dedup``, ``score``): each shard is one Dask task;
- :func:`stage_shards` gives the flows' stages (``run``'s curate stage, scheduled retrains)
  the same map when the settings name a cluster.

Either way the workers only read photos (the store and any folder being imported must be
mounted at the same path on every machine) and compute; the process that runs the command
alone writes the catalog and the store. A worker that dies mid-stage loses nothing: the
scheduler runs its shards again on the others, and each shard's result reaches the catalog
once, when the command collects it.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pipeline import process_env
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.shards import ShardMap

F = TypeVar("F")

#: Seconds a command waits for the scheduler (and its first worker) before giving up.
CONNECT_TIMEOUT = 10.0

_NO_EXTRA = (
    "--cluster needs the dask extra (pip install 'carscout[dask]'); install it, or run without "
    "a cluster (--cluster local, or unset CARSCOUT_CLUSTER)"
)


@dataclass(frozen=True)
class ClusterInfo:
    """A reachable Dask cluster: its scheduler ``address``, ``workers`` and their ``threads``."""

    address: str
    workers: int
    threads: int


def _import_distributed() -> Any:
    try:
        import distributed
        import prefect_dask  # noqa: F401 - the flows need it too: fail here, not mid-run
    except ImportError:
        raise ConfigError(_NO_EXTRA) from None
    return distributed


def _open_client(address: str, timeout: float) -> Any:
    """Return a Dask client of ``address``, or raise ConfigError naming the fix."""
    distributed = _import_distributed()
    parts = urlsplit(address)
    fix = (
        f"start it with `dask scheduler --port {parts.port}` on {parts.hostname} (and `dask "
        f"worker {address}` on each machine), or run here with --cluster local"
    )
    try:
        # A refused port answers at once; the client alone would retry until its timeout.
        socket.create_connection((parts.hostname, parts.port), timeout=min(timeout, 5.0)).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"no Dask scheduler answers at {address} ({reason}): {fix}") from None
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ConfigError(
            f"the Dask scheduler at {address} did not answer ({reason}): {fix}"
        ) from None


def _client_with_workers(address: str, timeout: float) -> Any:
    """Return a client of ``address`` once its scheduler has a worker; ConfigError if none."""
    client = _open_client(address, timeout)
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        client.close()
        raise ConfigError(
            f"the Dask scheduler at {address} has no workers after {timeout:.0f} s: start "
            f"`dask worker {address}` on each machine (with the store mounted at the same "
            "path), or run here with --cluster local"
        ) from None
    return client


def check_cluster(address: str, timeout: float = CONNECT_TIMEOUT) -> ClusterInfo:
    """Return the cluster at ``address`` once it has a worker (waiting up to ``timeout``).

    Raises :class:`ConfigError` (one line, naming the fix) when the dask extra is missing, no
    scheduler answers there, or none of its workers showed up.
    """
    client = _client_with_workers(address, timeout)
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        return ClusterInfo(address, len(workers), threads)
    finally:
        client.close()


def _same(value: Any) -> Any:
    return value


def apply_work(work: Callable[[Any], Any], shard: Any) -> Any:
    """Return ``work(shard)``: the task each shard becomes (``work`` is another task's result,
    fetched once by each worker that runs a shard)."""
    # A Dask worker is a process carscout did not start: set its environment before ``work``
    # loads TensorFlow (the stages import it lazily).
    process_env.configure()
    return work(shard)


def _client_map(client: Any, stage: str) -> ShardMap:
    def run(work: Callable[[Any], Any], shards: Sequence[Any]) -> Iterator[Any]:
        # A key of its own per call: two equal shards (a folder imported twice) are two tasks.
        token = uuid.uuid4().hex[:12]
        # ``work`` may carry arrays (the features every fold fits on): sent once, not once per
        # task, as the result of a task of its own, which the scheduler can compute again if
        # the worker holding it dies (scattered data would be lost with it).
        shared = client.submit(_same, work, key=f"{stage}-work-{token}")
        futures = [
            client.submit(apply_work, shared, shard, key=f"{stage}-shard-{index}-{token}")
            for index, shard in enumerate(shards)
        ]
        try:
            for future in futures:
                yield future.result()
        finally:
            client.cancel([*futures, shared])

    return run


@contextmanager
def cluster_shards(settings: Settings, *stages: str) -> Iterator[Any]:
    """Yield the :data:`ShardMap` that runs each shard of ``stage`` as a task on
    ``settings.cluster``, or None without a cluster (the stage keeps its in-process path).

    Given several stages, yields a tuple of maps (one client serves them all), e.g.
    ``cluster_shards(settings, "features", "folds")``. Raises :class:`ConfigError` like
    :func:`check_cluster` when the cluster is unusable.
    """
    if not settings.cluster:
        yield None if len(stages) == 1 else (None,) * len(stages)
        return
    client = _client_with_workers(settings.cluster, CONNECT_TIMEOUT)
    try:
        maps = tuple(_client_map(client, stage) for stage in stages)
        yield maps[0] if len(stages) == 1 else maps
    finally:
        client.close()


@contextmanager
def stage_shards(settings: Settings, *stages: str) -> Iterator[Any]:
    """Yield the map(s) a flow's stage hands its shards to, like :func:`cluster_shards`.

    With ``settings.cluster`` the shards are plain Dask tasks, as for the commands: the
    workers need no Prefect API (as Prefect tasks, each worker of a command run on Prefect's
    temporary server started a temporary server of its own). Without it, the flow's task
    runner decides (:func:`flows.sharding.shard_map`: Prefect tasks under a ``DaskTaskRunner``
    given from Python, None under the default runner).
    """
    if settings.cluster:
        with cluster_shards(settings, *stages) as maps:
            yield maps
        return
    # Imported here: workers import this module for apply_work, and need no Prefect.
    from flows.sharding import shard_map

    maps = tuple(shard_map(stage) for stage in stages)
    yield maps[0] if len(stages) == 1 else maps
