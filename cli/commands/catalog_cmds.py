"""``carscout import`` and ``carscout status``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cli.commands.context import settings_from, workspace_from
from pipeline.importer import SKIP_REASONS, import_files, plan_import
from pipeline.intake import printable
from pipeline.schema import IMAGE_STATUSES
from pipeline.status import (
    CatalogStatus,
    FailureRow,
    catalog_status,
    recent_failures,
    runner_status,
)

console = Console()


def import_command(
    ctx: typer.Context,
    folder: Annotated[
        Path, typer.Argument(help="DIR/<label>/*.jpg, or a flat folder with --label.")
    ],
    label: Annotated[
        str | None, typer.Option("--label", help="Give every photo in FOLDER this label.")
    ] = None,
    follow_links: Annotated[
        bool,
        typer.Option(
            "--follow-links", help="Follow symbolic links that lead out of FOLDER (not by default)."
        ),
    ] = False,
) -> None:
    """Add local photos to the catalog (validated, deduplicated by content, with provenance)."""
    from flows.cluster import cluster_shards

    plan = plan_import(folder, label, follow_links=follow_links)
    with (
        cluster_shards(settings_from(ctx), "import") as map_shards,  # checked before the catalog
        workspace_from(ctx) as ws,
        Progress(
            TextColumn("importing"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar,
    ):
        task = bar.add_task("import", total=None)
        summary = import_files(
            ws,
            plan,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            map_shards=map_shards,
        )
    table = Table(title=f"Imported from {escape(printable(str(folder)))}")
    table.add_column("outcome")
    table.add_column("entries", justify="right")
    table.add_row("stored (new)", str(summary.stored))
    table.add_row("already in the catalog", str(summary.known))
    for reason, count in sorted(summary.rejected.items()):
        table.add_row(f"rejected: {reason}", str(count))
    for reason, count in sorted(summary.skipped.items()):
        table.add_row(f"skipped: {reason} ({SKIP_REASONS.get(reason, '')})", str(count))
    table.add_row("total", str(summary.total))
    console.print(table)
    if summary.rejected:
        console.print("Rejections are recorded with their reasons: `carscout status --failures`.")


def status_command(
    ctx: typer.Context,
    failures: Annotated[
        bool, typer.Option("--failures", help="Also list failures by reason.")
    ] = False,
    list_failures: Annotated[
        bool,
        typer.Option(
            "--list", help="With --failures: list the newest failures with their URL and detail."
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="With --list: how many failures to show.")
    ] = 50,
    reason: Annotated[
        str | None, typer.Option("--reason", help="With --list: only failures with this reason.")
    ] = None,
) -> None:
    """Show what the catalog holds: images by label and status, splits, review, scheduled runs."""
    with workspace_from(ctx) as ws:
        with ws.catalog.reading() as conn:
            status = catalog_status(conn)
            rows = recent_failures(conn, limit, reason=reason) if list_failures else []
        console.print(f"catalog: {ws.catalog.display_url}")
        console.print(f"runner: {runner_status(ws.settings.cluster)}", soft_wrap=True)
    print_status(status, show_failures=failures or list_failures)
    if list_failures:
        print_failure_rows(rows)


def print_status(status: CatalogStatus, show_failures: bool = False) -> None:
    """Print the status tables to the console."""
    labels = sorted({label for label, _ in status.by_label_status})
    table = Table(title=f"Images ({status.images}) from {status.listings} listings")
    table.add_column("label")
    for name in IMAGE_STATUSES:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    for label in labels:
        counts = [status.by_label_status.get((label, s), 0) for s in IMAGE_STATUSES]
        table.add_row(label, *map(str, counts), str(sum(counts)))
    console.print(table)
    if status.by_split:
        split_table = Table(title="Splits (latest version)")
        for column in ("split", "subset", "images"):
            split_table.add_column(column)
        for (name, subset), count in sorted(status.by_split.items()):
            split_table.add_row(name, subset, str(count))
        console.print(split_table)
    if status.review:
        states = ("pending", "skipped", "decided")
        review_table = Table(title="Review queue (`carscout review`)")
        review_table.add_column("reason")
        for state in states:
            review_table.add_column(state, justify="right")
        for reason in sorted({reason for reason, _ in status.review}):
            review_table.add_row(
                reason, *(str(status.review.get((reason, state), 0)) for state in states)
            )
        console.print(review_table)
    if status.scheduled:
        print_scheduled(status)
    total_failures = sum(status.failures.values())
    if total_failures and not show_failures:
        console.print(f"{total_failures} failures recorded (`carscout status --failures`).")
    if show_failures and status.failures:
        fail_table = Table(title="Failures")
        for column in ("stage", "reason", "count"):
            fail_table.add_column(column)
        for (stage, reason), count in sorted(status.failures.items()):
            fail_table.add_row(stage, reason, str(count))
        console.print(fail_table)


def print_failure_rows(rows: list[FailureRow]) -> None:
    """Print failures one per row: when, stage, reason, target and detail, unabridged."""
    table = Table(title=f"Newest failures ({len(rows)})")
    for column in ("when", "run", "stage", "reason", "target", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(row.run_id or ""),
            row.stage,
            row.reason,
            escape(row.target),
            escape(row.detail),
        )
    console.print(table, highlight=False)


def print_scheduled(status: CatalogStatus) -> None:
    """Print the latest scheduled runs and, if any failed, the newest failure."""
    table = Table(title="Scheduled runs (latest; `carscout schedule list`)")
    for column in ("started", "schedule", "status", "summary"):
        table.add_column(column, overflow="fold")
    for run in status.scheduled:
        table.add_row(
            run.started_at.strftime("%Y-%m-%d %H:%M"), run.deployment, run.status, run.line
        )
    console.print(table)
    if status.scheduled_failed and status.last_failed is not None:
        console.print(
            f"{status.scheduled_failed} scheduled run(s) failed; the latest: "
            f"{status.last_failed.line or status.last_failed.deployment}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add the catalog commands to ``app``."""
    app.command("import")(import_command)
    app.command("status")(status_command)
