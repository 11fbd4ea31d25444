"""The two Prefect flows that scheduled deployments run: a scrape and a collect-and-retrain.

Each wraps the plain flow (``flows.scrape``/``flows.retrain``) in :func:`run_recorded`, so a run
leaves a ``runs`` row of kind ``scheduled-scrape``/``scheduled-retrain`` and one summary line.
Deployments name these functions by module path (``flows.schedules.jobs.scheduled_scrape``),
and every flow run the runner starts imports them from there.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.schedules.recording import retrain_line, run_recorded, scrape_line
from pipeline.errors import CarscoutError
from pipeline.settings import Settings
from pipeline.status import SCHEDULED_RUN_KINDS
from training.config import TrainConfig

#: Flow names of the two scheduled jobs (also the ``runs.kind`` of their catalog rows).
SCRAPE_FLOW, RETRAIN_FLOW = SCHEDULED_RUN_KINDS


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


@flow(name=SCRAPE_FLOW)
def scheduled_scrape(
    settings: Settings,
    site: str,
    labels: list[str],
    base_url: str | None = None,
    max_listings: int | None = None,
    max_pages: int | None = None,
) -> Any:
    """One scheduled scrape: run the ``scrape`` flow, record it, print a one-line summary.

    Returns the scrape summary, or a Failed state for a configuration error.
    """
    from flows.scrape import scrape_flow

    params = {"site": site, "labels": labels, "base_url": base_url}
    params |= {"max_listings": max_listings, "max_pages": max_pages}
    line, result, error = run_recorded(
        settings,
        SCRAPE_FLOW,
        _runtime_params(SCRAPE_FLOW, params),
        lambda: scrape_flow(settings, site, labels, base_url, max_listings, max_pages),
        scrape_line,
    )
    return _end(line, error, result)


@flow(name=RETRAIN_FLOW)
def scheduled_retrain(
    settings: Settings,
    site: str,
    labels: list[str],
    train_config: TrainConfig,
    base_url: str | None = None,
    max_listings: int | None = None,
    max_pages: int | None = None,
    split_sizes: list[int] | None = None,
    review_budget: float = 0.12,
) -> Any:
    """One scheduled collect-and-retrain, recorded and summarised like :func:`scheduled_scrape`.

    Returns the ``collect_and_retrain`` report, or a Failed state for a configuration error.
    """
    from flows.retrain import collect_and_retrain

    params = {"site": site, "labels": labels, "base_url": base_url, "max_listings": max_listings}
    params |= {"split_sizes": split_sizes, "review_budget": review_budget}
    params |= {"model": train_config.model, "epochs": train_config.epochs}
    line, result, error = run_recorded(
        settings,
        RETRAIN_FLOW,
        _runtime_params(RETRAIN_FLOW, params),
        lambda: collect_and_retrain(
            settings,
            site,
            labels,
            train_config,
            base_url=base_url,
            max_listings=max_listings,
            max_pages=max_pages,
            split_sizes=split_sizes,
            review_budget=review_budget,
        ),
        retrain_line,
    )
    return _end(line, error, result)
