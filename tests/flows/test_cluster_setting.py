"""The one ``cluster`` setting: --cluster, then $CARSCOUT_CLUSTER, then carscout.toml; checked
once, shown by ``status``, refused where it would do nothing (no cluster needed here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.errors import ConfigError
from pipeline.settings import load_settings, parse_cluster
from pipeline.status import runner_status
from tests.flows.dask_processes import free_port


def test_cluster_precedence_and_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().cluster is None
    (tmp_path / "carscout.toml").write_text('cluster = "tcp://sched.lan:8786"\n')
    assert load_settings().cluster == "tcp://sched.lan:8786"
    monkeypatch.setenv("CARSCOUT_CLUSTER", "10.0.0.5:9000")  # HOST:PORT is taken as tcp
    assert load_settings().cluster == "tcp://10.0.0.5:9000"
    assert load_settings(cluster="tls://[::1]:8786").cluster == "tls://[::1]:8786"
    assert load_settings(cluster="local").cluster is None  # the flag beats env and file
    monkeypatch.setenv("CARSCOUT_CLUSTER", "")
    assert load_settings().cluster is None
    for bad in ("http://h:8786", "tcp://h", "h:99999", "tcp://h:1/path"):
        with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
            parse_cluster(bad)
    monkeypatch.delenv("CARSCOUT_CLUSTER")
    (tmp_path / "carscout.toml").write_text("cluster = 8786\n")
    with pytest.raises(ConfigError, match="cluster must be a string"):
        load_settings()


def test_status_shows_the_runner_and_other_commands_refuse_the_flag(tmp_path: Path) -> None:
    from cli.app import app

    home = str(tmp_path / "h")
    runner = CliRunner()
    assert runner.invoke(app, ["--home", home, "import", str(tmp_path / "none")]).exit_code != 0
    (tmp_path / "photos" / "swift").mkdir(parents=True)
    assert runner.invoke(app, ["--home", home, "import", str(tmp_path / "photos")]).exit_code == 0
    address = f"tcp://127.0.0.1:{free_port()}"
    shown = runner.invoke(
        app, ["--home", home, "--cluster", address, "status"], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    assert f"runner: Dask cluster {address} (not answering" in shown.output
    plain = runner.invoke(app, ["--home", home, "status"], env={"COLUMNS": "200"})
    assert "runner: default (this machine" in plain.output
    refused = runner.invoke(app, ["--home", home, "--cluster", address, "models"])
    assert isinstance(refused.exception, ConfigError)
    assert "--cluster does nothing for `carscout models`" in str(refused.exception)
    assert runner_status(None).startswith("default")


def test_the_flag_may_follow_the_command() -> None:
    from cli.app import hoist_global_options

    assert hoist_global_options(["dedup", "--cluster", "tcp://h:1", "--full"]) == [
        "--cluster", "tcp://h:1", "dedup", "--full"]  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ["import", "{photos}"],
        ["dedup"],
        ["score"],
        ["split", "--fractions", "0.6,0.2,0.2"],
        ["check-leaks", "{photos}"],
        ["run", "--quick"],
        ["schedule", "scrape", "--site", "demo", "--labels", "swift", "--cron", "0 3 * * *"],
        ["schedule", "retrain", "--cron", "0 3 * * *"],
    ],
    ids=lambda command: " ".join(command[:2]).replace(" {photos}", ""),
)
def test_an_unreachable_scheduler_stops_every_cluster_command_before_it_runs(
    tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command that takes --cluster checks the scheduler first: one line naming the fix,
    and the catalog is left as it was (no run recorded). The schedule commands check their
    Prefect server before that (skipped here: no server)."""
    import sqlalchemy as sa

    from cli.app import app
    from flows.schedules import server
    from pipeline import schema as t
    from pipeline.workspace import Workspace

    monkeypatch.setattr(server, "require_server", lambda: None)
    home, photos = tmp_path / "h", tmp_path / "photos"
    (photos / "swift").mkdir(parents=True)
    runner = CliRunner()
    assert runner.invoke(app, ["--home", str(home), "import", str(photos)]).exit_code == 0

    def runs() -> int:
        with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar_one())

    before = runs()
    address = f"tcp://127.0.0.1:{free_port()}"
    args = [part.replace("{photos}", str(photos)) for part in command]
    result = runner.invoke(app, ["--home", str(home), "--cluster", address, *args])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError), (result.output, result.exception)
    message = str(result.exception)
    assert message.startswith(f"no Dask scheduler answers at {address}") and "\n" not in message
    assert "--cluster local" in message
    assert runs() == before
