"""A scrape process's life: who runs it, the runs and browsers that dead ones left behind, and
SIGTERM handled as a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.catalog import mark_run_interrupted, running_runs
from pipeline.workspace import Workspace
from scrapers.browser import end_orphan_browsers, process_alive, process_start_ticks
from scrapers.crawl_state import STAGE


def process_identity() -> dict[str, Any]:
    """Return this process's ``pid``, ``pid_start`` (ticks since boot) and ``host``, stored in
    the run's params so a later run can tell whether it is still alive."""
    pid = os.getpid()
    return {"pid": pid, "pid_start": process_start_ticks(pid), "host": socket.gethostname()}


def mark_dead_runs(workspace: Workspace) -> list[int]:
    """Mark ``interrupted`` the scrape runs left ``running`` by a process of this machine that
    is gone (killed, crashed); return their ids. Runs of live processes stay as they are."""
    host = socket.gethostname()
    dead: list[int] = []
    with workspace.catalog.atomic() as conn:
        for row in running_runs(conn, STAGE):
            params = row.params or {}
            if params.get("host", host) != host:
                continue  # another machine's run (a shared catalog): not ours to judge
            if process_alive(params.get("pid"), params.get("pid_start")):
                continue
            summary = {**(row.summary or {}), "note": "the process ended without finishing"}
            mark_run_interrupted(conn, int(row.id), summary)
            dead.append(int(row.id))
    return dead


def clean_up_after_dead_runs(workspace: Workspace) -> tuple[list[int], int]:
    """Mark the runs of dead scrape processes ``interrupted`` and end the browsers they left;
    return the runs' ids and the number of browsers ended."""
    marked = mark_dead_runs(workspace)
    return marked, end_orphan_browsers()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (sent by ``kill``, ``timeout`` and service managers) into the same clean
    stop as Ctrl-C while the block runs (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        # One is enough: a second SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
