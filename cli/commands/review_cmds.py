"""``carscout score`` and ``carscout review`` (interactive, ``review sheet``, ``review apply``)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.commands.context import hint, settings_from, workspace_from

console = Console()
review_app = typer.Typer(
    help="Review the queue of suspect photos: interactively (no subcommand), or in batch with "
    "`review sheet` and `review apply`.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def score_command(
    ctx: typer.Context,
    features: Annotated[
        str,
        typer.Option(
            "--features",
            help="Feature source: auto (backbone if its ImageNet weights are on disk or "
            "downloadable, else offline, shape or their stacked blend, whichever predicts the "
            "listed labels best out of fold), "
            "offline (an out-of-fold CNN trained on the photos), shape (gradient-orientation "
            "grids; better on real photos, worse on drawn ones), combined (offline and shape "
            "averaged), backbone, or handmade (colour/edge features, fast and weak).",
        ),
    ] = "auto",
    weights: Annotated[
        Path | None,
        typer.Option("--weights", help="No-top ImageNet weights file for the backbone."),
    ] = None,
    backbone: Annotated[
        str, typer.Option("--backbone", help="Keras backbone: MobileNetV3Small or EfficientNetB0.")
    ] = "MobileNetV3Small",
    folds: Annotated[
        int | None,
        typer.Option(
            "--folds",
            help="Folds of the out-of-fold model, whichever source runs (default: 3 for the "
            "offline CNN, 5 for backbone/handmade features).",
            min=2,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fold split.")] = 0,
    budget: Annotated[
        float,
        typer.Option(
            "--budget", help="Queue this share of each label (highest issue scores first)."
        ),
    ] = 0.12,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Queue every image with an issue score at least this instead."
        ),
    ] = None,
    requeue: Annotated[
        bool, typer.Option("--requeue", help="Queue images again even if already decided.")
    ] = False,
) -> None:
    """Score every active image for a wrong label or a non-car photo, and queue the suspects."""
    from curation.labels.issues import ScoreConfig, score_catalog
    from curation.review.queue import QueueConfig, build_queue

    config = ScoreConfig(source=features, weights=weights, backbone=backbone, seed=seed)
    if folds is not None:
        config = replace(config, folds=folds, cnn_folds=folds)
    queue_config = QueueConfig(
        budget=None if threshold is not None else budget, threshold=threshold, requeue=requeue
    )
    from curation.labels.fold_tasks import folds_on
    from flows.cluster import cluster_shards

    with (
        cluster_shards(settings_from(ctx), "features", "folds") as (map_shards, fold_shards),
        workspace_from(ctx) as ws,
    ):
        with (
            console.status("computing features and out-of-fold probabilities…"),
            folds_on(fold_shards),
        ):
            run = score_catalog(ws, config, map_shards=map_shards)
        queued = build_queue(
            ws.catalog, QueueConfig(**{**queue_config.__dict__, "run_id": run.run_id})
        )
    console.print(f"features: {run.feature_source}   model: {run.model}   run: {run.run_id}")
    if run.choice:
        console.print(run.choice, highlight=False)
    table = Table(title="Scored images and review queue")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, count in sorted(run.images.items()):
        table.add_row(f"scored: {label}", str(count))
    for reason, count in sorted(queued.by_reason.items()):
        table.add_row(f"queued: {reason}", str(count))
    table.add_row("new in queue", str(queued.added))
    table.add_row("already queued (refreshed)", str(queued.refreshed))
    table.add_row("already decided (not queued)", str(queued.already_decided))
    console.print(table)
    console.print(f"Next: `{hint(ctx, 'review')}` (or `{hint(ctx, 'review sheet')}`).")


@review_app.callback()
def review_command(
    ctx: typer.Context,
    display: Annotated[
        str,
        typer.Option(
            "--display",
            help="How to show photos: auto (kitty or iTerm2 if detected, else sixel if the "
            "terminal answers it has it, else halfblock), kitty, sixel, iterm, halfblock "
            "(coloured Unicode half-blocks: any 256-colour terminal, tmux included), or file "
            "(write a thumbnail and print its path).",
        ),
    ] = "auto",
    open_viewer: Annotated[
        bool,
        typer.Option("--open", help="In file mode, also open each thumbnail in the system viewer."),
    ] = False,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who decides (recorded as review:<name>; default: login)."),
    ] = None,
    web: Annotated[
        bool,
        typer.Option(
            "--web", help="Serve the queue as a local page in the browser instead (a grid)."
        ),
    ] = False,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="With --web: the address to listen on (127.0.0.1 by default; another one "
            "exposes the page to that network, still behind the token).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="With --web: the port (0 = any free one).")
    ] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="With --web: print the URL, open no browser.")
    ] = False,
) -> None:
    """Review the queue one photo at a time: k keep, r relabel, x reject, s skip, u undo, q quit."""
    if ctx.invoked_subcommand is not None:
        return
    if web:
        _serve_web(ctx, actor, host, port, open_browser=not no_browser)
        return
    from curation.review.decisions import default_actor
    from curation.review.keys import terminal_keys
    from curation.review.queue import ReviewError
    from curation.review.terminal_image import DISPLAY_MODES, PhotoShower, detect_display
    from curation.review.tui import review_loop

    if display not in DISPLAY_MODES:
        raise ReviewError(f"unknown --display {display!r}; use one of {', '.join(DISPLAY_MODES)}")
    who = f"review:{actor}" if actor else default_actor()
    with workspace_from(ctx) as ws:
        mode = detect_display() if display == "auto" else display
        if open_viewer and mode != "file":
            console.print(f"--open: photos are shown inline ({mode}); no viewer is needed")
        shower = PhotoShower(mode, ws.settings.reports_dir / "review-thumbs", open_viewer)
        with terminal_keys() as keys:
            review_loop(
                ws.catalog, ws.store, keys, sys.stdout, who, shower, resume_hint=hint(ctx, "review")
            )


def _serve_web(
    ctx: typer.Context, actor: str | None, host: str, port: int, open_browser: bool
) -> None:
    from curation.review.decisions import default_actor
    from curation.review.web.server import ReviewServer
    from curation.review.web.server import open_browser as open_in_browser

    who = f"review:{actor}" if actor else default_actor()
    with workspace_from(ctx) as ws:
        server = ReviewServer(ws, who, host, port)
        print(f"Review page: {server.url}", flush=True)
        print(
            f"Listening on {server.host}:{server.port} only; the token in the URL is required. "
            "Ctrl-C stops.",
            flush=True,
        )
        if open_browser and open_in_browser(server.url):
            print("Opened in your browser.", flush=True)
        server.serve()


@review_app.command("sheet")
def sheet_command(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the sheets and decisions.csv (default: reports)."),
    ] = None,
    per_sheet: Annotated[int, typer.Option("--per-sheet", help="Photos per sheet.")] = 48,
    columns: Annotated[int, typer.Option("--columns", help="Photos per sheet row.")] = 8,
    tile: Annotated[int, typer.Option("--tile", help="Tile size in pixels.")] = 160,
) -> None:
    """Write numbered contact-sheet PNGs of the open queue and a decisions.csv to fill in."""
    from curation.review.batch import write_sheets

    with workspace_from(ctx) as ws:
        target = out or ws.settings.reports_dir / "review-sheets"
        result = write_sheets(ws.catalog, ws.store, target, per_sheet, columns, tile)
    console.print(f"{result.items} open items on {len(result.sheets)} sheet(s) in {target}")
    console.print(
        f"Fill in the action column of {result.decisions} (keep, relabel + new_label, reject, "
        f"skip), then `{hint(ctx, 'review apply')} {result.decisions}`.",
        soft_wrap=True,
    )


@review_app.command("apply")
def apply_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="decisions.csv with item_id, action, new_label.")],
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who decided (recorded as review:<name>; default: login)."),
    ] = None,
    allow_new_labels: Annotated[
        bool,
        typer.Option(
            "--allow-new-labels",
            help="Accept a new_label that no photo carries yet (otherwise it is an error, "
            "since a typo would start a one-photo class).",
        ),
    ] = False,
) -> None:
    """Apply a decisions CSV: rows are validated first; a file with errors changes nothing."""
    from curation.review.batch import apply_decisions_file
    from curation.review.decisions import default_actor

    who = f"review:{actor}" if actor else default_actor()
    with workspace_from(ctx) as ws:
        summary = apply_decisions_file(ws.catalog, file, who, allow_new_labels=allow_new_labels)
    table = Table(title=f"Applied {file}")
    table.add_column("action")
    table.add_column("items", justify="right")
    for action, count in sorted(summary.applied.items()):
        table.add_row(action, str(count))
    table.add_row("left open (no action)", str(summary.left_open))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``score`` and ``review`` to ``app``."""
    app.command("score")(score_command)
    app.add_typer(review_app, name="review")
