"""Managing the carscout schedules registered on the Prefect server.

:func:`list_schedules`, :func:`pause_schedule`, :func:`resume_schedule` and
:func:`remove_schedule` act on the deployments of the two scheduled flows;
:func:`reset_existing` readies already registered ones for serving again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flows.schedules.legacy import request_of
from flows.schedules.server import open_client
from flows.schedules.timing import describe_schedule
from pipeline.errors import ConfigError
from pipeline.status import SCHEDULED_RUN_KINDS


@dataclass(frozen=True)
class ScheduleInfo:
    """One carscout deployment on the Prefect server, as ``carscout schedule list`` shows it."""

    name: str
    flow: str
    schedule: str
    paused: bool
    next_run: datetime | None
    last_state: str | None
    last_run: datetime | None
    site: str
    labels: list[str]
    pool: str | None = None  # the work pool whose workers run it; None: a `carscout schedule`


def _carscout_deployments(client: Any) -> list[Any]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    return list(
        client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(SCHEDULED_RUN_KINDS)))
        )
    )


def reset_existing(names: list[str]) -> set[str]:
    """Prepare already registered deployments ``names`` for serving again.

    Deletes their runs still waiting in Scheduled/Late: Prefect copies a deployment's
    parameters into each run when it schedules it, so runs scheduled before a restart would
    keep the old options; the server schedules new ones from the updated deployment. Returns
    the names of those that are paused (a served schedule stays paused until resumed).
    """
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with open_client() as client:
        existing = [d for d in _carscout_deployments(client) if d.name in names]
        for d in existing:
            waiting = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            for run in waiting:
                with contextlib.suppress(Exception):  # already started or gone: fine
                    client.delete_flow_run(run.id)
        return {d.name for d in existing if d.paused}


def _find(client: Any, name: str) -> Any:
    found = [d for d in _carscout_deployments(client) if d.name == name]
    if not found:
        names = ", ".join(sorted(d.name for d in _carscout_deployments(client))) or "none yet"
        raise ConfigError(f"no schedule named {name!r} (schedules: {names}); see `schedule list`")
    return found[0]


def list_schedules() -> list[ScheduleInfo]:
    """Return every carscout schedule on the server with its next and last run, by name."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    infos = []
    with open_client() as client:
        for d in sorted(_carscout_deployments(client), key=lambda d: d.name):
            only_this = DeploymentFilter(id=DeploymentFilterId(any_=[d.id]))
            upcoming = client.read_flow_runs(
                deployment_filter=only_this,
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
            finished = client.read_flow_runs(
                deployment_filter=only_this,
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(
                            any_=[
                                StateType.COMPLETED,
                                StateType.FAILED,
                                StateType.CANCELLED,
                                StateType.CRASHED,
                                StateType.RUNNING,
                            ]
                        )
                    )
                ),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            params = d.parameters or {}
            retrain = "train_config" in params or "train" in (params.get("request") or {})
            flow_name = "retrain" if retrain else "scrape"
            request = request_of(f"scheduled-{flow_name}", params)
            scrape = request.get("scrape", request)
            last = finished[0] if finished else None
            infos.append(
                ScheduleInfo(
                    name=d.name,
                    flow=flow_name,
                    schedule=", ".join(describe_schedule(s.schedule) for s in d.schedules)
                    or "none",
                    paused=bool(d.paused),
                    next_run=None if d.paused or not upcoming else upcoming[0].expected_start_time,
                    last_state=last.state.name if last and last.state else None,
                    last_run=(last.start_time or last.expected_start_time) if last else None,
                    site=str(scrape.get("site", "")),
                    labels=list(scrape.get("labels") or []),
                    pool=d.work_pool_name or None,
                )
            )
    return infos


def pause_schedule(name: str) -> None:
    """Pause the schedule ``name`` (no new ticks until resumed); ConfigError if unknown."""
    with open_client() as client:
        client.pause_deployment(_find(client, name).id)


def resume_schedule(name: str) -> None:
    """Resume the paused schedule ``name``; ConfigError if unknown."""
    with open_client() as client:
        client.resume_deployment(_find(client, name).id)


def remove_schedule(name: str) -> str | None:
    """Delete the deployment ``name`` and its future runs from the server; ConfigError if unknown.

    Returns the work pool it was deployed to (None for one served by `carscout schedule`). The
    catalog keeps the rows of runs that already happened.
    """
    with open_client() as client:
        deployment = _find(client, name)
        client.delete_deployment(deployment.id)
    return deployment.work_pool_name or None
