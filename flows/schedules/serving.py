"""Serving deployments with Prefect's own Runner until SIGTERM or Ctrl-C.

:func:`serve` checks the server, keeps a paused schedule paused, turns a skipped tick into one
plain line, and stops cleanly on SIGTERM (a run in progress ends ``Cancelled``), with a watchdog
in case the stop hangs. :func:`quiet_prefect_console` keeps Prefect's log lines out of the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from flows.schedules.managing import reset_existing
from flows.schedules.server import require_server
from flows.schedules.timing import describe_schedule


class _SkippedTickHandler(logging.Handler):
    """Turns the runner's "Aborted submission … CANCELLED" into a plain "tick skipped" line."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Aborted submission" in message and "CANCELLED" in message:
            run = message.split("'")[1] if "'" in message else "?"
            print(
                f"tick skipped (flow run {run}): the previous run of this schedule is still "
                "going (one run at a time)",
                flush=True,
            )


def quiet_prefect_console() -> None:
    """Keep Prefect's own log lines out of the serve output (they still reach the server/UI).

    Sets the console handler's level for this process and, through Prefect's logging
    environment override, for the flow-run processes the runner starts.
    """
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(logging.CRITICAL)


#: Seconds a stop may take (the runner gives a cancelled run 30 s before killing it).
STOP_GRACE_SECONDS = 75


def _stop_watchdog(announce: Callable[[str], None]) -> None:
    """Exit if a stop hangs, e.g. because the Prefect server went away first."""
    time.sleep(STOP_GRACE_SECONDS)
    announce(
        f"stopped after {STOP_GRACE_SECONDS}s without a clean shutdown (is the Prefect server "
        "still running?); a run in progress may still show as Running in Prefect"
    )
    os._exit(1)


def serve(*deployments: Any, announce: Callable[[str], None] = print) -> None:
    """Serve ``deployments`` until SIGTERM or Ctrl-C; their schedules fire on the server.

    Checks the server first (:func:`require_server`). A deployment that already exists and is
    paused stays paused. On SIGTERM/SIGINT the runner cancels a run in progress (it ends
    ``Cancelled`` in Prefect and ``cancelled`` in the catalog) and returns; no traceback.
    """
    from prefect.runner import Runner

    require_server()
    paused = reset_existing([d.name for d in deployments])
    for deployment in deployments:
        deployment.paused = deployment.name in paused

    class _Runner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            # Prefect's own handler calls the sync stop() inside the event loop (a coroutine
            # that is never awaited) and then sys.exit(); schedule a real astop() instead.
            if self.stopping:
                return
            self.stopping = True
            announce("stopping: cancelling any run in progress …")
            threading.Thread(target=_stop_watchdog, args=(announce,), daemon=True).start()
            asyncio.get_running_loop().create_task(self.astop())

        async def start(self, run_once: bool = False, webserver: bool | None = None) -> None:
            signal.signal(signal.SIGINT, self.handle_sigterm)
            await super().start(run_once=run_once, webserver=webserver)

    skipped = logging.getLogger("prefect.runner.state_proposer")
    skipped.addHandler(_SkippedTickHandler(logging.INFO))
    skipped.setLevel(logging.INFO)
    runner = _Runner(pause_on_shutdown=False)
    for deployment in deployments:
        runner.add_deployment(deployment)
    for deployment in deployments:
        state = "paused (`carscout schedule resume " + deployment.name + "`)"
        announce(
            f"serving '{deployment.name}' ({deployment.flow_name}) on "
            f"{describe_schedule(deployment.schedules[0].schedule)}"
            + (f", {state}" if deployment.paused else "")
        )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.start())
    announce("stopped")
