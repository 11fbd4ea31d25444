"""Building the Prefect deployments of the scheduled flows.

:func:`scrape_deployment` and :func:`retrain_deployment` check the options now (site spec, start
URLs, labels, cron, zone) rather than at the first tick, and return a RunnerDeployment allowing
one run at a time, whose entrypoint is the flow's module path.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

from flows.schedules.jobs import scheduled_retrain, scheduled_scrape
from flows.schedules.timing import make_schedule
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from training.config import TrainConfig


def _check_site(site: str, base_url: str | None, labels: list[str]) -> None:
    """Fail now, not at 3 a.m.: labels are given, the spec loads and each label's start URL
    resolves."""
    from scrapers.spec import load_spec

    if not labels:
        raise ConfigError("--labels is empty; e.g. --labels swift,wagonr")

    spec = load_spec(site, base_url=base_url)
    for label in labels:
        spec.start_url_for(label)


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
    site: str,
    labels: list[str],
    cron: str | None,
    name: str = "scheduled-scrape",
    max_listings: int | None = None,
    *,
    base_url: str | None = None,
    max_pages: int | None = None,
    timezone: str | None = None,
    interval: float | None = None,
) -> Any:
    """Return a RunnerDeployment of :func:`scheduled_scrape` on ``cron`` (or ``interval``).

    Raises ConfigError for a bad spec, a missing base URL, empty labels, a bad cron or zone.
    """
    _check_site(site, base_url, labels)
    return _deployment(
        scheduled_scrape,
        name,
        make_schedule(cron, interval, timezone),
        {
            "settings": _settings_parameter(settings),
            "site": str(site),
            "labels": labels,
            "base_url": base_url,
            "max_listings": max_listings,
            "max_pages": max_pages,
        },
        f"Scrape {', '.join(labels)} from {site}",
        ["carscout", "scrape"],
    )


def retrain_deployment(
    settings: Settings,
    site: str,
    labels: list[str],
    cron: str | None,
    train_config: TrainConfig,
    name: str = "scheduled-retrain",
    *,
    base_url: str | None = None,
    max_listings: int | None = None,
    max_pages: int | None = None,
    split_sizes: tuple[int, int, int] | list[int] | None = None,
    review_budget: float = 0.12,
    timezone: str | None = None,
    interval: float | None = None,
) -> Any:
    """Return a RunnerDeployment of :func:`scheduled_retrain` on ``cron`` (or ``interval``).

    Raises ConfigError like :func:`scrape_deployment`, and for a review budget outside 0–1.
    """
    if not 0 <= review_budget <= 1:
        raise ConfigError(f"--review-budget {review_budget} must be between 0 and 1, e.g. 0.12")
    _check_site(site, base_url, labels)
    return _deployment(
        scheduled_retrain,
        name,
        make_schedule(cron, interval, timezone),
        {
            "settings": _settings_parameter(settings),
            "site": str(site),
            "labels": labels,
            "train_config": _config_parameter(train_config),
            "base_url": base_url,
            "max_listings": max_listings,
            "max_pages": max_pages,
            "split_sizes": list(split_sizes) if split_sizes else None,
            "review_budget": review_budget,
        },
        f"Collect {', '.join(labels)} from {site}, retrain, promote if better",
        ["carscout", "retrain"],
    )


def _settings_parameter(settings: Settings) -> dict[str, Any]:
    data = asdict(settings)
    data["home"] = str(settings.home)
    return data


def _config_parameter(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)
