"""``carscout schedule scrape|retrain|list|pause|resume|remove``: thin over flows.schedules."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.commands.context import settings_from
from cli.commands.scrape_options import BaseUrl, MaxListings, MaxPages, scrape_request

if TYPE_CHECKING:
    from pipeline.settings import Settings

console = Console()
schedule_app = typer.Typer(
    help="Scheduled scrapes and retrains (needs a running `prefect server start`).",
    no_args_is_help=True,
)

Cron = Annotated[
    str | None,
    typer.Option("--cron", help="When to run, e.g. '0 3 * * *' (minute hour day month weekday)."),
]
Interval = Annotated[
    float | None,
    typer.Option("--interval", help="Run every N seconds instead of --cron (at least 10)."),
]
TimeZone = Annotated[
    str | None,
    typer.Option(
        "--timezone", help="IANA zone the cron is in, e.g. Europe/Berlin (default: this machine's)."
    ),
]
Verbose = Annotated[bool, typer.Option("--verbose", help="Also show Prefect's own log lines.")]
Name = Annotated[str, typer.Argument(help="Schedule (deployment) name, see `schedule list`.")]
Pool = Annotated[
    str | None,
    typer.Option(
        "--pool",
        help="Deploy to this Prefect work pool (type process, created if missing) and return: "
        "`prefect worker start --pool NAME` processes, on any machine with carscout, the "
        "catalog and the data home at the same paths, run the ticks (default: serve them here).",
    ),
]


def _prepare(verbose: bool) -> None:
    """Check the server before anything else and keep Prefect's console logs out of the way."""
    from flows.schedules.server import require_server
    from flows.schedules.serving import quiet_prefect_console

    require_server()
    if not verbose:
        quiet_prefect_console()


def _announce(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


def _settings(ctx: typer.Context) -> Settings:
    """Return the settings, with a --cluster's scheduler checked now rather than at a tick."""
    settings = settings_from(ctx)
    if settings.cluster:
        from flows.cluster import check_cluster

        info = check_cluster(settings.cluster)
        _announce(f"runner: Dask cluster {info.address} ({info.workers} workers)")
    return settings


def _serve_or_deploy(deployment: Any, pool: str | None) -> None:
    """Serve ``deployment`` here until stopped, or deploy it to the work pool ``pool``."""
    if pool is None:
        from flows.schedules.serving import serve

        serve(deployment, announce=_announce)
        return
    from flows.schedules.pools import deploy_to_pool
    from flows.schedules.timing import describe_schedule

    done = deploy_to_pool(deployment, pool)
    when = describe_schedule(deployment.schedules[0].schedule)
    _announce(
        f"deployed '{done.name}' ({done.flow}) to work pool '{done.pool}' on {when}"
        + (f", paused (`carscout schedule resume {done.name}`)" if done.paused else "")
    )
    _announce(
        f"{done.workers} worker(s) online in '{done.pool}'; start one on each machine with "
        f"`prefect worker start --pool {done.pool}` (carscout installed, PREFECT_API_URL set, "
        "the catalog and the data home reachable at the same paths)"
    )


def schedule_scrape_command(
    ctx: typer.Context,
    site: Annotated[str, typer.Option("--site", help="Site spec file (or 'demo').")],
    labels: Annotated[str, typer.Option("--labels", help="Comma-separated labels to collect.")],
    cron: Cron = None,
    interval: Interval = None,
    timezone: TimeZone = None,
    base_url: BaseUrl = None,
    max_listings: MaxListings = None,
    max_pages: MaxPages = None,
    name: Annotated[str, typer.Option("--name", help="Schedule name.")] = "scheduled-scrape",
    pool: Pool = None,
    verbose: Verbose = False,
) -> None:
    """Register a scheduled scrape and serve it until stopped (Ctrl-C or SIGTERM), or deploy it
    to a work pool (--pool)."""
    from flows.schedules.deployments import scrape_deployment

    _prepare(verbose)
    request = scrape_request(site, labels, base_url, max_listings, max_pages)
    deployment = scrape_deployment(
        _settings(ctx), request, cron, name, timezone=timezone, interval=interval
    )
    _serve_or_deploy(deployment, pool)


def schedule_retrain_command(
    ctx: typer.Context,
    cron: Cron = None,
    interval: Interval = None,
    timezone: TimeZone = None,
    site: Annotated[str, typer.Option("--site", help="Site spec file (or 'demo').")] = "demo",
    labels: Annotated[
        str, typer.Option("--labels", help="Comma-separated labels to collect.")
    ] = "swift,wagonr",
    base_url: BaseUrl = None,
    max_listings: MaxListings = None,
    max_pages: MaxPages = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model variant to train (see carscout train).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs.")] = None,
    image_size: Annotated[
        int | None, typer.Option("--image-size", min=16, help="Square input side in pixels.")
    ] = None,
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            help="Split sizes train,validation,test for a new split (e.g. 2400,800,800).",
        ),
    ] = None,
    review_budget: Annotated[
        float,
        typer.Option("--review-budget", help="Share of new photos to queue for review (0-1)."),
    ] = 0.12,
    weights: Annotated[
        str, typer.Option("--weights", help="imagenet, none or a weights file (transfer models).")
    ] = "none",
    name: Annotated[str, typer.Option("--name", help="Schedule name.")] = "scheduled-retrain",
    pool: Pool = None,
    verbose: Verbose = False,
) -> None:
    """Register a scheduled collect-and-retrain and serve it until stopped, or deploy it to a
    work pool (--pool)."""
    from curation.splits.plan import parse_sizes
    from curation.splits.policy import SplitRequest
    from flows.main_job import train_config
    from flows.requests import RetrainRequest
    from flows.schedules.deployments import retrain_deployment

    _prepare(verbose)
    scrape = scrape_request(site, labels, base_url, max_listings, max_pages)
    request = RetrainRequest(
        scrape,
        train_config(model=model, epochs=epochs, image_size=image_size, weights=weights),
        split=SplitRequest(
            sizes=parse_sizes(sizes) if sizes is not None else None, grow_as_built=True
        ),
        review_budget=review_budget,
    )
    deployment = retrain_deployment(
        _settings(ctx), request, cron, name, timezone=timezone, interval=interval
    )
    _serve_or_deploy(deployment, pool)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def schedule_list_command() -> None:
    """List carscout's schedules on the Prefect server: when, what, next and last run."""
    from flows.schedules.managing import list_schedules

    schedules = list_schedules()
    if not schedules:
        console.print("No schedules yet: `carscout schedule scrape …` or `schedule retrain …`.")
        return
    table = Table(title="Schedules")
    columns = ("name", "job", "when", "site", "labels", "state", "runs on", "next run", "last run")
    for column in columns:
        table.add_column(column, overflow="fold")
    for s in schedules:
        last = "-" if s.last_state is None else f"{s.last_state} {_when(s.last_run)}"
        table.add_row(
            s.name,
            s.flow,
            s.schedule,
            s.site,
            ",".join(s.labels),
            "paused" if s.paused else "active",
            f"pool {s.pool}" if s.pool else "carscout schedule",
            _when(s.next_run),
            last,
        )
    console.print(table)


def schedule_pause_command(name: Name) -> None:
    """Pause a schedule: no new runs until `carscout schedule resume NAME`."""
    from flows.schedules.managing import pause_schedule

    pause_schedule(name)
    console.print(f"paused '{name}'")


def schedule_resume_command(name: Name) -> None:
    """Resume a paused schedule."""
    from flows.schedules.managing import resume_schedule

    resume_schedule(name)
    console.print(f"resumed '{name}'")


def schedule_remove_command(name: Name) -> None:
    """Remove a schedule from the server (the catalog keeps its past runs)."""
    from flows.schedules.managing import remove_schedule

    pool = remove_schedule(name)
    if pool is not None:
        console.print(f"removed '{name}' from work pool '{pool}' (its workers keep running)")
        return
    console.print(
        f"removed '{name}'; stop the `carscout schedule` process that served it, or it is "
        "registered again when that process restarts"
    )


def register(app: typer.Typer) -> None:
    """Add the ``schedule`` command group to ``app``."""
    schedule_app.command("scrape")(schedule_scrape_command)
    schedule_app.command("retrain")(schedule_retrain_command)
    schedule_app.command("list")(schedule_list_command)
    schedule_app.command("pause")(schedule_pause_command)
    schedule_app.command("resume")(schedule_resume_command)
    schedule_app.command("remove")(schedule_remove_command)
    app.add_typer(schedule_app, name="schedule")
