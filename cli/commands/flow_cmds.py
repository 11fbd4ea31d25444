"""``carscout run`` and ``carscout models`` (``schedule`` lives in schedule_cmds)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.commands.context import comma_list, hint, settings_from, workspace_from
from cli.commands.scrape_options import BaseUrl, MaxListings
from pipeline.errors import CarscoutError, ConfigError

if TYPE_CHECKING:
    from flows.main_job import MainJobOptions
    from training.registry import ModelRecord

console = Console()


def _quiet_prefect(verbose: bool) -> None:
    if not verbose:
        # A failed stage is reported once, by the stage display and the error line; Prefect's
        # own ERROR records would add a traceback per failed task and flow.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
        # Prefect also prints other libraries' warnings (TensorFlow's retracing notes) through
        # its root logger configuration.
        os.environ.setdefault("PREFECT_LOGGING_ROOT_LEVEL", "CRITICAL")


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
    base_url: BaseUrl = None,
    max_listings: MaxListings = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model variant to train (see carscout train).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs.", min=1)] = None,
    image_size: Annotated[
        int | None,
        typer.Option("--image-size", help="Training image side in pixels (default 64).", min=32),
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option("--learning-rate", help="Adam learning rate (default 0.001)."),
    ] = None,
    weights: Annotated[
        str, typer.Option("--weights", help="imagenet, none or a weights file (transfer models).")
    ] = "none",
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            help="A new split's total images per subset as train,validation,test (e.g. "
            "2400,800,800; default: that on the demo site, scaled down to fit a real one).",
        ),
    ] = None,
    fractions: Annotated[
        str | None,
        typer.Option(
            "--fractions",
            help="A new split's share of each label's images as train,validation,test "
            "(e.g. 0.6,0.2,0.2), instead of --sizes.",
        ),
    ] = None,
    include_pending: Annotated[
        bool,
        typer.Option("--include-pending", help="Also split photos waiting in the review queue."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's own logs.")] = False,
) -> None:
    """Run the whole pipeline: scrape, curate, split, train, evaluate; print where results are."""
    # Before anything imports Prefect, which reads them once; the global --verbose counts too.
    _quiet_prefect(verbose or bool((ctx.obj or {}).get("verbose")))
    from curation.splits.plan import parse_split_options
    from curation.splits.policy import SplitRequest
    from flows.main_job import MainJobOptions, check_existing_split, run_main_job, train_config
    from flows.progress import RichStageReporter, reporting
    from flows.requests import RetrainRequest
    from scrapers.request import ScrapeRequest

    split_sizes, split_fractions = parse_split_options(sizes, fractions)
    # On the demo marketplace the site, labels and base URL are the served site's.
    scrape = ScrapeRequest(
        "demo" if site is None else site,
        tuple(comma_list(labels)),
        base_url=base_url,
        max_listings=max_listings,
    )
    train = train_config(
        quick,
        model=model,
        epochs=epochs,
        image_size=image_size,
        learning_rate=learning_rate,
        weights=weights,
    )
    split = SplitRequest(
        sizes=split_sizes,
        fractions=split_fractions,
        include_pending=True if include_pending else None,
        grow_as_built=True,
    )
    retrain = RetrainRequest(scrape, train, split=split)
    options = MainJobOptions(retrain, quick=quick, demo=site is None)
    validate_run_options(options)
    settings = settings_from(ctx)
    if settings.cluster:  # unreachable or without workers: one line before anything runs
        from flows.cluster import check_cluster

        info = check_cluster(settings.cluster)
        console.print(
            f"runner: Dask cluster {info.address} ({info.workers} workers, {info.threads} threads)",
            highlight=False,
        )
    with workspace_from(ctx, create=True) as ws:  # a home that cannot be written fails here
        settings = ws.settings
    check_existing_split(settings, options)
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
    # Why, with the McNemar p-value when the two runs were compared on the same test photos.
    verdict = report.details.get("verdict") or ("promoted" if report.promoted else "kept")
    table.add_row("champion", f"{report.champion} ({verdict})")
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
    site spec that does not load or lacks its base URL, labels without a site (and a site
    without labels, or with fewer than two or repeated ones), so that a mistake costs seconds,
    not a scrape. Sizes and epochs were checked as the training configuration was built; split
    options are parsed by the caller and checked against the catalog's split by
    :func:`flows.main_job.check_existing_split`.
    """
    from cli.commands.training_cmds import check_model

    scrape, config = options.retrain.scrape, options.retrain.train
    labels = scrape.labels
    if options.demo and (labels or scrape.base_url):
        option = "--labels" if labels else "--base-url"
        raise ConfigError(f"{option} goes with --site SPEC; the demo marketplace has its own")
    if not options.demo:
        if not labels:
            raise ConfigError("--site needs --labels, e.g. --labels swift,wagonr")
        spec = scrape.spec()
        if len(set(labels)) != len(labels):
            raise ConfigError(f"--labels repeats a label ({','.join(labels)})")
        if len(labels) < 2:
            raise ConfigError(
                f"--labels {labels[0]}: a classifier needs two labels or more, e.g. "
                f"--labels {labels[0]},other"
            )
        spec.start_url_for(labels[0])  # a {base_url} spec without one fails here
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
    if console.width < 140:
        _print_model_blocks(models, elsewhere)
    else:
        _print_model_table(models, elsewhere)
    test_sets = {m.test_fingerprint for m in models if m.test_accuracy is not None}
    if len(test_sets) > 1:
        console.print(
            "Runs on different test sets (fingerprints; '-' is unknown) are not comparable "
            "on test: compare test accuracy only within one test set.",
            soft_wrap=True,
        )
    console.print(f"Run folders: {runs_dir}/<run>", soft_wrap=True)


def _accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _print_model_blocks(models: list[ModelRecord], elsewhere: list[ModelRecord]) -> None:
    """Two lines a run, for terminals too narrow for the table: names are never cut."""
    from training.registry import short_fingerprint

    for m in models:
        status = "" if m.status == "finished" else f" ({m.status})"
        console.print(f"{m.name}  {m.model}  {m.role}{status}", soft_wrap=True, highlight=False)
        test_set = (
            f"test set {short_fingerprint(m.test_fingerprint)} ({m.test_count} photos)"
            if m.test_fingerprint
            else "an unknown test set"
        )
        console.print(
            f"  split {m.split} · validation {_accuracy(m.validation_accuracy)} · test "
            f"{_accuracy(m.test_accuracy)} on {test_set} · looked at {m.test_looks}×"
            + (f" · {m.run_dir}" if m in elsewhere else ""),
            soft_wrap=True,
            highlight=False,
        )


def _print_model_table(models: list[ModelRecord], elsewhere: list[ModelRecord]) -> None:
    from training.registry import short_fingerprint

    table = Table(title="Models (chosen on validation; test only compared on the same test set)")
    table.add_column("run", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("role")
    table.add_column("status")
    table.add_column("split", no_wrap=True)
    table.add_column("val acc", justify="right")
    table.add_column("test set", no_wrap=True)
    table.add_column("photos", justify="right")
    table.add_column("test acc", justify="right")
    table.add_column("looks", justify="right")
    if elsewhere:
        table.add_column("folder", overflow="fold")
    for m in models:
        row = [
            m.name,
            m.model,
            m.role,
            m.status,
            m.split,
            _accuracy(m.validation_accuracy),
            short_fingerprint(m.test_fingerprint),
            "-" if m.test_count is None else str(m.test_count),
            _accuracy(m.test_accuracy),
            str(m.test_looks),
        ]
        table.add_row(*row, *([m.run_dir] if elsewhere else []))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the flow commands to ``app``."""
    app.command("run")(run_command)
    app.command("models")(models_command)
