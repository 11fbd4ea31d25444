"""Scheduled runs whose machine was lost: marked Crashed by the Prefect server, so the next tick
runs.

A run a Prefect worker starts is a process of its own session. When its machine is lost (the
worker and the run killed together), Prefect still shows the run ``Running`` and it keeps the
schedule's one-run-at-a-time slot until the slot's lease expires (300 s by default), cancelling
every tick meanwhile. So every run deployed to a work pool sends a heartbeat event every
:data:`HEARTBEAT_SECONDS` (:func:`heartbeat_job_variables`), and :func:`ensure_zombie_automation`
creates, once per server, Prefect's automation for "zombie" runs (Prefect 3 docs, "Detect zombie
flows"): a run from which neither a heartbeat nor a final state arrives within
:data:`SILENT_SECONDS` is set ``Crashed``, which gives its slot back at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

#: Seconds between a run's heartbeats (Prefect's minimum; its default is 180).
HEARTBEAT_SECONDS = 30
#: A run silent this long (three missed heartbeats) is marked Crashed.
SILENT_SECONDS = 90
AUTOMATION_NAME = "carscout: crash scheduled runs that stopped sending heartbeats"


def heartbeat_job_variables(job_variables: dict[str, Any] | None) -> dict[str, Any]:
    """Return ``job_variables`` with the run's environment asking for a heartbeat every
    :data:`HEARTBEAT_SECONDS` (a value the deployment sets itself is kept)."""
    variables = dict(job_variables or {})
    env = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)}
    variables["env"] = env | dict(variables.get("env") or {})
    return variables


def ensure_zombie_automation(silent_seconds: int = SILENT_SECONDS) -> bool:
    """Create the automation that marks silent runs Crashed on the server of
    ``PREFECT_API_URL``, unless one of :data:`AUTOMATION_NAME` exists; return whether it was
    created."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    try:
        Automation.read(name=AUTOMATION_NAME)
        return False
    except ValueError:  # not found
        pass
    Automation(
        name=AUTOMATION_NAME,
        description="Marks a flow run Crashed when its heartbeats stop (its machine was lost), "
        "so that the schedule's concurrency slot is given back and the next tick runs.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=silent_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {silent_seconds} s: its machine or process was lost",
            )
        ],
    ).create()
    return True
