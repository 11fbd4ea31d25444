"""Scheduled deployments served with Prefect's own machinery (``flow.serve`` / ``prefect.serve``).

Scheduled runs need a long-running Prefect API (``prefect server start``): the temporary server
Prefect starts for a single flow call cannot schedule. ``carscout schedule …`` builds the
deployments here and serves them until stopped (SIGTERM or Ctrl-C).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect.client.schemas.schedules import CronSchedule

from pipeline.errors import ConfigError
from pipeline.settings import Settings
from training.config import TrainConfig


def check_cron(cron: str) -> str:
    """Return ``cron`` if it is a valid 5-field cron expression, else raise ConfigError."""
    fields = cron.split()
    if len(fields) != 5:
        raise ConfigError(
            f"cron {cron!r} needs 5 fields (minute hour day month weekday), e.g. '0 3 * * *'"
        )
    try:
        CronSchedule(cron=cron)
    except ValueError as exc:
        raise ConfigError(f"cron {cron!r} is not valid ({exc}); e.g. '0 3 * * *'") from exc
    return cron


def scrape_deployment(
    settings: Settings,
    site: str,
    labels: list[str],
    cron: str,
    name: str = "scheduled-scrape",
    max_listings: int | None = None,
) -> Any:
    """Return a RunnerDeployment of the scrape flow on ``cron`` with fixed parameters."""
    from flows.scrape import scrape_flow
    from scrapers.spec import load_spec

    load_spec(site)  # a bad spec fails now, not at 3 a.m.
    return scrape_flow.to_deployment(
        name=name,
        cron=check_cron(cron),
        parameters={
            "settings": _settings_parameter(settings),
            "site": site,
            "labels": labels,
            "max_listings": max_listings,
        },
        description=f"Scrape {', '.join(labels)} from {site}",
        tags=["carscout", "scrape"],
    )


def retrain_deployment(
    settings: Settings,
    site: str,
    labels: list[str],
    cron: str,
    train_config: TrainConfig,
    name: str = "scheduled-retrain",
) -> Any:
    """Return a RunnerDeployment of ``collect_and_retrain`` on ``cron``."""
    from flows.retrain import collect_and_retrain
    from scrapers.spec import load_spec

    load_spec(site)
    return collect_and_retrain.to_deployment(
        name=name,
        cron=check_cron(cron),
        parameters={
            "settings": _settings_parameter(settings),
            "site": site,
            "labels": labels,
            "train_config": _config_parameter(train_config),
        },
        description=f"Collect {', '.join(labels)} from {site}, retrain, promote if better",
        tags=["carscout", "retrain"],
    )


def _settings_parameter(settings: Settings) -> dict[str, Any]:
    data = asdict(settings)
    data["home"] = str(settings.home)
    return data


def _config_parameter(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)


def serve(*deployments: Any) -> None:
    """Serve deployments until interrupted; their schedules fire on the Prefect server."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments)
