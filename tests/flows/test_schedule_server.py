"""Scheduling end to end against a real ``prefect server start`` (the one slow schedule test).

A Prefect server on a free 127.0.0.1 port with its own PREFECT_HOME; ``carscout schedule
scrape`` on a 10-second interval against the tiny demo marketplace; the server must create a
scheduled run and the served runner must complete it into the catalog. Then the ``prefect``
CLI listings (which broke with newer FastAPI), ``carscout schedule list|pause``, and SIGTERM
during a run (slowed by the demo site's fault injection): the run ends Cancelled in Prefect and
``cancelled`` in the catalog, with no traceback. Every process is killed by process group at
the end, pass or fail.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from pipeline import schema as t
from pipeline.workspace import Workspace
from tests.flows.prefect_server import BIN, prefect_server, wait_for  # noqa: F401 - fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def _scheduled_rows(home: Path) -> list[dict[str, Any]]:
    if not (home / "catalog.sqlite").exists():
        return []
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        return [
            dict(row)
            for row in conn.execute(
                sa.select(t.runs).where(t.runs.c.kind == "scheduled-scrape").order_by(t.runs.c.id)
            ).mappings()
        ]


def _flow_runs(api: str, deployment: str) -> list[dict[str, Any]]:
    body = {"deployments": {"name": {"any_": [deployment]}}, "sort": "START_TIME_DESC"}
    response = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10)
    response.raise_for_status()
    return list(response.json())


def test_a_schedule_fires_on_a_real_prefect_server(  # type: ignore[no-untyped-def]
    prefect_server,  # noqa: F811 - fixture
    tmp_path: Path,
    demo_site,
    demo_site_factory,  # noqa: F811 - fixture
) -> None:
    api, procs = prefect_server
    carscout = [str(BIN / "carscout")]
    home = tmp_path / "home"
    serve = procs.start(
        "serve", *carscout, "--home", str(home), "schedule", "scrape", "--site", "demo",
        "--labels", "swift,wagonr", "--base-url", demo_site.base_url, "--interval", "10",
        "--name", "ci-scrape", "--max-listings", "2",
    )  # fmt: skip

    # The server schedules a run, the runner completes it, the catalog has it.
    rows = wait_for(
        "a completed scheduled run in the catalog",
        lambda: [r for r in _scheduled_rows(home) if r["status"] == "ok"],
        150,
        procs,
    )
    assert rows[0]["params"]["deployment"] == "ci-scrape"
    assert "new photos" in rows[0]["summary"]["line"]
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        images = conn.execute(sa.select(sa.func.count()).select_from(t.images)).scalar_one()
    assert images > 0
    runs = _flow_runs(api, "ci-scrape")
    completed = [r for r in runs if r["state_type"] == "COMPLETED"]
    assert completed and completed[0]["auto_scheduled"], json.dumps(runs)[:2000]
    # One summary line per run in the serve output.
    wait_for(
        "the run's summary line", lambda: "ci-scrape: ok in" in procs.output("serve"), 20, procs
    )

    # `prefect` CLI listings work with the pinned FastAPI/pydantic.
    for what in ("flow-run", "deployment"):
        listing = subprocess.run(
            [str(BIN / "prefect"), what, "ls"], env=procs.env, capture_output=True, text=True
        )
        assert listing.returncode == 0, listing.stdout + listing.stderr
    listed = subprocess.run(
        [*carscout, "schedule", "list"], env=procs.env, capture_output=True, text=True
    )
    assert listed.returncode == 0 and "ci-scrape" in listed.stdout, listed.stderr
    assert "swift" in listed.stdout, listed.stdout  # the labels, read from the stored request

    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=60) == 0
    first_output = procs.output("serve")
    assert "Traceback" not in first_output and "never awaited" not in first_output

    # SIGTERM during a run (every demo response slowed by 2 s): cancelled everywhere.
    from scrapers.demo_site import FaultConfig

    slow_site = demo_site_factory(faults=FaultConfig(slow=1.0, slow_delay_s=2.0))
    slow_home = tmp_path / "slow-home"
    slow = procs.start(
        "slow", *carscout, "--home", str(slow_home), "schedule", "scrape", "--site", "demo",
        "--labels", "swift,wagonr", "--base-url", slow_site.base_url, "--interval", "10",
        "--name", "ci-slow",
    )  # fmt: skip
    wait_for(
        "a scheduled run in progress",
        lambda: [r for r in _scheduled_rows(slow_home) if r["status"] == "running"],
        120,
        procs,
    )
    time.sleep(3)
    slow.send_signal(signal.SIGTERM)  # like systemd's KillMode=mixed: the main process only
    assert slow.wait(timeout=90) == 0
    output = procs.output("slow")
    assert "cancelled after" in output, output
    assert "Traceback" not in output and "never awaited" not in output, output
    assert [r["status"] for r in _scheduled_rows(slow_home)] == ["cancelled"]
    with Workspace.open(home=slow_home) as ws, ws.catalog.reading() as conn:
        statuses = conn.execute(sa.select(t.runs.c.status)).scalars().all()
    assert "running" not in statuses
    states = [r["state_type"] for r in _flow_runs(api, "ci-slow") if r["start_time"]]
    assert states and set(states) <= {"CANCELLED", "COMPLETED"}, states
    assert "CANCELLED" in states
