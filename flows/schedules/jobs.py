"""The two Prefect flows that scheduled deployments run: a scrape and a collect-and-retrain.

Each takes its job's request whole (:class:`scrapers.request.ScrapeRequest`,
:class:`flows.requests.RetrainRequest`) and wraps the plain flow (``flows.scrape``/
``flows.retrain``) in :func:`run_recorded`, so a run leaves a ``runs`` row of kind
``scheduled-scrape``/``scheduled-retrain`` and one summary line. Deployments name these
functions by module path (``flows.schedules.jobs.scheduled_scrape``), and every flow run the
runner starts imports them from there. Deployments stored by an older carscout, with one
parameter per option, are read through :func:`flows.schedules.legacy.upgrade_parameters`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import Flow

from flows.requests import RetrainRequest
from flows.schedules.legacy import upgrade_parameters
from flows.schedules.recording import retrain_line, run_recorded, scrape_line
from pipeline.errors import CarscoutError
from pipeline.settings import Settings
from pipeline.status import SCHEDULED_RUN_KINDS
from scrapers.request import ScrapeRequest

#: Flow names of the two scheduled jobs (also the ``runs.kind`` of their catalog rows).
SCRAPE_FLOW, RETRAIN_FLOW = SCHEDULED_RUN_KINDS


class RequestFlow(Flow[..., Any]):
    """A Prefect flow that also reads the parameters of a deployment made by an older carscout
    (one parameter per option) as today's ``settings`` and ``request``."""

    def validate_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Return the parameters cast to the flow's types, older ones upgraded first."""
        return super().validate_parameters(upgrade_parameters(self.name, parameters))

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        """Return a copy with other options that still reads older parameters."""
        copy = super().with_options(*args, **kwargs)
        # Prefect builds the copy as a plain Flow; this class adds behaviour, not state.
        copy.__class__ = type(self)
        return copy


def request_flow(name: str) -> Callable[[Callable[..., Any]], RequestFlow]:
    """Return a decorator making a function the :class:`RequestFlow` ``name``."""
    return lambda fn: RequestFlow(fn, name=name)


def _runtime_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    from prefect.runtime import deployment, flow_run

    return {
        "deployment": deployment.name or kind,
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "flow_run_name": flow_run.name,
        "scheduled_start": str(flow_run.scheduled_start_time or "") or None,
        **params,
    }


def _end(line: str, error: BaseException | None, result: dict[str, Any] | None) -> Any:
    """Return the flow's result, or a Failed state (no traceback) for a config error."""
    if error is None:
        return result
    if isinstance(error, CarscoutError):
        from prefect.states import Failed

        return Failed(message=line)
    raise error


@request_flow(SCRAPE_FLOW)
def scheduled_scrape(settings: Settings, request: ScrapeRequest) -> Any:
    """One scheduled scrape: run the ``scrape`` flow, record it, print a one-line summary.

    Returns the scrape summary, or a Failed state for a configuration error.
    """
    from flows.scrape import scrape_flow

    line, result, error = run_recorded(
        settings,
        SCRAPE_FLOW,
        _runtime_params(SCRAPE_FLOW, request.to_parameters()),
        lambda: scrape_flow(settings, request),
        scrape_line,
    )
    return _end(line, error, result)


@request_flow(RETRAIN_FLOW)
def scheduled_retrain(settings: Settings, request: RetrainRequest) -> Any:
    """One scheduled collect-and-retrain, recorded and summarised like :func:`scheduled_scrape`.

    Returns the ``collect_and_retrain`` report, or a Failed state for a configuration error.
    """
    from flows.retrain import collect_and_retrain

    line, result, error = run_recorded(
        settings,
        RETRAIN_FLOW,
        _runtime_params(RETRAIN_FLOW, request.to_parameters()),
        lambda: collect_and_retrain(settings, request),
        retrain_line,
    )
    return _end(line, error, result)
