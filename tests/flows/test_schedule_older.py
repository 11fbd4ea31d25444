"""Deployments stored by an older carscout (one parameter per option) still run, or fail with
one message naming the fix; `schedule list` reads both kinds."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from curation.splits.policy import SplitRequest
from flows.requests import RetrainRequest
from flows.schedules.jobs import scheduled_retrain, scheduled_scrape
from flows.schedules.legacy import request_of, upgrade_parameters
from pipeline import schema as t
from pipeline.errors import ConfigError
from pipeline.settings import Settings, load_settings
from pipeline.workspace import Workspace
from scrapers.request import ScrapeRequest
from training.config import TrainConfig


def _settings_parameter(settings: Settings) -> dict[str, Any]:
    return asdict(settings) | {"home": str(settings.home)}


def _older_scrape(settings: Settings, **changes: Any) -> dict[str, Any]:
    """The parameters `carscout schedule scrape` stored before the request objects."""
    return {
        "settings": _settings_parameter(settings),
        "site": "demo",
        "labels": ["swift", "wagonr"],
        "base_url": None,
        "max_listings": 4,
        "max_pages": 1,
    } | changes


def test_an_older_retrain_deployment_reads_as_a_retrain_request(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    older = _older_scrape(settings, base_url="http://127.0.0.1:8123") | {
        "train_config": asdict(TrainConfig(weights="none", epochs=3)),
        "split_sizes": [30, 10, 10],
        "review_budget": 0.2,
    }
    request = scheduled_retrain.validate_parameters(older)["request"]
    # A copy Prefect makes with other options (a worker may) reads them the same way.
    copy = scheduled_retrain.with_options(retries=1)
    assert copy.validate_parameters(older)["request"] == request
    assert request == RetrainRequest(
        ScrapeRequest(
            "demo", ("swift", "wagonr"), "http://127.0.0.1:8123", max_listings=4, max_pages=1
        ),
        TrainConfig(weights="none", epochs=3),
        split=SplitRequest(sizes=(30, 10, 10), grow_as_built=True),
        review_budget=0.2,
    )
    # What `schedule list` shows of it, and of today's parameters.
    assert request_of("scheduled-retrain", older)["scrape"]["labels"] == ["swift", "wagonr"]
    today = {"settings": older["settings"], "request": request.to_parameters()}
    assert upgrade_parameters("scheduled-retrain", today) is today
    assert request_of("scheduled-retrain", today)["scrape"]["site"] == "demo"


def test_an_older_parameter_this_carscout_cannot_place_names_the_fix(tmp_path: Path) -> None:
    older = _older_scrape(load_settings(home=tmp_path), split_fractions=[0.6, 0.2, 0.2])
    with pytest.raises(ConfigError, match=r"split_fractions.*`carscout schedule remove NAME`"):
        upgrade_parameters("scheduled-scrape", older)
    assert request_of("scheduled-scrape", older) == {}


@pytest.mark.usefixtures("prefect_harness")
def test_an_older_scrape_deployment_runs_with_its_stored_parameters(tmp_path: Path) -> None:
    from prefect.flow_engine import run_flow

    settings = load_settings(home=tmp_path)
    Workspace.open(settings, create=True).close()
    # No base URL for the demo spec: the scrape stops at once, after the run is recorded.
    state: Any = run_flow(scheduled_scrape, parameters=_older_scrape(settings), return_type="state")
    assert state.is_failed() and "--base-url" in state.message
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        row = conn.execute(sa.select(t.runs.c.kind, t.runs.c.params)).one()
    assert row.kind == "scheduled-scrape"
    assert (row.params["site"], row.params["labels"]) == ("demo", ["swift", "wagonr"])
    assert (row.params["max_listings"], row.params["max_pages"]) == (4, 1)

    unknown = _older_scrape(settings, split_fractions=[0.6, 0.2, 0.2])
    state = run_flow(scheduled_scrape, parameters=unknown, return_type="state")
    assert state.is_failed() and "`carscout schedule remove NAME`" in state.message
