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
