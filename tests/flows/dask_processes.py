"""A real Dask cluster for tests: ``dask scheduler`` and ``dask worker`` processes, each in its
own working folder (as on separate machines), on a free 127.0.0.1 port; a worker may be
started without a shared folder (it sees the folder empty, as a machine that lacks the mount).
:func:`running_cluster` starts one and waits for its workers; the flow tests' ``dask_cluster``
fixture (conftest.py) is one with two workers."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


def can_hide_folders() -> bool:
    """Return whether this machine lets a process see a folder empty (``unshare --mount``,
    which needs root or user namespaces)."""
    try:
        done = subprocess.run(
            ["unshare", "--mount", "sh", "-c", "mount -t tmpfs none /mnt"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DaskProcesses:
    """The scheduler's ``address`` and the ``workers``' processes (name -> Popen)."""

    root: Path
    address: str = ""
    scheduler: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _spawn(self, name: str, *args: str, hide: Path | None = None) -> subprocess.Popen[bytes]:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        command = [str(BIN / "dask"), *args]
        if hide is not None:
            # A mount namespace of its own where ``hide`` is an empty folder: a machine where
            # the shared folder is not mounted (exec: a signal reaches the worker itself).
            script = f"mount -t tmpfs none {shlex.quote(str(hide))} && exec {shlex.join(command)}"
            command = ["unshare", "--mount", "sh", "-c", script]
        with (folder / "log").open("wb") as log:
            return subprocess.Popen(command, cwd=folder, stdout=log, stderr=log, env=env)

    def start_scheduler(self) -> None:
        """Start ``dask scheduler`` in ``root/scheduler``; return once its port answers."""
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.scheduler = self._spawn(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler')}")

    def start_worker(self, name: str, hide: Path | None = None) -> None:
        """Start one single-threaded ``dask worker`` in ``root/<name>`` (its own folder);
        ``hide``: a folder the worker sees empty (see :func:`can_hide_folders`)."""
        self.workers[name] = self._spawn(
            name,
            "worker",
            self.address,
            "--nthreads",
            "1",
            "--name",
            name,
            "--no-dashboard",
            "--no-nanny",  # the process a SIGKILL hits is the worker itself
            "--local-directory",
            str(self.root / name),
            hide=hide,
        )

    def log(self, name: str) -> str:
        """Return the tail of the log of process ``name``."""
        path = self.root / name / "log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def kill(self, name: str) -> None:
        """SIGKILL the worker ``name`` (no goodbye to the scheduler) and reap it."""
        process = self.workers[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        """Stop every process still running."""
        processes = [*self.workers.values(), *([self.scheduler] if self.scheduler else [])]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def running_cluster(root: Path, *workers: str, hide: Path | None = None) -> Iterator[DaskProcesses]:
    """Start a scheduler and one single-threaded worker per name in ``workers`` (each in its own
    folder under ``root``; ``hide`` as :meth:`DaskProcesses.start_worker` says), yield them
    once every worker has joined, and stop them all on the way out."""
    import distributed

    processes = DaskProcesses(root)
    try:
        processes.start_scheduler()
        for name in workers:
            processes.start_worker(name, hide=hide)
        with distributed.Client(processes.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(len(workers), timeout=90)
        yield processes
    finally:
        processes.stop()
