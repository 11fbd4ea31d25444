"""``carscout import`` and ``carscout status``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cli.commands.context import workspace_from
from pipeline.importer import import_files, plan_import
from pipeline.schema import IMAGE_STATUSES
from pipeline.status import CatalogStatus, catalog_status

console = Console()


def import_command(
    ctx: typer.Context,
    folder: Annotated[
        Path, typer.Argument(help="DIR/<label>/*.jpg, or a flat folder with --label.")
    ],
    label: Annotated[
        str | None, typer.Option("--label", help="Give every photo in FOLDER this label.")
    ] = None,
) -> None:
    """Add local photos to the catalog (validated, deduplicated by content, with provenance)."""
    plan = plan_import(folder, label)
    with (
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
        )
    table = Table(title=f"Imported from {folder}")
    table.add_column("outcome")
    table.add_column("photos", justify="right")
    table.add_row("stored (new)", str(summary.stored))
    table.add_row("already in the catalog", str(summary.known))
    for reason, count in sorted(summary.rejected.items()):
        table.add_row(f"rejected: {reason}", str(count))
    console.print(table)
    if summary.rejected:
        console.print("Rejections are recorded with their reasons: `carscout status --failures`.")


def status_command(
    ctx: typer.Context,
    failures: Annotated[
        bool, typer.Option("--failures", help="Also list failures by reason.")
    ] = False,
) -> None:
    """Show what the catalog holds: images by label and status, splits, review progress."""
    with workspace_from(ctx) as ws:
        with ws.catalog.reading() as conn:
            status = catalog_status(conn)
        console.print(f"catalog: {ws.settings.catalog_url}")
    print_status(status, show_failures=failures)


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


def register(app: typer.Typer) -> None:
    """Add the catalog commands to ``app``."""
    app.command("import")(import_command)
    app.command("status")(status_command)
