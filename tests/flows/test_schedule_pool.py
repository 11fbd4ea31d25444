"""``carscout schedule scrape --pool`` against a real ``prefect server start``, a process work
pool and two ``prefect worker start --pool`` processes, each in its own folder, writing into one
PostgreSQL catalog.

Two schedules scrape two copies of the same demo marketplace (the same photos, two ports) on a
10-second interval. Each worker runs one flow run at a time (``--limit 1``), so the two runs
overlapping in time means they ran on the two workers at once; the catalog holds each photo
once and both runs are recorded. Then ``schedule list``, ``pause``, ``resume`` and ``remove``
on the pool's deployments.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import sqlalchemy as sa

from pipeline import schema as t
from pipeline.settings import load_settings
from pipeline.workspace import Workspace
from scrapers.demo_site import FaultConfig
from tests.flows.prefect_server import BIN, Procs, prefect_server, wait_for  # noqa: F401
from tests.postgres import PostgresServer, postgres_server  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(300)

POOL = "carscout-ci"


def _carscout(procs: Procs, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "carscout"), *args],
        env=procs.env | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _all(*started: subprocess.Popen[str]) -> list[str]:
    """Wait for commands started together; return their outputs (each must succeed)."""
    outputs = []
    for process in started:
        output, _ = process.communicate(timeout=90)
        assert process.returncode == 0, f"{process.args}: {output}"
        outputs.append(output)
    return outputs


_MANAGE = """
import json, sys
from typer.testing import CliRunner
from cli.app import app
outputs = []
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, ["schedule", *args], env={"COLUMNS": "250"})
    if result.exit_code != 0:
        sys.exit(f"{args}: {result.output}{result.exception!r}")
    outputs.append(result.output)
print(json.dumps(outputs))
"""


def _manage(procs: Procs, env: dict[str, str], *commands: list[str]) -> list[str]:
    """Run ``carscout schedule COMMAND`` for each of ``commands`` in one fresh process, in
    order; return their outputs."""
    done = subprocess.run(
        [sys.executable, "-c", _MANAGE, json.dumps(commands)],
        env=procs.env | env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def _deployments(api: str) -> dict[str, bool]:
    """Return the server's carscout-test deployments: name -> paused."""
    found = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    return {d["name"]: d["paused"] for d in found if d["name"].startswith("site-")}


def _runs(home: Path) -> list[dict[str, Any]]:
    settings = load_settings(home=home)
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        query = sa.select(t.runs).where(t.runs.c.kind == "scheduled-scrape")
        return [dict(row) for row in conn.execute(query.order_by(t.runs.c.id)).mappings()]


class Shared(NamedTuple):
    """The server's ``api`` URL and process keeper, the data home every worker sees at this
    path, and the environment the commands and workers get (its catalog, a poll every 2 s)."""

    api: str
    procs: Procs
    home: Path
    env: dict[str, str]


@pytest.fixture
def shared(
    prefect_server: tuple[str, Procs],  # noqa: F811 - fixture
    postgres_server: PostgresServer,  # noqa: F811 - fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Shared:
    """A data home on a fresh PostgreSQL catalog of the shared server, beside the Prefect one."""
    url = postgres_server.fresh_url()
    home = tmp_path / "shared-home"
    monkeypatch.setenv("CARSCOUT_CATALOG_URL", url)
    with Workspace.open(load_settings(home=home), create=True):
        pass
    env = {"CARSCOUT_CATALOG_URL": url, "PREFECT_WORKER_QUERY_SECONDS": "2"}
    return Shared(*prefect_server, home, env)


def _schedule_scrape(
    procs: Procs, env: dict[str, str], home: Path, name: str, base_url: str
) -> subprocess.Popen[str]:
    """Start ``carscout schedule scrape --pool``: the demo site at ``base_url``, 2 listings a
    label every 10 seconds, deployed to the pool as ``name``."""
    return _carscout(
        procs, env, "--home", str(home), "schedule", "scrape", "--site", "demo",
        "--labels", "swift,wagonr", "--base-url", base_url, "--interval", "10",
        "--max-listings", "2", "--name", name, "--pool", POOL,
    )  # fmt: skip


def _start_worker(
    procs: Procs, env: dict[str, str], folder: Path, name: str
) -> subprocess.Popen[bytes]:
    """Start ``prefect worker start --pool`` running one flow run at a time, in ``folder`` (its
    own working folder, as on its own machine) and a process group of its own."""
    folder.mkdir()
    return subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "1",
         "--name", name, "--type", "process"],
        cwd=folder, env=procs.env | env, start_new_session=True,
        stdout=(folder / "log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    """Stop each worker and any flow run it started (its process group): SIGTERM, then
    SIGKILL after 30 s."""
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)


def test_two_scheduled_scrapes_run_at_once_on_two_workers_into_one_catalog(  # type: ignore[no-untyped-def]
    shared: Shared, demo_site_factory, tmp_path: Path
) -> None:
    api, procs, home, env = shared
    # Two servers of the same site (the same photos), each a little slow so that a scrape
    # lasts several seconds.
    slow = FaultConfig(slow=1.0, slow_delay_s=0.2)
    sites = {"site-a": demo_site_factory(faults=slow), "site-b": demo_site_factory(faults=slow)}
    deployed = _all(
        *(_schedule_scrape(procs, env, home, name, site.base_url) for name, site in sites.items())
    )
    assert all(f"to work pool '{POOL}'" in output for output in deployed), deployed
    workers = [_start_worker(procs, env, tmp_path / n, n) for n in ("worker-1", "worker-2")]
    try:

        def both_ok() -> list[dict[str, Any]]:
            ok = {r["params"]["deployment"]: r for r in _runs(home) if r["status"] == "ok"}
            return [ok["site-a"], ok["site-b"]] if len(ok) == 2 else []

        first_a, first_b = wait_for("a completed run of each schedule", both_ok, 150, procs)
        # Each worker runs one flow run at a time: runs that overlap ran on the two workers.
        assert first_a["started_at"] < first_b["finished_at"], (first_a, first_b)
        assert first_b["started_at"] < first_a["finished_at"], (first_a, first_b)
        with Workspace.open(load_settings(home=home)) as ws, ws.catalog.reading() as conn:
            photos, distinct = conn.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(t.images.c.sha256)))
            ).one()
        assert photos == distinct > 0  # the same photos from two sites, stored once

        # The commands in one process (Prefect's import is most of a command's time here).
        outputs = _manage(procs, env, ["pause", "site-a"], ["remove", "site-b"], ["list"],
                          ["resume", "site-a"], ["list"], ["remove", "site-a"])  # fmt: skip
        assert f"removed 'site-b' from work pool '{POOL}'" in outputs[1], outputs
        row = next(line for line in outputs[2].splitlines() if "site-a" in line)
        assert "paused" in row and f"pool {POOL}" in row and "site-b" not in outputs[2], outputs
        row = next(line for line in outputs[4].splitlines() if "site-a" in line)
        assert "active" in row, outputs
        assert f"removed 'site-a' from work pool '{POOL}'" in outputs[5], outputs
        assert _deployments(api) == {}
    finally:
        _stop(workers)


def _flow_runs(api: str, deployment: str) -> list[dict[str, Any]]:
    """Return the flow runs of the deployment named ``deployment``, oldest first."""
    found = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    ids = [d["id"] for d in found if d["name"] == deployment]
    runs = httpx.post(
        f"{api}/flow_runs/filter",
        json={"flow_runs": {"deployment_id": {"any_": ids}}, "sort": "EXPECTED_START_TIME_ASC"},
        timeout=10,
    ).json()
    return list(runs)


@pytest.mark.timeout(600)
def test_a_run_whose_machine_is_lost_is_marked_crashed_and_the_next_tick_runs(  # type: ignore[no-untyped-def]
    shared: Shared, demo_site_factory, tmp_path: Path
) -> None:
    """worker-1 starts a scheduled scrape; then worker-1 and the run's process are SIGKILLed
    together, as when their machine is lost. The run stops sending heartbeats, the automation
    the deployment created marks it Crashed, which gives back the schedule's one-run slot, and
    a later tick runs to the end on worker-2, well before the slot's lease (300 s) expired."""
    import time

    import psutil

    from flows.schedules.zombies import SILENT_SECONDS

    api, procs, home, env = shared
    site = demo_site_factory(faults=FaultConfig(slow=1.0, slow_delay_s=0.5))  # runs for a while
    name = "site-lost"
    (deployed,) = _all(_schedule_scrape(procs, env, home, name, site.base_url))
    assert f"to work pool '{POOL}'" in deployed, deployed
    found = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    (variables,) = [d["job_variables"] for d in found if d["name"] == name]
    # A beat every 30 s: with Prefect's default 180 s the 90-s automation would crash every run.
    assert variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30", variables
    workers: dict[str, subprocess.Popen[bytes]] = {}

    def start_worker(worker: str) -> None:
        workers[worker] = _start_worker(procs, env, tmp_path / worker, worker)

    try:
        start_worker("worker-1")

        def running() -> list[dict[str, Any]]:
            return [r for r in _flow_runs(api, name) if r["state_type"] == "RUNNING"]

        (lost,) = wait_for("a running scheduled scrape", running, 150, procs)
        wait_for("its catalog row", lambda: _runs(home), 60, procs)
        start_worker("worker-2")
        machine = psutil.Process(workers["worker-1"].pid)
        beats = {p.environ().get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY") for p in machine.children()}
        assert beats == {"30"}, beats  # the run's own process beats every 30 s
        for process in [*machine.children(recursive=True), machine]:  # the run has a session
            with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        killed = time.monotonic()

        def crashed() -> dict[str, Any] | None:
            run = httpx.get(f"{api}/flow_runs/{lost['id']}", timeout=10).json()
            return run if run["state_type"] == "CRASHED" else None

        state = wait_for("the lost run marked Crashed", crashed, SILENT_SECONDS + 120, procs)
        assert "heartbeat" in (state["state"]["message"] or ""), state["state"]

        def next_ok() -> list[dict[str, Any]]:
            return [r for r in _runs(home) if r["status"] == "ok"]

        wait_for("the next tick's run to finish", next_ok, 200, procs)
        assert time.monotonic() - killed < 300  # the automation gave the slot back, not the lease
        statuses = [r["status"] for r in _runs(home)]
        # The lost run's row stays "running" in the catalog (its process could not finish it).
        assert statuses[0] == "running" and "ok" in statuses[1:], statuses
        assert _manage(procs, env, ["remove", name])
    finally:
        _stop(list(workers.values()))
