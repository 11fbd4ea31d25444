"""Deployments carry the right cron schedules and parameters (checked without waiting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.schedules import check_cron, retrain_deployment, scrape_deployment
from pipeline.errors import ConfigError
from pipeline.settings import load_settings
from training.config import TrainConfig


def _crons(deployment) -> list[str]:  # type: ignore[no-untyped-def]
    return [schedule.schedule.cron for schedule in deployment.schedules]


def test_scrape_and_retrain_deployments_have_their_schedules(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    scrape = scrape_deployment(settings, "demo", ["swift", "wagonr"], "0 3 * * *")
    assert scrape.name == "scheduled-scrape"
    assert _crons(scrape) == ["0 3 * * *"]
    assert scrape.parameters["labels"] == ["swift", "wagonr"]
    assert scrape.parameters["settings"]["home"] == str(tmp_path.resolve())

    retrain = retrain_deployment(
        settings, "demo", ["swift"], "30 4 * * 0", TrainConfig(weights="none")
    )
    assert _crons(retrain) == ["30 4 * * 0"]
    assert retrain.parameters["train_config"]["weights"] == "none"


@pytest.mark.usefixtures("prefect_harness")
def test_deployment_registers_with_its_schedule_on_the_prefect_api(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    settings = load_settings(home=tmp_path)
    deployment = scrape_deployment(settings, "demo", ["swift"], "15 2 * * *", name="nightly")
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id)
        schedules = client.read_deployment_schedules(deployment_id)
    assert stored.name == "nightly"
    assert [s.schedule.cron for s in schedules] == ["15 2 * * *"]
    assert stored.parameters["labels"] == ["swift"]


@pytest.mark.parametrize("cron", ["every night", "0 3 * *", "61 3 * * *"])
def test_bad_cron_is_a_clear_error(cron: str) -> None:
    with pytest.raises(ConfigError, match="cron"):
        check_cron(cron)


def test_bad_site_fails_when_scheduling_not_at_run_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        scrape_deployment(load_settings(home=tmp_path), tmp_path / "nope.toml", ["a"], "0 3 * * *")
