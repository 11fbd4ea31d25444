"""Recording one scheduled run in the catalog and summing it up in one line.

:func:`run_recorded` wraps the body of a scheduled flow: it writes the ``runs`` row, lets only
the first SIGTERM interrupt, finishes the row ``ok``/``failed``/``cancelled`` and prints the
summary line that :func:`scrape_line` or :func:`retrain_line` wrote.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from pipeline import process_env
from pipeline.errors import CarscoutError
from pipeline.settings import Settings


def run_recorded(
    settings: Settings,
    kind: str,
    params: dict[str, Any],
    body: Callable[[], dict[str, Any]],
    describe: Callable[[dict[str, Any]], str],
) -> tuple[str, dict[str, Any] | None, BaseException | None]:
    """Run ``body`` as one scheduled run recorded in the catalog's ``runs`` table.

    The row (``kind``, ``params``) is written before ``body`` starts and finished with status
    ``ok``, ``failed`` (any exception) or ``cancelled`` (SIGTERM, Ctrl-C, a Prefect
    cancellation), its summary holding the one-line ``line``. Returns ``(line, result, error)``;
    the caller decides how the flow run ends. Cancellation is re-raised after recording.
    """
    from pipeline.catalog import finish_run, start_run
    from pipeline.workspace import Workspace

    # The flow-run process a Prefect worker starts is an entry point of its own: set its
    # environment before the body loads TensorFlow (verbosity from the serving process).
    process_env.configure()
    name = params.get("deployment") or kind
    with Workspace.open(settings) as ws, ws.catalog.atomic() as conn:
        run_id = start_run(conn, kind, params)
    _only_first_sigterm_interrupts()
    started = time.monotonic()
    status, result, error, line = "failed", None, None, ""
    try:
        result = body()
        status = "ok"
        line = f"{name}: ok in {_duration(time.monotonic() - started)}: {describe(result)}"
    except Exception as exc:
        error = exc
        what = str(exc) if isinstance(exc, CarscoutError) else f"{type(exc).__name__}: {exc}"
        line = f"{name}: FAILED after {_duration(time.monotonic() - started)}: {what}"
    except BaseException as exc:  # TerminationSignal (SIGTERM), KeyboardInterrupt, cancellation
        status = "cancelled"
        line = (
            f"{name}: cancelled after {_duration(time.monotonic() - started)} "
            f"({type(exc).__name__})"
        )
        raise
    finally:
        summary = {"line": line, "seconds": round(time.monotonic() - started, 1)}
        if result is not None:
            summary["result"] = _compact(result)
        if error is not None:
            summary["error"] = f"{type(error).__name__}: {error}"
        with Workspace.open(settings) as ws, ws.catalog.atomic() as conn:
            finish_run(conn, run_id, summary, status=status)
        _say(line)
    return line, result, error


def _only_first_sigterm_interrupts() -> None:
    """Let the first SIGTERM interrupt the run, and ignore any later one.

    The runner cancels a run with SIGTERM, and a service manager may send one too: a second
    signal would land inside the clean-up (``finally``) that records the interrupted scrape in
    the catalog and leave its row ``running``.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def first_only(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, first_only)


def _say(line: str) -> None:
    """Print ``line`` to the serve output and log it to the Prefect run (seen in the UI)."""
    print(line, flush=True)
    with contextlib.suppress(Exception):  # outside a flow run there is no run logger
        from prefect.logging import get_run_logger

        get_run_logger().info(line)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _compact(result: dict[str, Any]) -> dict[str, Any]:
    """Return the small, JSON-safe part of a flow result worth keeping in the catalog."""
    keep = (
        "site",
        "status",
        "test_accuracy",
        "promoted",
        "verdict",
        "p_value",
        "champion",
        "pending_review",
    )
    out = {k: result[k] for k in keep if k in result and _plain(result[k])}
    scrape = result.get("scrape", result)
    if isinstance(scrape, dict) and "labels" in scrape:
        out["photos_stored"] = _scrape_total(scrape, "photos_stored")
        out["listings_visited"] = _scrape_total(scrape, "listings_visited")
    return out


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _scrape_total(summary: dict[str, Any], key: str) -> int:
    return sum(int(counts.get(key, 0)) for counts in summary.get("labels", {}).values())


def scrape_line(summary: dict[str, Any]) -> str:
    """Return ``"12 listings, 57 new photos, 0 failures"`` for a scrape summary."""
    failures = sum(summary.get("failures", {}).values())
    return (
        f"{_scrape_total(summary, 'listings_visited')} listings, "
        f"{_scrape_total(summary, 'photos_stored')} new photos, {failures} failures"
    )


def retrain_line(report: dict[str, Any]) -> str:
    """Return what a collect-and-retrain run collected, trained and promoted, in one line.

    With the report's ``verdict`` the decision reads like ``carscout run``'s table, e.g.
    ``champion run-3 (kept: validation 0.8100 ≤ champion 0.8300; McNemar p=0.5)``; a report
    without one (an older flow's) says ``promoted (run-3)`` or ``kept the champion (run-3)``.
    """
    trained = report.get("train", {})
    model = trained.get("model") or trained.get("name") or "challenger"
    accuracy = report.get("test_accuracy")
    champion = report.get("champion") or "none"
    verdict = report.get("verdict")
    if verdict:
        decision = f"champion {champion} ({verdict})"
    else:
        decision = f"{'promoted' if report.get('promoted') else 'kept the champion'} ({champion})"
    return (
        f"collected {scrape_line(report.get('scrape', {}))}; trained {model}"
        + (f" (test accuracy {accuracy:.3f})" if isinstance(accuracy, int | float) else "")
        + f"; {decision}; {report.get('pending_review', 0)} photos wait for review"
    )
