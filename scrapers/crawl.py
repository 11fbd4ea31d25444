"""The scrape stage: search pages → listings → photos → intake, resumable and polite.

:func:`scrape` walks each label's search pages, visits every listing not completed by an
earlier run, records it in ``listings`` and downloads its photos in parallel through the
foundation's intake (validation, content-addressed store, provenance). Every failure is written
to ``failures`` with a reason code and counted in the :class:`ScrapeSummary`; the run itself
always finishes and keeps what it got.

Resuming is driven by the catalog alone: a listing gets ``completed_at`` only once each of its
photos was stored or failed *for good* (404/410, not an image, too large, robots, off-site);
a listing whose page failed to load, that showed no photo, or with a photo that failed for a
while (5xx, 429, timeout after every retry) is visited again by the next run, up to
``max_attempts`` runs in a row (``retry_failed`` lifts the bound). Each listing keeps the
fingerprint of the spec that read it, and a changed spec visits again the completed listings
left without photos or fields. Photo URLs already in ``image_sources`` are never downloaded
again. A run killed at any point leaves at worst a listing without ``completed_at`` (visited
again next time) or a store file without a row (adopted when its photo comes back); the next
run marks it ``interrupted`` and ends the browser it left behind.

A search page whose listing selector matches nothing, and a field or photo rule that finds
nothing on most listings, become warnings in the summary; a label with no listing at all makes
the run's status ``no_listings``.

This module checks the arguments, assembles the run and records it; ``traversal`` walks the
pages, ``downloads`` fetches the photos, ``crawl_state`` reads and writes what earlier runs left
in the catalog, ``lifecycle`` handles dead runs and SIGTERM, and ``summary`` holds the counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from pipeline.catalog import finish_run, start_run
from pipeline.errors import ConfigError
from pipeline.intake import check_label
from pipeline.workspace import Workspace
from scrapers.browser import DEFAULT_CHROMEDRIVER, DEFAULT_CHROMIUM, make_chrome
from scrapers.crawl_state import MAX_ATTEMPTS, STAGE, FailureLog, ListingState, ResumeOptions
from scrapers.fetch import Fetcher
from scrapers.lifecycle import clean_up_after_dead_runs, process_identity, sigterm_as_interrupt
from scrapers.pages import BrowserReader, PageReader, StaticReader
from scrapers.ratelimit import HostRateLimiter
from scrapers.spec_model import SiteSpec
from scrapers.summary import LabelSummary, ProgressCallback, ScrapeSummary
from scrapers.traversal import Crawl

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _loopback_only(spec: SiteSpec) -> bool:
    """Return True when every allowed domain is this machine (the demo marketplace): the
    browser then resolves no other name, so not even its background traffic leaves."""
    domains = spec.resolved_domains()
    return bool(domains) and all(d.split(":")[0] in _LOOPBACK for d in domains)


def scrape(
    workspace: Workspace,
    spec: SiteSpec,
    labels: Iterable[str],
    *,
    max_listings: int | None = None,
    max_pages: int | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    user_agent: str | None = None,
    headless: bool = True,
    chromium_path: str = DEFAULT_CHROMIUM,
    chromedriver_path: str = DEFAULT_CHROMEDRIVER,
    revisit: bool = False,
    retry_failed: bool = False,
    max_attempts: int = MAX_ATTEMPTS,
) -> ScrapeSummary:
    """Scrape ``labels`` from the site ``spec`` describes into ``workspace``'s catalog.

    ``max_listings`` and ``max_pages`` bound each label (listings handled earlier count towards
    the bound, so the same bounds select the same listings on a rerun); ``workers`` is the
    number of parallel photo downloads (default: the spec's, 8). ``progress`` is called with a
    label's :class:`LabelSummary` whenever its counts change. Listings that did not complete are
    visited again, up to ``max_attempts`` runs in a row; ``retry_failed`` visits those too and
    completed listings with failed photos, and downloads photos that failed for good again;
    ``revisit`` reads every listing again (fields and new photos; stored photos are kept).

    SIGTERM stops the run like Ctrl-C (``KeyboardInterrupt``; the run is recorded
    ``interrupted``). Before it starts, runs left ``running`` by dead processes are marked
    ``interrupted`` and browsers they left behind are ended.

    Returns a :class:`ScrapeSummary`; a ``runs`` row of kind ``scrape`` holds the same data.
    Raises :class:`ConfigError` for bad arguments or a browser that cannot start.
    """
    labels = _checked_labels(labels)
    workers = workers or spec.download.workers
    _check_bounds(spec, labels, max_listings, max_pages, workers, max_attempts)
    agent = user_agent or spec.politeness.user_agent or workspace.settings.user_agent
    fetcher = Fetcher(
        user_agent=agent,
        domains=spec.resolved_domains(),
        download=spec.download,
        limiter=HostRateLimiter(spec.politeness.delay_seconds),
        obey_robots=spec.politeness.obey_robots,
        max_bytes=workspace.settings.intake.max_bytes,
    )
    reader, listing_reader = _readers(
        spec, fetcher, agent, headless, chromium_path, chromedriver_path
    )
    params = {
        "site": spec.name,
        "spec": spec.source,
        "base_url": spec.base_url,
        "labels": labels,
        "max_listings": max_listings,
        "max_pages": max_pages,
        "workers": workers,
        "user_agent": agent,
        "revisit": revisit,
        "retry_failed": retry_failed,
        "spec_fingerprint": spec.fingerprint(),
        **process_identity(),
    }
    marked, browsers_ended = clean_up_after_dead_runs(workspace)
    with workspace.catalog.atomic() as conn:
        run_id = start_run(conn, STAGE, params)
    options = ResumeOptions(revisit=revisit, retry_failed=retry_failed, max_attempts=max_attempts)
    crawl = Crawl(
        workspace,
        spec,
        fetcher,
        reader,
        listing_reader,
        ListingState(workspace.catalog, spec, options),
        FailureLog(workspace.catalog, run_id, threading.Lock()),
        workers,
        progress,
    )
    summary = ScrapeSummary(
        run_id=run_id,
        site=spec.name,
        labels=crawl.summaries,
        browsers_ended=browsers_ended,
        runs_marked_interrupted=marked,
    )
    started = time.monotonic()
    status = "failed"
    with sigterm_as_interrupt():
        try:
            for label in labels:
                crawl.summaries[label] = LabelSummary(label)
            for label in labels:
                crawl.crawl_label(label, max_listings, max_pages)
            status = "no_listings" if summary.labels_without_listings else "ok"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            crawl.close(cancel=status not in ("ok", "no_listings"))
            reader.close()
            fetcher.close()
            summary.seconds = time.monotonic() - started
            summary.requests = fetcher.requests_sent
            summary.status = status
            with workspace.catalog.atomic() as conn:
                finish_run(conn, run_id, summary.as_dict(), status=status)
    return summary


def _checked_labels(labels: Iterable[str]) -> list[str]:
    """Return the labels stripped, each checked; raise :class:`ConfigError` for none or repeats."""
    labels = [label.strip() for label in labels if label.strip()]
    if not labels:
        raise ConfigError("no labels given; pass --labels swift,wagonr")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"labels repeat in {labels}; list each label once")
    for label in labels:
        check_label(label)
    return labels


def _check_bounds(
    spec: SiteSpec,
    labels: list[str],
    max_listings: int | None,
    max_pages: int | None,
    workers: int,
    max_attempts: int,
) -> None:
    """Raise :class:`ConfigError` for a bound below 1, or a spec with no start URL for a label
    or no allowed domain."""
    for name, value in (("max_listings", max_listings), ("max_pages", max_pages)):
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if max_attempts < 1:
        raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
    for label in labels:
        spec.start_url_for(label, 1)  # raises early for a missing base URL
    if not spec.resolved_domains():
        raise ConfigError(f"{spec.source}: no allowed domain; add allowed_domains to the spec")


def _readers(
    spec: SiteSpec,
    fetcher: Fetcher,
    agent: str,
    headless: bool,
    chromium_path: str,
    chromedriver_path: str,
) -> tuple[PageReader, PageReader]:
    """Return the readers of search pages and of listings: plain HTTP, or headless Chromium
    where the spec renders (the listing reader shares the search reader's browser)."""
    static_reader = StaticReader(fetcher)
    reader: PageReader
    if spec.render == "static":
        reader = static_reader
    else:
        local_only = _loopback_only(spec)
        reader = BrowserReader(
            fetcher,
            lambda: make_chrome(
                headless,
                chromium_path,
                chromedriver_path,
                local_only,
                user_agent=agent,
                images=False,
            ),
            timeout=spec.download.page_timeout,
            retries=spec.download.retries,
            backoff=spec.download.backoff_seconds,
        )
    listing_render = spec.listing.render or spec.render
    return reader, static_reader if listing_render == "static" else reader
