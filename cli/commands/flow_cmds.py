"""``carscout run``, ``carscout models`` and ``carscout schedule scrape|retrain``."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.commands.context import settings_from
from pipeline.errors import ConfigError

console = Console()
schedule_app = typer.Typer(
    help="Serve scheduled deployments with Prefect (needs a Prefect server)."
)


def _labels(text: str | None) -> list[str]:
    labels = [label.strip() for label in (text or "").split(",") if label.strip()]
    return labels


def _quiet_prefect(verbose: bool) -> None:
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
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
        int | None, typer.Option("--max-listings", help="At most this many listings per label.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model variant to train (see carscout train).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs.")] = None,
    weights: Annotated[
        str, typer.Option("--weights", help="imagenet, none or a weights file (transfer models).")
    ] = "none",
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's own logs.")] = False,
) -> None:
    """Run the whole pipeline: scrape, curate, split, train, evaluate; print where results are."""
    from flows.main_job import MainJobOptions, run_main_job
    from flows.progress import RichStageReporter, reporting

    _quiet_prefect(verbose)
    settings = settings_from(ctx)
    options = MainJobOptions(
        quick=quick,
        site=site,
        labels=tuple(_labels(labels)),
        max_listings=max_listings,
        model=model,
        epochs=epochs,
        weights=weights,
    )
    console.rule("carscout run" + (" --quick" if quick else ""))
    with reporting(RichStageReporter(console)) as display, display:
        report = run_main_job(settings, options)
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
    table.add_row("waiting for review", f"{report.pending_review} photos: run `carscout review`")
    console.print(table)


def models_command(ctx: typer.Context) -> None:
    """List the champion and every challenger with their metrics."""
    from flows.champion import list_models
    from pipeline.workspace import Workspace

    with Workspace.open(settings_from(ctx)) as ws, ws.catalog.reading() as conn:
        models = list_models(conn)
    if not models:
        console.print("No trained models yet: run `carscout run` or `carscout train`.")
        return
    table = Table(title="Models")
    for column in ("run", "model", "role", "status", "test acc", "val acc", "folder"):
        table.add_column(column, overflow="fold")
    for m in models:
        table.add_row(
            m.name,
            m.model,
            m.role,
            m.status,
            "-" if m.test_accuracy is None else f"{m.test_accuracy:.4f}",
            "-" if m.validation_accuracy is None else f"{m.validation_accuracy:.4f}",
            m.run_dir,
        )
    console.print(table)


def schedule_scrape_command(
    ctx: typer.Context,
    site: Annotated[str, typer.Option("--site", help="Site spec file (or 'demo').")],
    labels: Annotated[str, typer.Option("--labels", help="Comma-separated labels to collect.")],
    cron: Annotated[str, typer.Option("--cron", help="When to run, e.g. '0 3 * * *'.")],
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "scheduled-scrape",
    max_listings: Annotated[
        int | None, typer.Option("--max-listings", help="At most this many listings per label.")
    ] = None,
) -> None:
    """Serve a scheduled scrape deployment until stopped (Ctrl-C or SIGTERM)."""
    from flows.schedules import scrape_deployment, serve

    if not _labels(labels):
        raise ConfigError("--labels is empty; e.g. --labels swift,wagonr")
    deployment = scrape_deployment(
        settings_from(ctx), site, _labels(labels), cron, name, max_listings
    )
    console.print(f"Serving '{name}' on cron '{cron}'. Needs `prefect server start` running.")
    serve(deployment)


def schedule_retrain_command(
    ctx: typer.Context,
    cron: Annotated[str, typer.Option("--cron", help="When to run, e.g. '0 4 * * 0'.")],
    site: Annotated[str, typer.Option("--site", help="Site spec file (or 'demo').")] = "demo",
    labels: Annotated[
        str, typer.Option("--labels", help="Comma-separated labels to collect.")
    ] = "swift,wagonr",
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "scheduled-retrain",
    model: Annotated[str | None, typer.Option("--model", help="Model variant to train.")] = None,
) -> None:
    """Serve a scheduled collect-and-retrain deployment until stopped."""
    from flows.main_job import MainJobOptions, train_config
    from flows.schedules import retrain_deployment, serve

    config = train_config(MainJobOptions(model=model))
    deployment = retrain_deployment(settings_from(ctx), site, _labels(labels), cron, config, name)
    console.print(f"Serving '{name}' on cron '{cron}'. Needs `prefect server start` running.")
    serve(deployment)


def register(app: typer.Typer) -> None:
    """Add the flow commands to ``app``."""
    app.command("run")(run_command)
    app.command("models")(models_command)
    schedule_app.command("scrape")(schedule_scrape_command)
    schedule_app.command("retrain")(schedule_retrain_command)
    app.add_typer(schedule_app, name="schedule")
