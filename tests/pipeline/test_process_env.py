"""pipeline.process_env: the variables, the verbosity children inherit, the quiet import."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

from pipeline import process_env


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test reconfigure this process; the quiet set-up of conftest comes back after."""
    for name in ("CARSCOUT_VERBOSE", "TF_CPP_MIN_LOG_LEVEL", *process_env.DEFAULTS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path])
    yield
    process_env.configure(verbose=False)


def _quiet_finders() -> int:
    return sum(isinstance(f, process_env._QuietImportFinder) for f in sys.meta_path)


def test_quiet_sets_the_variables_once_and_keeps_the_users(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "5")
    assert process_env.configure() is False
    assert process_env.configure() is False
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "5"
    assert os.environ["CARSCOUT_VERBOSE"] == "0"
    assert _quiet_finders() == 1
    assert logging.getLogger("absl").level == logging.ERROR


def test_verbose_leaves_tensorflow_alone_and_children_inherit_it(restored: None) -> None:
    assert process_env.configure(verbose=True) is True
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert _quiet_finders() == 0
    assert logging.getLogger("tensorflow").level == logging.NOTSET
    # A pool or Dask worker calls configure() with no argument and gets its parent's choice.
    assert process_env.configure() is True


def _worker_view() -> tuple[str | None, str | None, int]:
    return (
        os.environ.get("CARSCOUT_VERBOSE"),
        os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
        (_quiet_finders()),
    )


def test_a_forkserver_pool_worker_is_configured_like_its_parent() -> None:
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(1, mp_context=context, initializer=process_env.configure) as pool:
        assert pool.submit(_worker_view).result(timeout=120) == ("0", "3", 1)


def test_verbose_requested_reads_the_command_line_up_to_a_double_dash() -> None:
    assert process_env.verbose_requested(["train", "--verbose"])
    assert not process_env.verbose_requested(["import", "--", "--verbose"])
    assert not process_env.verbose_requested(["status"])


def test_stderr_silenced_hides_what_c_code_writes(capfd: pytest.CaptureFixture[str]) -> None:
    with process_env.stderr_silenced():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"


def test_import_tensorflow_is_silent_once_configured() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    code = "from pipeline import process_env; process_env.configure(); import tensorflow"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stderr
