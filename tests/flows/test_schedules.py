"""Deployments, schedule options, server checks and run records (checked without waiting).

The end-to-end test against a real ``prefect server start`` is test_schedule_server.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from curation.splits.policy import SplitRequest
from flows.requests import RetrainRequest
from flows.schedules.deployments import retrain_deployment, scrape_deployment
from flows.schedules.jobs import scheduled_retrain, scheduled_scrape
from flows.schedules.recording import retrain_line, run_recorded, scrape_line
from flows.schedules.server import require_server
from flows.schedules.timing import check_cron, check_timezone, local_timezone, make_schedule
from flows.scrape import retry_unless_config_error
from pipeline import schema as t
from pipeline.errors import ConfigError
from pipeline.settings import load_settings
from pipeline.status import catalog_status
from pipeline.workspace import Workspace
from scrapers.request import ScrapeRequest
from training.config import TrainConfig
from training.registry import ModelRecord
from training.registry_policy import decide
from training.registry_stats import paired_test

DEMO = "http://127.0.0.1:8123"


def _crons(deployment) -> list[str]:  # type: ignore[no-untyped-def]
    return [schedule.schedule.cron for schedule in deployment.schedules]


def test_scrape_and_retrain_deployments_have_their_schedules(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    scrape = scrape_deployment(
        settings,
        ScrapeRequest("demo", ("swift", "wagonr"), base_url=DEMO),
        "0 3 * * *",
        timezone="UTC",
    )
    assert scrape.name == "scheduled-scrape"
    assert _crons(scrape) == ["0 3 * * *"]
    assert scrape.schedules[0].schedule.timezone == "UTC"
    assert scrape.parameters["request"]["labels"] == ["swift", "wagonr"]
    assert scrape.parameters["request"]["base_url"] == DEMO
    assert scrape.parameters["settings"]["home"] == str(tmp_path.resolve())
    assert scrape.concurrency_limit == 1
    assert scrape.concurrency_options.collision_strategy == "CANCEL_NEW"

    request = RetrainRequest(
        ScrapeRequest("demo", ("swift",), base_url=DEMO, max_listings=5),
        TrainConfig(weights="none", epochs=3, image_size=48),
        split=SplitRequest(sizes=(30, 10, 10), grow_as_built=True),
        review_budget=0.2,
    )
    retrain = retrain_deployment(settings, request, "30 4 * * 0", timezone="Asia/Kolkata")
    assert _crons(retrain) == ["30 4 * * 0"]
    assert retrain.schedules[0].schedule.timezone == "Asia/Kolkata"
    params = retrain.parameters["request"]
    assert params["train"]["weights"] == "none"
    assert params["train"]["epochs"] == 3
    assert params["split"]["sizes"] == [30, 10, 10]
    assert (params["scrape"]["max_listings"], params["review_budget"]) == (5, 0.2)
    # What the deployment stores is what the flow gets back, whole and typed.
    assert scheduled_retrain.validate_parameters(retrain.parameters)["request"] == request
    assert scheduled_scrape.validate_parameters(scrape.parameters)["request"] == ScrapeRequest(
        "demo", ("swift", "wagonr"), base_url=DEMO
    )


def test_a_review_budget_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ConfigError, match="--review-budget 1.5 must be between 0 and 1"):
        RetrainRequest(ScrapeRequest("demo", ("swift",)), TrainConfig(), review_budget=1.5)


def test_interval_schedule_and_machine_timezone_by_default(tmp_path: Path) -> None:
    schedule = make_schedule(None, interval=30)
    assert schedule.interval.total_seconds() == 30
    assert make_schedule("0 3 * * *").timezone == local_timezone()
    assert check_timezone("Europe/Berlin") == "Europe/Berlin"


@pytest.mark.parametrize(
    ("cron", "interval", "timezone", "match"),
    [
        (None, None, None, "either --cron"),
        ("0 3 * * *", 30, None, "either --cron"),
        (None, 2, None, "too short"),
        ("0 3 * * *", None, "Mars/Olympus", "time zone"),
    ],
)
def test_bad_schedule_options_are_clear_errors(
    cron: str | None, interval: float | None, timezone: str | None, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        make_schedule(cron, interval, timezone)


@pytest.mark.usefixtures("prefect_harness")
def test_deployment_registers_with_its_schedule_on_the_prefect_api(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    settings = load_settings(home=tmp_path)
    deployment = scrape_deployment(
        settings, ScrapeRequest("demo", ("swift",), base_url=DEMO), "15 2 * * *", name="nightly"
    )
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id)
        schedules = client.read_deployment_schedules(deployment_id)
    assert stored.name == "nightly"
    assert [s.schedule.cron for s in schedules] == ["15 2 * * *"]
    assert stored.parameters["request"]["labels"] == ["swift"]
    assert stored.global_concurrency_limit is not None
    assert stored.global_concurrency_limit.limit == 1
    assert stored.concurrency_options.collision_strategy == "CANCEL_NEW"


@pytest.mark.parametrize("cron", ["every night", "0 3 * *", "61 3 * * *"])
def test_bad_cron_is_a_clear_error(cron: str) -> None:
    with pytest.raises(ConfigError, match="cron"):
        check_cron(cron)


def test_bad_site_fails_when_scheduling_not_at_run_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        scrape_deployment(
            load_settings(home=tmp_path), ScrapeRequest(tmp_path / "nope.toml", ("a",)), "0 3 * * *"
        )


def test_missing_base_url_fails_when_scheduling(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--base-url"):
        scrape_deployment(
            load_settings(home=tmp_path), ScrapeRequest("demo", ("swift",)), "0 3 * * *"
        )


def test_no_server_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.schedules import server

    monkeypatch.setattr(server, "prefect_api_url", lambda: None)
    with pytest.raises(ConfigError, match="prefect server start"):
        require_server()
    monkeypatch.setattr(server, "prefect_api_url", lambda: "http://127.0.0.1:9/api")
    with pytest.raises(ConfigError, match="no Prefect server answers.*PREFECT_API_URL"):
        require_server(timeout=1)


def test_config_errors_are_not_retried() -> None:
    from prefect.states import Failed

    assert not retry_unless_config_error(None, None, Failed(data=ConfigError("bad spec")))
    assert retry_unless_config_error(None, None, Failed(data=ConnectionError("reset")))


def test_runs_are_recorded_with_a_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(home=tmp_path)
    summary = {
        "labels": {"swift": {"listings_visited": 3, "photos_stored": 12}},
        "failures": {"timeout": 1},
    }
    line, result, error = run_recorded(
        settings, "scheduled-scrape", {"deployment": "nightly"}, lambda: summary, scrape_line
    )
    assert error is None and result is summary
    assert line.startswith("nightly: ok in") and "3 listings, 12 new photos, 1 failures" in line

    def broken() -> dict:
        raise ConfigError("start URL uses {base_url} but no base URL was given")

    line, _, error = run_recorded(
        settings, "scheduled-scrape", {"deployment": "nightly"}, broken, scrape_line
    )
    assert isinstance(error, ConfigError) and "FAILED" in line and "base URL" in line

    def interrupted() -> dict:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_recorded(settings, "scheduled-scrape", {"deployment": "nightly"}, interrupted, str)

    printed = capsys.readouterr().out
    assert printed.count("nightly: ") == 3
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        statuses = conn.execute(sa.select(t.runs.c.status).order_by(t.runs.c.id)).scalars().all()
        status = catalog_status(conn)
    assert statuses == ["ok", "failed", "cancelled"]
    assert [run.status for run in status.scheduled] == ["cancelled", "failed", "ok"]
    assert status.scheduled_failed == 1 and status.last_failed is not None
    assert "base URL" in status.last_failed.line


def _record(run_id: int, name: str, validation: float) -> ModelRecord:
    return ModelRecord(
        run_id, name, "fast_cnn", "challenger", "ok", f"/runs/{name}", 1, 0.8, 0.5, validation
    )


def test_retrain_line_says_what_was_collected_trained_and_promoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {
        "scrape": {"labels": {"swift": {"listings_visited": 2, "photos_stored": 9}}},
        "train": {"model": "fast_cnn"},
        "test_accuracy": 0.8125,
        "promoted": True,
        "champion": "run-3",
        "pending_review": 4,
    }
    # A report without a verdict (an older flow's) keeps the old words.
    line = retrain_line(report)
    assert "9 new photos" in line and "fast_cnn" in line and "0.812" in line
    assert "promoted (run-3)" in line and "4 photos wait for review" in line
    assert "kept the champion (run-3)" in retrain_line(report | {"promoted": False})

    # A kept challenger: the verdict says why, with McNemar's p on the shared test photos.
    paired = paired_test([True, True, False, False], [True, False, True, True])
    kept = decide(_record(7, "run-7", 0.81), _record(3, "run-3", 0.83), paired=paired)
    report |= {"promoted": False, "verdict": kept.verdict(), "p_value": kept.p_value}
    assert report["verdict"] == "kept: validation 0.8100 ≤ champion 0.8300; McNemar p=1"
    line = retrain_line(report)
    assert (
        "; champion run-3 (kept: validation 0.8100 ≤ champion 0.8300; McNemar p=1); "
        "4 photos wait for review" in line
    )
    assert "kept the champion" not in line and "promoted" not in line

    # The scheduled run's catalog row keeps that line and the verdict.
    settings = load_settings(home=tmp_path)
    recorded, _, error = run_recorded(
        settings, "scheduled-retrain", {"deployment": "weekly"}, lambda: report, retrain_line
    )
    assert error is None and recorded.endswith(line)
    assert line in capsys.readouterr().out
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        summary = conn.execute(sa.select(t.runs.c.summary)).scalar_one()
        status = catalog_status(conn)
    assert summary["line"] == recorded and status.scheduled[0].line == recorded
    assert summary["result"]["verdict"] == report["verdict"]
    assert summary["result"]["p_value"] == 1.0 and summary["result"]["promoted"] is False


def test_deployments_name_an_entrypoint_that_imports_their_flow(tmp_path: Path) -> None:
    from prefect.utilities.importtools import import_object

    settings = load_settings(home=tmp_path)
    scraping = ScrapeRequest("demo", ("swift",), base_url=DEMO)
    scrape = scrape_deployment(settings, scraping, "0 3 * * *")
    retrain = retrain_deployment(
        settings, RetrainRequest(scraping, TrainConfig(weights="none")), "0 4 * * *"
    )
    assert scrape.entrypoint == "flows.schedules.jobs.scheduled_scrape"
    assert retrain.entrypoint == "flows.schedules.jobs.scheduled_retrain"
    assert import_object(scrape.entrypoint) is scheduled_scrape
    assert import_object(retrain.entrypoint) is scheduled_retrain
    assert (scrape.flow_name, retrain.flow_name) == ("scheduled-scrape", "scheduled-retrain")
