"""``carscout split`` and ``carscout export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.commands.context import settings_from, workspace_from
from curation.splits.build import SplitResult, build_split
from curation.splits.export import export_split
from curation.splits.plan import SUBSETS, parse_split_options
from curation.splits.policy import SplitRequest
from curation.splits.stored import DEFAULT_NAME

console = Console()


def counts_table(title: str, counts: dict[str, dict[str, int]]) -> Table:
    """Return a rich table of subset rows × label columns, with totals."""
    labels = sorted({label for per_label in counts.values() for label in per_label})
    table = Table(title=title)
    table.add_column("subset")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("total", justify="right")
    for subset in SUBSETS:
        row = [counts.get(subset, {}).get(label, 0) for label in labels]
        table.add_row(subset, *map(str, row), str(sum(row)))
    totals = [sum(counts.get(s, {}).get(label, 0) for s in SUBSETS) for label in labels]
    table.add_row("total", *map(str, totals), str(sum(totals)), style="bold")
    return table


def print_split_result(result: SplitResult) -> None:
    """Print what ``carscout split`` did: the subset × label table and any warnings."""
    action = "created" if result.created else "grown"
    console.print(
        counts_table(
            f"Split {result.name!r} version {result.version} ({action}, seed {result.seed})",
            result.counts,
        )
    )
    console.print(f"{result.newly_placed} images placed by this run.")
    if result.test_fingerprint:
        console.print(
            f"Test set {result.test_fingerprint[:8]}: {result.test_count} photos, fixed for "
            "this version (`carscout evaluate` scores all of them, whatever review decides later).",
            highlight=False,
        )
    if result.surplus:
        console.print(f"{result.surplus} usable images were not needed for the requested sizes.")
    if result.withheld:
        console.print(
            f"{len(result.withheld)} new images are linked to test images (same listing, "
            "duplicate group or near pHash) and were left out so the test set stays fixed; "
            "`--reshuffle` builds a new version that includes them."
        )
    if result.stale:
        console.print(
            f"{len(result.stale)} assigned images are no longer usable (rejected, duplicate or "
            "in review); they stay recorded but are left out of training and exports (test "
            "photos among them stay in the fixed test set)."
        )
    if result.unhashed:
        console.print(
            f"{result.unhashed} images have no stored pHash, so near-duplicates among them "
            "cannot be kept together; run the dedup stage first."
        )


def split_command(
    ctx: typer.Context,
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            help="Total images per subset as train,validation,test (e.g. 2400,800,800), "
            "divided evenly over the labels.",
        ),
    ] = None,
    fractions: Annotated[
        str | None,
        typer.Option(
            "--fractions",
            help="Share of each label's images per subset as train,validation,test "
            "(default 0.6,0.2,0.2 for a new split).",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Random seed (default 0; a grown split keeps its own)."),
    ] = None,
    name: Annotated[
        str, typer.Option("--name", help="Name of the split in the catalog.")
    ] = DEFAULT_NAME,
    reshuffle: Annotated[
        bool,
        typer.Option(
            "--reshuffle",
            help="Build a new version from scratch (the test set changes; old versions are kept).",
        ),
    ] = False,
    include_pending: Annotated[
        bool,
        typer.Option("--include-pending", help="Also use images waiting in the review queue."),
    ] = False,
    phash_threshold: Annotated[
        int | None,
        typer.Option(
            "--phash-threshold",
            help="Images whose stored pHashes differ in at most this many bits stay in the "
            "same subset (default 8; -1 turns it off).",
        ),
    ] = None,
    verify: Annotated[
        str | None,
        typer.Option(
            "--verify",
            help="How a pHash match is confirmed, as in `carscout dedup --verify`: align "
            "(default for a new split: also ties mirrored, greyscale, cropped and rotated "
            "copies; reads the photos), colour or orb. A grown split keeps its own.",
        ),
    ] = None,
) -> None:
    """Build or grow a leakage-free, stratified train/validation/test split."""
    split_sizes, split_fractions = parse_split_options(sizes, fractions)
    request = SplitRequest(
        name=name,
        sizes=split_sizes,
        fractions=split_fractions,
        seed=seed,
        reshuffle=reshuffle,
        include_pending=True if include_pending else None,
        phash_threshold=phash_threshold,
        verify=verify,
    )
    from flows.cluster import cluster_shards

    # The cluster is checked before the catalog is opened: an unreachable one writes nothing.
    with cluster_shards(settings_from(ctx), "pairs") as map_shards, workspace_from(ctx) as ws:
        result = build_split(ws, request, map_shards=map_shards)
    print_split_result(result)


def export_command(
    ctx: typer.Context,
    out_dir: Annotated[
        Path, typer.Argument(help="Folder to write train/, validation/, test/ and manifest.csv.")
    ],
    name: Annotated[str, typer.Option("--name", help="Name of the split to export.")] = (
        DEFAULT_NAME
    ),
    version: Annotated[
        int | None, typer.Option("--version", help="Split version (default: the latest).")
    ] = None,
    copy: Annotated[
        bool, typer.Option("--copy", help="Copy files instead of hard-linking them.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export in OUT_DIR.")
    ] = False,
) -> None:
    """Write a split as a folder-per-class tree with a manifest, ready for Keras."""
    with workspace_from(ctx) as ws:
        result = export_split(
            ws, out_dir, name=name, version=version, link=not copy, overwrite=overwrite
        )
    console.print(
        counts_table(
            f"Exported split {result.name!r} v{result.version} to {result.out_dir}", result.counts
        )
    )
    console.print(
        f"{result.linked} hard links, {result.copied} copies, {result.converted} converted to "
        f"PNG; manifest: {result.manifest}"
    )
    if result.skipped_unusable:
        console.print(f"{result.skipped_unusable} images no longer usable were left out.")
    renamed = {label: folder for label, folder in result.folders.items() if label != folder}
    for label, folder in sorted(renamed.items()):
        console.print(f"label {label!r} is in folder {folder!r}")


def register(app: typer.Typer) -> None:
    """Add ``split`` and ``export`` to ``app``."""
    app.command("split")(split_command)
    app.command("export")(export_command)
