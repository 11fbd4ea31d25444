"""Scheduled runs on Prefect workers: deploying to a work pool instead of serving in-process.

``carscout schedule … --pool NAME`` calls :func:`deploy_to_pool`: the pool is created if it is
missing (type ``process``), and the deployment (same flow, parameters, schedule and one-run-at-
a-time limit as a served one) is registered for it; the command then returns. Any number of
``prefect worker start --pool NAME`` processes, on machines where carscout is installed and
the catalog URL and the data home (its store) are reachable at the same paths, pick up the
runs; each run is a fresh Python process there, so one crash costs one run, not the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.schedules.managing import reset_existing
from flows.schedules.server import open_client
from flows.schedules.zombies import ensure_zombie_automation, heartbeat_job_variables
from pipeline.errors import ConfigError

#: The only work pool type carscout deploys to: each run is a subprocess of the worker.
POOL_TYPE = "process"


@dataclass(frozen=True)
class PoolDeployment:
    """A deployment registered for ``pool``: its ``name``, the ``flow`` it runs, whether it is
    ``paused`` (kept from before) and how many ``workers`` the pool has online now."""

    name: str
    flow: str
    pool: str
    paused: bool
    workers: int


def ensure_pool(client: Any, pool: str) -> None:
    """Create the work pool ``pool`` of type process if it does not exist.

    Raises :class:`ConfigError` when ``pool`` is empty or exists with another type (its
    workers would not run carscout's flows as local processes).
    """
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    if not pool.strip():
        raise ConfigError("--pool is empty; e.g. --pool carscout")
    try:
        existing = client.read_work_pool(pool)
    except ObjectNotFound:
        template = ProcessWorker.get_default_base_job_template()
        try:
            client.create_work_pool(
                WorkPoolCreate(name=pool, type=POOL_TYPE, base_job_template=template)
            )
            return
        except ObjectAlreadyExists:  # another `schedule --pool` created it meanwhile
            existing = client.read_work_pool(pool)
    if existing.type != POOL_TYPE:
        raise ConfigError(
            f"work pool {pool!r} is of type {existing.type!r}; carscout deploys to pools of type "
            f"{POOL_TYPE!r}: choose another --pool name"
        )


def _online_workers(client: Any, pool: str) -> int:
    from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus
    from prefect.client.schemas.objects import WorkerStatus

    online = WorkerFilter(status=WorkerFilterStatus(any_=[WorkerStatus.ONLINE]))
    return len(client.read_workers_for_work_pool(pool, worker_filter=online))


def deploy_to_pool(deployment: Any, pool: str) -> PoolDeployment:
    """Register ``deployment`` (from :mod:`flows.schedules.deployments`) for the work pool
    ``pool``, creating the pool if missing; return what was deployed.

    A deployment of the same name is updated: its paused state is kept and its runs already
    scheduled with the old parameters are dropped (the server schedules new ones).
    """
    with open_client() as client:
        ensure_pool(client, pool)
    ensure_zombie_automation()  # a run whose machine is lost is marked Crashed
    deployment.job_variables = heartbeat_job_variables(deployment.job_variables)
    paused = deployment.name in reset_existing([deployment.name])
    deployment.paused = paused
    deployment.apply(work_pool_name=pool)
    with open_client() as client:
        workers = _online_workers(client, pool)
    return PoolDeployment(deployment.name, deployment.flow_name, pool, paused, workers)
