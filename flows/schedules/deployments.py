"""Building the Prefect deployments of the scheduled flows.

:func:`scrape_deployment` and :func:`retrain_deployment` check the request now (site spec, start
URLs, labels; cron, zone) rather than at the first tick, and return a RunnerDeployment allowing
one run at a time, whose entrypoint is the flow's module path and whose parameters are the
settings and the request, as JSON data.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

from flows.requests import RetrainRequest
from flows.schedules.jobs import scheduled_retrain, scheduled_scrape
from flows.schedules.timing import make_schedule
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from scrapers.request import ScrapeRequest


def _deployment(
    scheduled_flow: Any,
    name: str,
    schedule: CronSchedule | IntervalSchedule,
    parameters: dict[str, Any],
    description: str,
    tags: list[str],
) -> Any:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType

    if not name.strip():
        raise ConfigError("--name is empty; e.g. --name nightly-scrape")
    return scheduled_flow.to_deployment(
        name=name,
        schedules=[schedule],
        parameters=parameters,
        description=description,
        tags=tags,
        # One run at a time: a tick that finds the previous run still going is cancelled.
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        # Importable from anywhere carscout is installed (systemd units, other folders).
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def scrape_deployment(
    settings: Settings,
    request: ScrapeRequest,
    cron: str | None,
    name: str = "scheduled-scrape",
    *,
    timezone: str | None = None,
    interval: float | None = None,
) -> Any:
    """Return a RunnerDeployment of :func:`scheduled_scrape` on ``cron`` (or ``interval``),
    whose parameters are ``settings`` and ``request``.

    Raises ConfigError for a bad spec, a missing base URL, empty labels, a bad cron or zone.
    """
    request.check()  # fail now, not at 3 a.m.
    return _deployment(
        scheduled_scrape,
        name,
        make_schedule(cron, interval, timezone),
        {"settings": _settings_parameter(settings), "request": request.to_parameters()},
        f"Scrape {', '.join(request.labels)} from {request.site}",
        ["carscout", "scrape"],
    )


def retrain_deployment(
    settings: Settings,
    request: RetrainRequest,
    cron: str | None,
    name: str = "scheduled-retrain",
    *,
    timezone: str | None = None,
    interval: float | None = None,
) -> Any:
    """Return a RunnerDeployment of :func:`scheduled_retrain` on ``cron`` (or ``interval``).

    Raises ConfigError like :func:`scrape_deployment`.
    """
    request.scrape.check()
    return _deployment(
        scheduled_retrain,
        name,
        make_schedule(cron, interval, timezone),
        {"settings": _settings_parameter(settings), "request": request.to_parameters()},
        f"Collect {', '.join(request.scrape.labels)} from {request.scrape.site}, retrain, "
        "promote if better",
        ["carscout", "retrain"],
    )


def _settings_parameter(settings: Settings) -> dict[str, Any]:
    data = asdict(settings)
    data["home"] = str(settings.home)
    return data
