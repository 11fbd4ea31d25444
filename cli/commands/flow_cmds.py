"""``carscout run`` and ``carscout models`` (``schedule`` lives in schedule_cmds)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.commands.context import comma_list, hint, workspace_from
from pipeline.errors import CarscoutError, ConfigError

if TYPE_CHECKING:
    from flows.main_job import MainJobOptions

console = Console()


def _quiet_prefect(verbose: bool) -> None:
    if not verbose:
        # A failed stage is reported once, by the stage display and the error line; Prefect's
        # own ERROR records would add a traceback per failed task and flow.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Read when Prefect is imported: a fresh Prefect home needs more than the default 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_command(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="A small site and short training (about 2 minutes).")
    ] = False,
    site: Annotated[
        str | None,
        typer.Option("--site", help="A site spec file for a real marketplace (default: demo)."),
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="Comma-separated labels to collect with --site.")
    ] = None,
    max_listings: Annotated[
        int | None,
        typer.Option("--max-listings", help="At most this many listings per label.", min=1),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model variant to train (see carscout train).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs.", min=1)] = None,
    weights: Annotated[
        str, typer.Option("--weights", help="imagenet, none or a weights file (transfer models).")
    ] = "none",
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's own logs.")] = False,
) -> None:
    """Run the whole pipeline: scrape, curate, split, train, evaluate; print where results are."""
    from flows.main_job import MainJobOptions, run_main_job
    from flows.progress import RichStageReporter, reporting

    _quiet_prefect(verbose)
    options = MainJobOptions(
        quick=quick,
        site=site,
        labels=tuple(comma_list(labels)),
        max_listings=max_listings,
        model=model,
        epochs=epochs,
        weights=weights,
    )
    validate_run_options(options)
    with workspace_from(ctx, create=True) as ws:  # a home that cannot be written fails here
        settings = ws.settings
    console.rule("carscout run" + (" --quick" if quick else ""))
    try:
        with reporting(RichStageReporter(console)) as display, display:
            report = run_main_job(settings, options)
    except CarscoutError:
        raise
    except Exception as exc:
        # The stage display already said which stage failed (✗); one line says why.
        raise CarscoutError(
            f"the run stopped: {type(exc).__name__}: {exc}; rerun with --verbose for Prefect's "
            "logs or --debug for the traceback"
        ) from exc
    table = Table(title="Results", show_header=False)
    table.add_column("what")
    table.add_column("where", overflow="fold")
    table.add_row("test accuracy", f"{report.test_accuracy:.4f}")
    table.add_row("champion", f"{report.champion} ({'promoted' if report.promoted else 'kept'})")
    table.add_row("model", str(report.model_file))
    table.add_row("run folder", str(report.run_dir))
    for plot in report.plots:
        table.add_row("plot", str(plot))
    table.add_row("catalog", report.catalog)
    table.add_row(
        "waiting for review", f"{report.pending_review} photos: run `{hint(ctx, 'review')}`"
    )
    console.print(table)


def validate_run_options(options: MainJobOptions) -> None:
    """Check every option of ``carscout run`` before the first stage starts.

    Raises :class:`ConfigError` for an unknown model, a weights file that does not exist, a
    site spec that does not load, or labels without a site (and a site without labels), so that
    a mistake costs seconds, not a scrape.
    """
    from cli.commands.training_cmds import check_model
    from flows.main_job import train_config

    if options.site is None and options.labels:
        raise ConfigError("--labels goes with --site SPEC; the demo marketplace has its own")
    if options.site is not None:
        from scrapers.spec import load_spec

        if not options.labels:
            raise ConfigError("--site needs --labels, e.g. --labels swift,wagonr")
        load_spec(options.site)
    config = train_config(options)  # validates sizes and epochs
    check_model(config.model)
    if config.weights not in ("imagenet", "none") and not Path(config.weights).is_file():
        raise ConfigError(
            f"--weights {config.weights}: no such file; use imagenet, none or a weights file"
        )


def models_command(ctx: typer.Context) -> None:
    """List the champion and every challenger with their metrics."""
    from training.registry import list_models

    with workspace_from(ctx) as ws, ws.catalog.reading() as conn:
        models = list_models(conn)
        runs_dir = ws.settings.runs_dir
    if not models:
        console.print(f"No trained models yet: run `{hint(ctx, 'run')}` or `{hint(ctx, 'train')}`.")
        return
    # Run names are what a person copies into `evaluate` and `predict`: never wrapped. The
    # folder column only appears for runs kept outside runs/ (it is runs/NAME otherwise).
    elsewhere = [m for m in models if Path(m.run_dir) != runs_dir / m.name]
    table = Table(title="Models")
    table.add_column("run", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("role")
    table.add_column("status")
    table.add_column("test acc", justify="right")
    table.add_column("val acc", justify="right")
    if elsewhere:
        table.add_column("folder", overflow="fold")
    for m in models:
        row = [
            m.name,
            m.model,
            m.role,
            m.status,
            "-" if m.test_accuracy is None else f"{m.test_accuracy:.4f}",
            "-" if m.validation_accuracy is None else f"{m.validation_accuracy:.4f}",
        ]
        table.add_row(*row, *([m.run_dir] if elsewhere else []))
    console.print(table)
    console.print(f"Run folders: {runs_dir}/<run>", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the flow commands to ``app``."""
    app.command("run")(run_command)
    app.command("models")(models_command)
