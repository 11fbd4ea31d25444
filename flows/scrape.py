"""The ``scrape`` flow: one resumable crawl of a site into the catalog."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.progress import reporter, retry_unless_user_error
from flows.reporting import markdown_table, publish
from pipeline.settings import Settings
from pipeline.workspace import Workspace
from scrapers.crawl import LabelSummary, ScrapeSummary
from scrapers.request import ScrapeRequest, run_scrape


def retry_unless_config_error(task: Any, task_run: Any, state: Any) -> bool:
    """Return False when the task failed with a CarscoutError (a bad spec or a missing base URL:
    retrying cannot fix it), True for anything else (network trouble is worth a retry)."""
    return retry_unless_user_error(task, task_run, state)


@task(
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_unless_config_error,
    cache_policy=NO_CACHE,
)
def crawl_site(settings: Settings, request: ScrapeRequest) -> dict[str, Any]:
    """Run :func:`scrapers.request.run_scrape`; a retry resumes where the failed attempt stopped.

    Returns the run summary as JSON-ready data (:meth:`ScrapeSummary.as_dict`).
    """
    spec = request.spec()
    display = reporter()
    display.stage("scrape")
    seen: dict[str, LabelSummary] = {}

    def show(label: LabelSummary) -> None:
        seen[label.label] = label
        photos = sum(s.photos_stored + s.photos_already_had for s in seen.values())
        done = sum(s.listings_done for s in seen.values())
        display.update(done, None, f"{label.label}: {photos} photos")

    with Workspace.open(settings) as ws:
        summary: ScrapeSummary = run_scrape(ws, request, progress=show, spec=spec)
    display.finish(
        f"{summary.total('listings_visited')} listings, {summary.total('photos_stored')} new "
        f"photos, {sum(summary.failures.values())} failures"
    )
    return summary.as_dict()


@flow(name="scrape", log_prints=True)
def scrape_flow(settings: Settings, request: ScrapeRequest) -> dict[str, Any]:
    """Scrape as ``request`` says (its labels from its site); return the run summary."""
    summary = crawl_site(settings, request)
    rows = [
        (
            label,
            counts["listings_visited"],
            counts["photos_stored"],
            counts["photos_already_had"] + counts["photos_known"],
            counts["photos_failed"],
        )
        for label, counts in summary["labels"].items()
    ]
    failures = markdown_table(["reason", "count"], sorted(summary["failures"].items()))
    publish(
        "scrape-summary",
        f"Scrape of {summary['site']}",
        markdown_table(["label", "listings", "stored", "already had", "failed"], rows)
        + "\n\n## Failures\n\n"
        + failures,
    )
    return summary
