"""A real ``prefect server start`` for the schedule tests, started once per session (it takes
20-40 s), and a keeper that starts processes in their own sessions and kills each whole process
group at the end. Test modules import ``prefect_server`` (the fixture), ``Procs``, ``BIN`` and
``wait_for``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Procs:
    """Starts processes in their own sessions and kills each whole group on close."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        self.started.append((proc, log))
        return proc

    def output(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for proc, log in reversed(self.started):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=15)
                    os.killpg(proc.pid, signal.SIGKILL)  # stragglers (chromium, engines)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    continue
                break
            log.close()


def wait_for(what: str, check: Callable[[], Any], timeout: float, procs: Procs) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in procs.folder.glob("*.log")
    )
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Procs]]:
    """Yield the API URL of a ``prefect server start`` shared by the session's schedule tests
    (it takes 20-40 s to start) and the process keeper, whose processes stop at the end."""
    tmp_path = tmp_path_factory.mktemp("prefect-server")
    if shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists():
        pytest.skip("the demo spec renders with Chromium; `make setup` installs it")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k == "PREFECT_HOME"
    }
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "COLUMNS": "250",
    }
    procs = Procs(tmp_path, env)
    try:
        procs.start(
            "server", str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
            "--port", str(port), "--no-ui",
        )  # fmt: skip

        def healthy() -> bool:
            try:
                return httpx.get(f"{api}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("prefect server start", healthy, 120, procs)
        procs.env = env | {"PREFECT_API_URL": api}
        yield api, procs
    finally:
        procs.close()
