"""``carscout scrape``: collect listing photos of given car models from a marketplace."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from cli.commands.context import settings_from
from cli.commands.scrape_options import BaseUrl, MaxListings, MaxPages, scrape_request
from pipeline.workspace import Workspace

console = Console()


def scrape_command(
    ctx: typer.Context,
    site: Annotated[
        str,
        typer.Option(
            "--site", help="Site spec: a .toml/.yaml file, or `demo` for the shipped demo spec."
        ),
    ],
    labels: Annotated[
        str, typer.Option("--labels", help="Comma-separated labels to collect, e.g. swift,wagonr.")
    ],
    base_url: BaseUrl = None,
    max_listings: MaxListings = None,
    max_pages: MaxPages = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Parallel photo downloads (default: the spec's, 8)."),
    ] = None,
    user_agent: Annotated[
        str | None,
        typer.Option("--user-agent", help="User agent to send (default names carscout)."),
    ] = None,
    chromium: Annotated[
        str, typer.Option("--chromium", help="Path of the Chromium binary.")
    ] = "/usr/bin/chromium",
    chromedriver: Annotated[
        str, typer.Option("--chromedriver", help="Path of the matching chromedriver.")
    ] = "/usr/bin/chromedriver",
    headed: Annotated[
        bool, typer.Option("--headed", help="Show the browser window (for debugging a spec).")
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Also retry what failed: listings given up after repeated failures, and photos "
            "that failed for good (404, not an image, …).",
        ),
    ] = False,
    revisit: Annotated[
        bool,
        typer.Option(
            "--revisit",
            help="Read every listing again, completed ones too (fields and new photos).",
        ),
    ] = False,
) -> None:
    """Scrape listing photos into the catalog; resumable, polite, every failure recorded.

    Exits with status 1 when a label found no listing at all, 130 when stopped by Ctrl-C or
    SIGTERM (what was collected is kept; run the same command again to resume).
    """
    from scrapers.crawl import LabelSummary
    from scrapers.request import run_scrape

    request = scrape_request(
        site,
        labels,
        base_url,
        max_listings,
        max_pages,
        workers=workers,
        user_agent=user_agent,
        revisit=revisit,
        retry_failed=retry_failed,
        headless=not headed,
        chromium=chromium,
        chromedriver=chromedriver,
    )
    spec = request.spec()  # a bad spec fails before the catalog is opened
    names = request.labels
    with (
        Workspace.open(settings_from(ctx)) as ws,
        Progress(
            TextColumn("{task.description:>12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("listings  {task.fields[photos]} photos  {task.fields[failed]} failed"),
            console=console,
        ) as bar,
    ):
        tasks: dict[str, TaskID] = {
            name: bar.add_task(name, total=max_listings, photos=0, failed=0) for name in names
        }

        def show(summary: LabelSummary) -> None:
            total = max(summary.listings_found, summary.listings_done)
            bar.update(
                tasks[summary.label],
                completed=summary.listings_done,
                total=max_listings or total or None,
                photos=summary.photos_stored + summary.photos_known,
                failed=sum(summary.failures.values()),
            )

        try:
            result = run_scrape(ws, request, progress=show, spec=spec)
        except KeyboardInterrupt:
            bar.stop()
            console.print(
                "scrape interrupted; the run is recorded as interrupted and what it collected "
                "is kept: run the same command again to resume.",
                highlight=False,
            )
            raise typer.Exit(130) from None
    table = Table(title=f"Scrape run {result.run_id} of {result.site} ({result.seconds:.1f} s)")
    for column in ("label", "pages", "listings", "skipped (done before)", "photos stored"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for column in ("same bytes known", "already had", "failed", "incomplete"):
        table.add_column(column, justify="right")
    for name, s in result.labels.items():
        table.add_row(
            name,
            str(s.pages),
            str(s.listings_visited),
            str(s.listings_skipped),
            str(s.photos_stored),
            str(s.photos_known),
            str(s.photos_already_had),
            str(sum(s.failures.values())),
            str(s.listings_incomplete),
        )
    console.print(table)
    incomplete = result.total("listings_incomplete")
    if incomplete:
        console.print(
            f"{incomplete} listing(s) did not complete (a page or photo failed for a while, or "
            "no photo was found): the next run visits them again.",
            highlight=False,
        )
    given_up = result.total("listings_given_up")
    if given_up:
        console.print(
            f"{given_up} listing(s) failed several runs in a row and were left alone; "
            "`--retry-failed` tries them again.",
            highlight=False,
        )
    if result.failures:
        reasons = Table(title="Failures by reason (see `carscout status --failures`)")
        reasons.add_column("reason")
        reasons.add_column("count", justify="right")
        for reason, count in result.failures.most_common():
            reasons.add_row(reason, str(count))
        console.print(reasons)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    empty = result.labels_without_listings
    if empty:
        console.print(
            f"[bold red]error:[/] no listing found for {escape(', '.join(empty))}; check "
            "search.listing_links and start.url in the spec (warnings above)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``carscout scrape`` to ``app``."""
    app.command("scrape")(scrape_command)
