"""What is in the catalog: counts by label and status, by split, and review progress."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline import schema as t

#: ``runs.kind`` of the rows that scheduled runs write (see flows/schedules/jobs.py).
SCHEDULED_RUN_KINDS = ("scheduled-scrape", "scheduled-retrain")


@dataclass(frozen=True)
class ScheduledRun:
    """One scheduled run's ``runs`` row: ``status`` is running, ok, failed or cancelled and
    ``line`` the one-line summary it printed (empty while running)."""

    id: int
    kind: str
    deployment: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    line: str


@dataclass
class CatalogStatus:
    """Counts for ``carscout status``.

    ``by_label_status`` maps ``(label, status)`` to a count, e.g. ``{("swift", "active"): 2010}``;
    ``by_split`` maps ``(split name@version, subset)`` to a count; ``review`` maps
    ``(reason, state)`` of review items to a count, e.g. ``{("wrong model?", "pending"): 30}``;
    ``failures`` maps ``(stage, reason)`` to a count. ``scheduled`` holds the latest scheduled
    runs, newest first; ``scheduled_failed`` counts every failed one and ``last_failed`` is the
    newest of those.
    """

    by_label_status: dict[tuple[str, str], int] = field(default_factory=dict)
    by_split: dict[tuple[str, str], int] = field(default_factory=dict)
    review: dict[tuple[str, str], int] = field(default_factory=dict)
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    listings: int = 0
    scheduled: list[ScheduledRun] = field(default_factory=list)
    scheduled_failed: int = 0
    last_failed: ScheduledRun | None = None

    @property
    def images(self) -> int:
        """Return the number of images of any status."""
        return sum(self.by_label_status.values())


def catalog_status(conn: Connection) -> CatalogStatus:
    """Return a :class:`CatalogStatus` read from ``conn``."""
    status = CatalogStatus()
    rows = conn.execute(
        sa.select(t.images.c.label, t.images.c.status, sa.func.count())
        .group_by(t.images.c.label, t.images.c.status)
        .order_by(t.images.c.label, t.images.c.status)
    )
    status.by_label_status = {(r[0], r[1]): r[2] for r in rows}
    latest = (
        sa.select(t.splits.c.name, sa.func.max(t.splits.c.version).label("version"))
        .group_by(t.splits.c.name)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            t.splits.c.name, t.splits.c.version, t.split_assignments.c.subset, sa.func.count()
        )
        .join(t.split_assignments, t.split_assignments.c.split_id == t.splits.c.id)
        .join(
            latest,
            sa.and_(latest.c.name == t.splits.c.name, latest.c.version == t.splits.c.version),
        )
        .group_by(t.splits.c.name, t.splits.c.version, t.split_assignments.c.subset)
    )
    status.by_split = {(f"{r[0]}@v{r[1]}", r[2]): r[3] for r in rows}
    rows = conn.execute(
        sa.select(t.review_items.c.reason, t.review_items.c.state, sa.func.count()).group_by(
            t.review_items.c.reason, t.review_items.c.state
        )
    )
    status.review = {(r[0], r[1]): r[2] for r in rows}
    rows = conn.execute(
        sa.select(t.failures.c.stage, t.failures.c.reason, sa.func.count()).group_by(
            t.failures.c.stage, t.failures.c.reason
        )
    )
    status.failures = {(r[0], r[1]): r[2] for r in rows}
    status.listings = conn.execute(sa.select(sa.func.count()).select_from(t.listings)).scalar_one()
    status.scheduled = scheduled_runs(conn)
    failed = scheduled_runs(conn, limit=1, status="failed")
    status.last_failed = failed[0] if failed else None
    status.scheduled_failed = conn.execute(
        sa.select(sa.func.count())
        .select_from(t.runs)
        .where(t.runs.c.kind.in_(SCHEDULED_RUN_KINDS), t.runs.c.status == "failed")
    ).scalar_one()
    return status


def scheduled_runs(
    conn: Connection, limit: int = 5, status: str | None = None
) -> list[ScheduledRun]:
    """Return the latest ``limit`` scheduled runs (only those with ``status`` if given),
    newest first."""
    query = sa.select(t.runs).where(t.runs.c.kind.in_(SCHEDULED_RUN_KINDS))
    if status is not None:
        query = query.where(t.runs.c.status == status)
    rows = conn.execute(query.order_by(t.runs.c.id.desc()).limit(limit)).mappings()
    return [
        ScheduledRun(
            id=row["id"],
            kind=row["kind"],
            deployment=str((row["params"] or {}).get("deployment") or row["kind"]),
            status=row["status"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            line=str((row["summary"] or {}).get("line", "")),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class FailureRow:
    """One recorded failure: what failed (``target``, a URL or path), at which ``stage``, why
    (``reason`` code and ``detail``), when, and in which run."""

    id: int
    stage: str
    target: str
    reason: str
    detail: str
    run_id: int | None
    created_at: datetime


def recent_failures(
    conn: Connection, limit: int = 50, stage: str | None = None, reason: str | None = None
) -> list[FailureRow]:
    """Return the newest ``limit`` failures (only of ``stage`` / ``reason`` if given), newest
    first."""
    query = sa.select(t.failures)
    if stage is not None:
        query = query.where(t.failures.c.stage == stage)
    if reason is not None:
        query = query.where(t.failures.c.reason == reason)
    rows = conn.execute(query.order_by(t.failures.c.id.desc()).limit(limit)).mappings()
    return [
        FailureRow(
            id=row["id"],
            stage=row["stage"],
            target=row["target"],
            reason=row["reason"],
            detail=row["detail"] or "",
            run_id=row["run_id"],
            created_at=row["created_at"],
        )
        for row in rows
    ]


def runner_status(cluster: str | None, timeout: float = 2.0) -> str:
    """Return one line saying where the heavy stages run: ``default (this machine)``, or the
    Dask scheduler ``cluster`` and whether it answers now (a TCP connect, ``timeout`` s)."""
    if not cluster:
        return "default (this machine; --cluster tcp://HOST:8786 spreads over a Dask cluster)"
    parts = urlsplit(cluster)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return f"Dask cluster {cluster} (not answering: {why}; start `dask scheduler` there)"
    return f"Dask cluster {cluster} (scheduler answers)"
