"""Cron and time-zone checks and the Prefect schedule objects carscout builds from them.

:func:`make_schedule` turns ``--cron``/``--interval``/``--timezone`` into a Prefect schedule,
raising ConfigError (naming the fix) for a bad cron, an unknown zone or a too-short interval;
:func:`describe_schedule` says one back in words.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

from pipeline.errors import ConfigError


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
