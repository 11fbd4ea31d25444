"""Scheduled scrapes and retrains, served with Prefect's own Runner.

Scheduled runs need a long-running Prefect API (``prefect server start`` and
``PREFECT_API_URL``): the temporary server Prefect starts for a single flow call cannot
schedule, so :func:`require_server` refuses to go on without a reachable one.

``carscout schedule scrape|retrain`` builds a deployment here (:func:`scrape_deployment`,
:func:`retrain_deployment`) and serves it (:func:`serve`) until SIGTERM or Ctrl-C. Each
deployment runs one of the two wrapper flows below, which record a ``runs`` row in the catalog
(kind ``scheduled-scrape`` / ``scheduled-retrain``) and print one summary line per run. A
deployment allows one run at a time: a tick that finds the previous run still going is cancelled
by the server and reported as skipped. SIGTERM stops the runner cleanly: a run in progress ends
``Cancelled`` in Prefect and ``cancelled`` in the catalog.

:func:`list_schedules`, :func:`pause_schedule`, :func:`resume_schedule` and
:func:`remove_schedule` manage the deployments on the server.
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
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prefect import flow
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

from pipeline.errors import CarscoutError, ConfigError
from pipeline.settings import Settings
from pipeline.status import SCHEDULED_RUN_KINDS
from training.config import TrainConfig

#: Flow names of the two scheduled jobs (also the ``runs.kind`` of their catalog rows).
SCRAPE_FLOW, RETRAIN_FLOW = SCHEDULED_RUN_KINDS
SCHEDULED_KINDS = SCHEDULED_RUN_KINDS

_SERVER_FIX = (
    "start one with `prefect server start` (keep it running) and point carscout at it with "
    "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`"
)


# --- schedules -----------------------------------------------------------------------------


def check_cron(cron: str) -> str:
    """Return ``cron`` if it is a valid 5-field cron expression, else raise ConfigError."""
    fields = cron.split()
    if len(fields) != 5:
        raise ConfigError(
            f"cron {cron!r} needs 5 fields (minute hour day month weekday), e.g. '0 3 * * *'"
        )
    try:
        CronSchedule(cron=cron)
    except ValueError as exc:
        raise ConfigError(f"cron {cron!r} is not valid ({exc}); e.g. '0 3 * * *'") from exc
    return cron


def local_timezone() -> str:
    """Return this machine's IANA time zone name (``TZ``, then /etc/timezone, /etc/localtime).

    Falls back to ``"UTC"`` when none of them names a zone.
    """
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name and _is_zone(name):
            return name
    return "UTC"


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_timezone(timezone: str | None) -> str:
    """Return ``timezone`` (default: the machine's) if it is an IANA name, else ConfigError."""
    if timezone is None:
        return local_timezone()
    if not _is_zone(timezone):
        raise ConfigError(
            f"unknown time zone {timezone!r}; give an IANA name such as Europe/Berlin, "
            "Asia/Kolkata or UTC"
        )
    return timezone


def make_schedule(
    cron: str | None, interval: float | None = None, timezone: str | None = None
) -> CronSchedule | IntervalSchedule:
    """Return a Prefect schedule: ``cron`` in ``timezone``, or every ``interval`` seconds.

    Exactly one of ``cron`` and ``interval`` must be given; raises ConfigError otherwise.
    """
    if (cron is None) == (interval is None):
        raise ConfigError("give either --cron (e.g. '0 3 * * *') or --interval SECONDS")
    zone = check_timezone(timezone)
    if interval is not None:
        if interval < 10:
            raise ConfigError(f"--interval {interval:g} is too short; give at least 10 seconds")
        return IntervalSchedule(interval=timedelta(seconds=interval), timezone=zone)
    assert cron is not None
    return CronSchedule(cron=check_cron(cron), timezone=zone)


def describe_schedule(schedule: Any) -> str:
    """Return ``"cron '0 3 * * *' (Europe/Berlin)"`` or ``"every 30s"`` for a Prefect schedule."""
    cron = getattr(schedule, "cron", None)
    if cron:
        return f"cron '{cron}' ({schedule.timezone or 'UTC'})"
    interval = getattr(schedule, "interval", None)
    if interval is not None:
        return f"every {interval.total_seconds():g}s"
    return str(schedule)


# --- the Prefect server ----------------------------------------------------------------------


def prefect_api_url() -> str | None:
    """Return the configured ``PREFECT_API_URL`` (environment or Prefect profile), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def require_server(timeout: float = 5.0) -> str:
    """Return the API URL of a reachable, long-running Prefect server.

    Raises ConfigError (naming the fix) when ``PREFECT_API_URL`` is unset, so Prefect would
    start a temporary server that never schedules anything, or when nothing answers there.
    """
    import httpx

    url = prefect_api_url()
    if not url:
        raise ConfigError(
            "scheduled runs need a long-running Prefect server and PREFECT_API_URL is not set: "
            + _SERVER_FIX
        )
    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc)
        raise ConfigError(
            f"no Prefect server answers at PREFECT_API_URL={url} ({reason}): " + _SERVER_FIX
        ) from None
    return url


# --- the scheduled flows ---------------------------------------------------------------------


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
    keep = ("site", "status", "test_accuracy", "promoted", "champion", "pending_review")
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
    """Return what a collect-and-retrain run collected, trained and promoted, in one line."""
    trained = report.get("train", {})
    model = trained.get("model") or trained.get("name") or "challenger"
    accuracy = report.get("test_accuracy")
    verdict = "promoted" if report.get("promoted") else "kept the champion"
    return (
        f"collected {scrape_line(report.get('scrape', {}))}; trained {model}"
        + (f" (test accuracy {accuracy:.3f})" if isinstance(accuracy, int | float) else "")
        + f"; {verdict} ({report.get('champion') or 'none'}); "
        f"{report.get('pending_review', 0)} photos wait for review"
    )


def _runtime_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    from prefect.runtime import deployment, flow_run

    return {
        "deployment": deployment.name or kind,
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "flow_run_name": flow_run.name,
        "scheduled_start": str(flow_run.scheduled_start_time or "") or None,
        **params,
    }


def _end(line: str, error: BaseException | None, result: dict[str, Any] | None) -> Any:
    """Return the flow's result, or a Failed state (no traceback) for a config error."""
    if error is None:
        return result
    if isinstance(error, CarscoutError):
        from prefect.states import Failed

        return Failed(message=line)
    raise error


@flow(name=SCRAPE_FLOW)
def scheduled_scrape(
    settings: Settings,
    site: str,
    labels: list[str],
    base_url: str | None = None,
    max_listings: int | None = None,
    max_pages: int | None = None,
) -> Any:
    """One scheduled scrape: run the ``scrape`` flow, record it, print a one-line summary.

    Returns the scrape summary, or a Failed state for a configuration error.
    """
    from flows.scrape import scrape_flow

    params = {"site": site, "labels": labels, "base_url": base_url}
    params |= {"max_listings": max_listings, "max_pages": max_pages}
    line, result, error = run_recorded(
        settings,
        SCRAPE_FLOW,
        _runtime_params(SCRAPE_FLOW, params),
        lambda: scrape_flow(settings, site, labels, base_url, max_listings, max_pages),
        scrape_line,
    )
    return _end(line, error, result)


@flow(name=RETRAIN_FLOW)
def scheduled_retrain(
    settings: Settings,
    site: str,
    labels: list[str],
    train_config: TrainConfig,
    base_url: str | None = None,
    max_listings: int | None = None,
    max_pages: int | None = None,
    split_sizes: list[int] | None = None,
    review_budget: float = 0.12,
) -> Any:
    """One scheduled collect-and-retrain, recorded and summarised like :func:`scheduled_scrape`.

    Returns the ``collect_and_retrain`` report, or a Failed state for a configuration error.
    """
    from flows.retrain import collect_and_retrain

    params = {"site": site, "labels": labels, "base_url": base_url, "max_listings": max_listings}
    params |= {"split_sizes": split_sizes, "review_budget": review_budget}
    params |= {"model": train_config.model, "epochs": train_config.epochs}
    line, result, error = run_recorded(
        settings,
        RETRAIN_FLOW,
        _runtime_params(RETRAIN_FLOW, params),
        lambda: collect_and_retrain(
            settings,
            site,
            labels,
            train_config,
            base_url=base_url,
            max_listings=max_listings,
            max_pages=max_pages,
            split_sizes=split_sizes,
            review_budget=review_budget,
        ),
        retrain_line,
    )
    return _end(line, error, result)


# --- deployments ---------------------------------------------------------------------------


def _check_site(site: str, base_url: str | None, labels: list[str]) -> None:
    """Fail now, not at 3 a.m.: the spec must load and each label's start URL must resolve."""
    from scrapers.spec import load_spec

    spec = load_spec(site, base_url=base_url)
    for label in labels:
        spec.start_url_for(label)


def _deployment(
    scheduled_flow: Any,
    name: str,
    schedule: CronSchedule | IntervalSchedule,
    parameters: dict[str, Any],
    description: str,
    tags: list[str],
) -> Any:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType

    if not name.strip():
        raise ConfigError("--name is empty; e.g. --name nightly-scrape")
    return scheduled_flow.to_deployment(
        name=name,
        schedules=[schedule],
        parameters=parameters,
        description=description,
        tags=tags,
        # One run at a time: a tick that finds the previous run still going is cancelled.
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        # Importable from anywhere carscout is installed (systemd units, other folders).
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def scrape_deployment(
    settings: Settings,
    site: str,
    labels: list[str],
    cron: str | None,
    name: str = "scheduled-scrape",
    max_listings: int | None = None,
    *,
    base_url: str | None = None,
    max_pages: int | None = None,
    timezone: str | None = None,
    interval: float | None = None,
) -> Any:
    """Return a RunnerDeployment of :func:`scheduled_scrape` on ``cron`` (or ``interval``).

    Raises ConfigError for a bad spec, a missing base URL, empty labels, a bad cron or zone.
    """
    if not labels:
        raise ConfigError("--labels is empty; e.g. --labels swift,wagonr")
    _check_site(site, base_url, labels)
    return _deployment(
        scheduled_scrape,
        name,
        make_schedule(cron, interval, timezone),
        {
            "settings": _settings_parameter(settings),
            "site": str(site),
            "labels": labels,
            "base_url": base_url,
            "max_listings": max_listings,
            "max_pages": max_pages,
        },
        f"Scrape {', '.join(labels)} from {site}",
        ["carscout", "scrape"],
    )


def retrain_deployment(
    settings: Settings,
    site: str,
    labels: list[str],
    cron: str | None,
    train_config: TrainConfig,
    name: str = "scheduled-retrain",
    *,
    base_url: str | None = None,
    max_listings: int | None = None,
    max_pages: int | None = None,
    split_sizes: tuple[int, int, int] | list[int] | None = None,
    review_budget: float = 0.12,
    timezone: str | None = None,
    interval: float | None = None,
) -> Any:
    """Return a RunnerDeployment of :func:`scheduled_retrain` on ``cron`` (or ``interval``).

    Raises ConfigError like :func:`scrape_deployment`, and for a review budget outside 0–1.
    """
    if not labels:
        raise ConfigError("--labels is empty; e.g. --labels swift,wagonr")
    if not 0 <= review_budget <= 1:
        raise ConfigError(f"--review-budget {review_budget} must be between 0 and 1, e.g. 0.12")
    _check_site(site, base_url, labels)
    return _deployment(
        scheduled_retrain,
        name,
        make_schedule(cron, interval, timezone),
        {
            "settings": _settings_parameter(settings),
            "site": str(site),
            "labels": labels,
            "train_config": _config_parameter(train_config),
            "base_url": base_url,
            "max_listings": max_listings,
            "max_pages": max_pages,
            "split_sizes": list(split_sizes) if split_sizes else None,
            "review_budget": review_budget,
        },
        f"Collect {', '.join(labels)} from {site}, retrain, promote if better",
        ["carscout", "retrain"],
    )


def _settings_parameter(settings: Settings) -> dict[str, Any]:
    data = asdict(settings)
    data["home"] = str(settings.home)
    return data


def _config_parameter(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)


# --- serving -------------------------------------------------------------------------------


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
    paused = _reset_existing([d.name for d in deployments])
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


# --- managing schedules on the server ------------------------------------------------------


@dataclass(frozen=True)
class ScheduleInfo:
    """One carscout deployment on the Prefect server, as ``carscout schedule list`` shows it."""

    name: str
    flow: str
    schedule: str
    paused: bool
    next_run: datetime | None
    last_state: str | None
    last_run: datetime | None
    site: str
    labels: list[str]


def _client() -> Any:
    from prefect.client.orchestration import get_client

    require_server()
    return get_client(sync_client=True)


def _carscout_deployments(client: Any) -> list[Any]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    return list(
        client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(SCHEDULED_KINDS)))
        )
    )


def _reset_existing(names: list[str]) -> set[str]:
    """Prepare already registered deployments ``names`` for serving again.

    Deletes their runs still waiting in Scheduled/Late: Prefect copies a deployment's
    parameters into each run when it schedules it, so runs scheduled before a restart would
    keep the old options; the server schedules new ones from the updated deployment. Returns
    the names of those that are paused (a served schedule stays paused until resumed).
    """
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with _client() as client:
        existing = [d for d in _carscout_deployments(client) if d.name in names]
        for d in existing:
            waiting = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            for run in waiting:
                with contextlib.suppress(Exception):  # already started or gone: fine
                    client.delete_flow_run(run.id)
        return {d.name for d in existing if d.paused}


def _find(client: Any, name: str) -> Any:
    found = [d for d in _carscout_deployments(client) if d.name == name]
    if not found:
        names = ", ".join(sorted(d.name for d in _carscout_deployments(client))) or "none yet"
        raise ConfigError(f"no schedule named {name!r} (schedules: {names}); see `schedule list`")
    return found[0]


def list_schedules() -> list[ScheduleInfo]:
    """Return every carscout schedule on the server with its next and last run, by name."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    infos = []
    with _client() as client:
        for d in sorted(_carscout_deployments(client), key=lambda d: d.name):
            only_this = DeploymentFilter(id=DeploymentFilterId(any_=[d.id]))
            upcoming = client.read_flow_runs(
                deployment_filter=only_this,
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
            finished = client.read_flow_runs(
                deployment_filter=only_this,
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(
                            any_=[
                                StateType.COMPLETED,
                                StateType.FAILED,
                                StateType.CANCELLED,
                                StateType.CRASHED,
                                StateType.RUNNING,
                            ]
                        )
                    )
                ),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            params = d.parameters or {}
            flow_name = "scrape" if "train_config" not in params else "retrain"
            last = finished[0] if finished else None
            infos.append(
                ScheduleInfo(
                    name=d.name,
                    flow=flow_name,
                    schedule=", ".join(describe_schedule(s.schedule) for s in d.schedules)
                    or "none",
                    paused=bool(d.paused),
                    next_run=None if d.paused or not upcoming else upcoming[0].expected_start_time,
                    last_state=last.state.name if last and last.state else None,
                    last_run=(last.start_time or last.expected_start_time) if last else None,
                    site=str(params.get("site", "")),
                    labels=list(params.get("labels") or []),
                )
            )
    return infos


def pause_schedule(name: str) -> None:
    """Pause the schedule ``name`` (no new ticks until resumed); ConfigError if unknown."""
    with _client() as client:
        client.pause_deployment(_find(client, name).id)


def resume_schedule(name: str) -> None:
    """Resume the paused schedule ``name``; ConfigError if unknown."""
    with _client() as client:
        client.resume_deployment(_find(client, name).id)


def remove_schedule(name: str) -> None:
    """Delete the deployment ``name`` and its future runs from the server; ConfigError if unknown.

    The catalog keeps the rows of runs that already happened.
    """
    with _client() as client:
        client.delete_deployment(_find(client, name).id)
