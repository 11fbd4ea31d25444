"""``carscout dedup`` and ``carscout check-leaks``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cli.commands.context import settings_from, workspace_from
from curation.dedup.decision import DEFAULT_VERIFY, ORB_WIDENING
from curation.dedup.groups import groups_contact_sheet
from curation.dedup.near_duplicates import DEFAULT_COLOUR_THRESHOLD
from curation.dedup.query import DEFAULT_MAX_BYTES, query_folder
from curation.dedup.run import DEFAULT_KIND, DEFAULT_THRESHOLD, DedupConfig, run_dedup

console = Console()


ThresholdOption = Annotated[
    int,
    typer.Option(
        "--threshold",
        help=f"Largest Hamming distance between two hashes that counts as a duplicate "
        f"(default {DEFAULT_THRESHOLD}, chosen by benchmarks/dedup.py).",
    ),
]
KindOption = Annotated[
    str, typer.Option("--hash", help="Hash to compare: phash (default) or dhash.")
]
ColourOption = Annotated[
    int,
    typer.Option(
        "--colour-threshold",
        help=f"Largest colour-layout distance that confirms a hash match (default "
        f"{DEFAULT_COLOUR_THRESHOLD}; -1 trusts the hash alone).",
    ),
]
VerifyOption = Annotated[
    str,
    typer.Option(
        "--verify",
        help="How a hash match is confirmed: align (the default: each photo's nearest pHash "
        f"and mirrored-pHash matches within --threshold + {ORB_WIDENING} bits, and its 2 "
        "nearest within --threshold + 12, checked on the pixels by ORB keypoints, a RANSAC "
        "homography and the aligned photos compared cell by cell: the same photograph, not "
        "the same pose; groups form through each group's kept copy), colour (colour layout, "
        "fast; the old default) or orb (keypoints and homography alone). align and orb "
        "ignore --colour-threshold.",
    ),
]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", help="Processes for hashing (default: every core).")
]


def dedup_command(
    ctx: typer.Context,
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Find and show the groups but mark nothing (hashes are still stored).",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Search every image again, not only those new since the last run."
        ),
    ] = False,
    hash_kind: KindOption = DEFAULT_KIND,
    colour_threshold: ColourOption = DEFAULT_COLOUR_THRESHOLD,
    verify: VerifyOption = DEFAULT_VERIFY,
    workers: WorkersOption = None,
    sheet_groups: Annotated[
        int, typer.Option("--sheet-groups", help="Largest groups drawn on the contact sheet.")
    ] = 12,
) -> None:
    """Find near-duplicate photos, keep the best copy of each, mark the others (files stay)."""
    config = DedupConfig(
        threshold=threshold,
        hash_kind=hash_kind,
        dry_run=dry_run,
        full=full,
        workers=workers,
        colour_threshold=None if colour_threshold < 0 else colour_threshold,
        verify=verify,
    )
    config.validate()  # before the progress bar: a bad option is one line, not a broken bar
    from flows.cluster import cluster_shards

    with (
        cluster_shards(settings_from(ctx), "hash") as map_shards,
        workspace_from(ctx) as ws,
        Progress(TextColumn("hashing"), BarColumn(), MofNCompleteColumn(), console=console) as bar,
    ):
        task = bar.add_task("hash", total=None)
        summary = run_dedup(
            ws.catalog,
            ws.store,
            config,
            progress=lambda n: bar.advance(task, n),
            map_shards=map_shards,
        )
        sheet = None
        if summary.groups:
            name = f"dedup-{summary.run_id or 'dry-run'}.png"
            sheet = groups_contact_sheet(
                summary.groups, ws.store, ws.settings.reports_dir / name, max_groups=sheet_groups
            )
    verb = "would be marked" if dry_run else "marked duplicate"
    table = Table(title=f"Dedup ({hash_kind} ≤ {threshold}{', dry run' if dry_run else ''})")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("images hashed now", str(summary.hashed))
    table.add_row("hash failures", str(summary.hash_failures))
    table.add_row("new images searched", str(summary.searched_new))
    table.add_row("… against earlier images", str(summary.searched_against))
    table.add_row("pairs within threshold", str(summary.pairs))
    table.add_row("groups", str(len(summary.groups)))
    table.add_row(f"images {verb}", str(summary.marked))
    table.add_row("label conflicts (groups)", str(summary.conflicts))
    if not dry_run:
        table.add_row("queued for review", str(summary.queued))
    console.print(table)
    if sheet:
        console.print(f"contact sheet of the largest groups: {sheet}")
    if summary.hash_failures:
        console.print("Hash failures are recorded: `carscout status --failures`.")


def check_leaks_command(
    ctx: typer.Context,
    folder: Annotated[
        Path, typer.Argument(help="Folder of images to check (searched recursively).")
    ],
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    hash_kind: KindOption = DEFAULT_KIND,
    colour_threshold: ColourOption = DEFAULT_COLOUR_THRESHOLD,
    verify: VerifyOption = DEFAULT_VERIFY,
    workers: WorkersOption = None,
    max_bytes: Annotated[
        int,
        typer.Option("--max-bytes", help="Files larger than this are listed as skipped, not read."),
    ] = DEFAULT_MAX_BYTES,
    limit: Annotated[int, typer.Option("--limit", help="Matches listed at most.")] = 50,
) -> None:
    """Check a folder (e.g. an outside test set) for copies of photos already in the catalog."""
    from flows.cluster import cluster_shards

    with cluster_shards(settings_from(ctx), "pairs") as map_shards, workspace_from(ctx) as ws:
        report = query_folder(
            ws.catalog,
            ws.store,
            folder,
            threshold=threshold,
            hash_kind=hash_kind,
            workers=workers,
            colour_threshold=None if colour_threshold < 0 else colour_threshold,
            max_bytes=max_bytes,
            verify=verify,
            map_shards=map_shards,
        )
    table = Table(
        title=f"{report.files_with_matches} of {report.scanned} files have a copy "
        f"in the catalog ({hash_kind} ≤ {threshold})"
    )
    for column in ("file", "image", "label", "status", "distance"):
        table.add_column(column)
    for m in report.matches[:limit]:
        table.add_row(m.path, str(m.image_id), m.label, m.status, str(m.distance))
    console.print(table)
    if len(report.matches) > limit:
        console.print(f"… {len(report.matches) - limit} more matches (raise --limit)")
    for path, why in report.failures:
        console.print(
            f"[red]not checked[/] {escape(path)}: {escape(why)}", highlight=False, soft_wrap=True
        )


def register(app: typer.Typer) -> None:
    """Add the dedup commands to the ``carscout`` app."""
    app.command("dedup")(dedup_command)
    app.command("check-leaks")(check_leaks_command)
