"""The scrape stage: search pages → listings → photos → intake, resumable and polite.

:func:`scrape` walks each label's search pages, visits every listing not completed by an
earlier run, records it in ``listings`` and downloads its photos in parallel through the
foundation's intake (validation, content-addressed store, provenance). Every failure is written
to ``failures`` with a reason code and counted in the :class:`ScrapeSummary`; the run itself
always finishes and keeps what it got.

Resuming is driven by the catalog alone: a listing gets ``completed_at`` only once each of its
photos was stored or recorded as failed, and photo URLs already in ``image_sources`` are never
downloaded again. A run killed at any point leaves at worst a listing without ``completed_at``
(visited again next time) or a store file without a row (adopted when its photo comes back).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from pipeline import schema as t
from pipeline.catalog import finish_run, record_failure, start_run
from pipeline.errors import ConfigError
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace
from scrapers.browser import DEFAULT_CHROMEDRIVER, DEFAULT_CHROMIUM, make_chrome
from scrapers.extract import ListingPage, parse_listing, parse_search
from scrapers.fetch import Fetcher, FetchError
from scrapers.pages import BrowserReader, PageError, PageReader, StaticReader
from scrapers.ratelimit import HostRateLimiter
from scrapers.spec import SiteSpec

STAGE = "scrape"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LabelSummary:
    """Counts for one label. ``photos_known``: new URL, bytes already in the catalog;
    ``photos_already_had``: URL stored by an earlier run, not downloaded again."""

    label: str
    pages: int = 0
    listings_found: int = 0
    listings_visited: int = 0
    listings_skipped: int = 0
    photos_stored: int = 0
    photos_known: int = 0
    photos_already_had: int = 0
    photos_failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def listings_done(self) -> int:
        """Return the listings handled so far (visited now or completed earlier)."""
        return self.listings_visited + self.listings_skipped


@dataclass
class ScrapeSummary:
    """What one run did, per label, e.g. ``summary.labels["swift"].photos_stored``."""

    run_id: int
    site: str
    labels: dict[str, LabelSummary]
    seconds: float = 0.0
    requests: int = 0
    status: str = "ok"

    @property
    def failures(self) -> Counter[str]:
        """Return failure counts by reason over all labels."""
        total: Counter[str] = Counter()
        for label in self.labels.values():
            total.update(label.failures)
        return total

    def total(self, name: str) -> int:
        """Return the sum of one counter (e.g. ``"photos_stored"``) over all labels."""
        return sum(getattr(label, name) for label in self.labels.values())

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data (stored in ``runs.summary``)."""
        return {
            "run_id": self.run_id,
            "site": self.site,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "labels": {
                name: {**asdict(label), "failures": dict(label.failures)}
                for name, label in self.labels.items()
            },
            "failures": dict(self.failures),
        }


ProgressCallback = Callable[[LabelSummary], None]


class _KeyedLocks:
    """One lock per key, so identical photos found twice are taken in one at a time."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


@dataclass
class _Pending:
    listing_id: int
    label: str
    futures: list[Future[bool]]


class _Crawl:
    """State of one run; see :func:`scrape` for the behaviour."""

    def __init__(
        self,
        workspace: Workspace,
        spec: SiteSpec,
        run_id: int,
        fetcher: Fetcher,
        reader: PageReader,
        listing_reader: PageReader,
        workers: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.ws = workspace
        self.spec = spec
        self.run_id = run_id
        self.fetcher = fetcher
        self.reader = reader
        self.listing_reader = listing_reader
        self.progress = progress
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photo")
        self.max_in_flight = workers * 4
        self.pending: list[_Pending] = []
        self.queued_urls: set[str] = set()
        self.recorded: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.photo_locks = _KeyedLocks()
        self.summaries: dict[str, LabelSummary] = {}

    # --- bookkeeping ------------------------------------------------------------------------

    def _fail(self, summary: LabelSummary, target: str, reason: str, detail: str = "") -> None:
        """Record one failure (once per target and reason in a run) and count it."""
        with self.lock:
            summary.failures[reason] += 1
            if (target, reason) in self.recorded:
                return
            self.recorded.add((target, reason))
        with self.ws.catalog.atomic() as conn:
            record_failure(
                conn, stage=STAGE, target=target, reason=reason, detail=detail, run_id=self.run_id
            )

    def _report(self, summary: LabelSummary) -> None:
        if self.progress is not None:
            self.progress(summary)

    # --- search pages -----------------------------------------------------------------------

    def crawl_label(self, label: str, max_listings: int | None, max_pages: int | None) -> None:
        summary = self.summaries[label]
        seen_pages: set[str] = set()
        seen_listings: set[str] = set()
        url: str | None = self.spec.start_url_for(label, 1)
        page = 1
        while url and url not in seen_pages and (max_pages is None or page <= max_pages):
            seen_pages.add(url)
            try:
                html = self.reader.read(
                    url,
                    wait_for=self.spec.search.wait_for,
                    error=self.spec.search.error,
                    scroll=self.spec.search.scroll,
                )
            except PageError as exc:
                self._fail(summary, url, exc.reason, exc.detail)
                break
            summary.pages += 1
            found = parse_search(html, url, self.spec)
            for link in found.listing_urls:
                if link in seen_listings:
                    continue
                seen_listings.add(link)
                reason = self.fetcher.denial(link)
                if reason:
                    self._fail(summary, link, reason, f"listing link on {url}")
                    continue
                if max_listings is not None and summary.listings_found >= max_listings:
                    url = None
                    break
                summary.listings_found += 1
                self.visit_listing(summary, link)
            else:
                if self.spec.search.next_page:
                    url = found.next_url
                else:
                    url = self.spec.start_url_for(label, page + 1) if found.listing_urls else None
            page += 1
            self._report(summary)
        self.reap(block=True)
        self._report(summary)

    # --- listings ---------------------------------------------------------------------------

    def _completed(self, url: str) -> bool:
        with self.ws.catalog.reading() as conn:
            done = conn.execute(
                sa.select(t.listings.c.completed_at).where(t.listings.c.url == url)
            ).first()
        return done is not None and done.completed_at is not None

    def _upsert_listing(self, label: str, page: ListingPage) -> int:
        now = t.utcnow()
        values = {
            "title": page.title,
            "price": page.price,
            "year": page.year,
            "location": page.location,
            "last_seen": now,
        }
        with self.ws.catalog.atomic() as conn:
            row = conn.execute(
                sa.select(t.listings.c.id).where(t.listings.c.url == page.url)
            ).first()
            if row is not None:
                conn.execute(sa.update(t.listings).where(t.listings.c.id == row.id).values(values))
                return int(row.id)
            result = conn.execute(
                sa.insert(t.listings).values(
                    site=self.spec.name, url=page.url, label=label, first_seen=now, **values
                )
            )
            return int(result.inserted_primary_key[0])

    def _stored_urls(self, urls: Iterable[str]) -> set[str]:
        urls = list(urls)
        if not urls:
            return set()
        with self.ws.catalog.reading() as conn:
            rows = conn.execute(
                sa.select(t.image_sources.c.source_url).where(
                    t.image_sources.c.source_url.in_(urls)
                )
            )
            return {row.source_url for row in rows}

    def _mark_completed(self, listing_id: int) -> None:
        with self.ws.catalog.atomic() as conn:
            conn.execute(
                sa.update(t.listings)
                .where(t.listings.c.id == listing_id)
                .values(completed_at=t.utcnow())
            )

    def visit_listing(self, summary: LabelSummary, url: str) -> None:
        if self._completed(url):
            summary.listings_skipped += 1
            with self.ws.catalog.atomic() as conn:
                conn.execute(
                    sa.update(t.listings)
                    .where(t.listings.c.url == url)
                    .values(last_seen=t.utcnow())
                )
            return
        try:
            html = self.listing_reader.read(
                url,
                wait_for=self.spec.listing.wait_for,
                error=self.spec.listing.error,
                scroll=self.spec.listing.scroll,
            )
        except PageError as exc:
            self._fail(summary, url, exc.reason, exc.detail)
            return
        page = parse_listing(html, url, self.spec)
        listing_id = self._upsert_listing(summary.label, page)
        summary.listings_visited += 1
        if not page.photo_urls:
            self._fail(summary, url, "no_photos", f"nothing matched {self.spec.photos.selector!r}")
        stored = self._stored_urls(page.photo_urls)
        futures: list[Future[bool]] = []
        for photo_url in page.photo_urls:
            reason = self.fetcher.denial(photo_url)
            if reason:
                with self.lock:
                    summary.photos_failed += 1
                self._fail(summary, photo_url, reason, f"photo on {url}")
                continue
            with self.lock:
                already = photo_url in stored or photo_url in self.queued_urls
                self.queued_urls.add(photo_url)
            if already:
                summary.photos_already_had += 1
                continue
            futures.append(self.executor.submit(self.download, summary, listing_id, photo_url))
        self.pending.append(_Pending(listing_id, summary.label, futures))
        self.reap(block=False)

    # --- photos -----------------------------------------------------------------------------

    def download(self, summary: LabelSummary, listing_id: int, url: str) -> bool:
        """Fetch one photo and hand it to intake; return False if it must be tried again."""
        try:
            result = self.fetcher.get(url)
        except FetchError as exc:
            with self.lock:
                summary.photos_failed += 1
            self._fail(summary, url, exc.reason, exc.detail)
            return True
        provenance = Provenance(
            label=summary.label,
            source_url=url,
            listing_id=listing_id,
            run_id=self.run_id,
            stage=STAGE,
        )
        # Identical bytes from two URLs would write the same store file at once.
        with self.photo_locks.get(hashlib.sha256(result.body).hexdigest()):
            outcome = intake_image(
                self.ws.catalog, self.ws.store, result.body, provenance, self.ws.settings.intake
            )
        with self.lock:
            if outcome.outcome == "stored":
                summary.photos_stored += 1
            elif outcome.outcome == "known":
                summary.photos_known += 1
            else:
                summary.photos_failed += 1
                summary.failures[outcome.reason or "rejected"] += 1
        return True

    def reap(self, *, block: bool) -> None:
        """Mark listings whose downloads all ended as completed; with ``block``, wait for all.

        Without ``block``, waits only while more than ``max_in_flight`` downloads are queued,
        so reading pages and downloading photos overlap but memory stays bounded.
        """
        while True:
            still: list[_Pending] = []
            for item in self.pending:
                if all(f.done() for f in item.futures):
                    if all(f.result() for f in item.futures):
                        self._mark_completed(item.listing_id)
                    self._report(self.summaries[item.label])
                else:
                    still.append(item)
            self.pending = still
            in_flight = [f for item in still for f in item.futures if not f.done()]
            if not in_flight or (not block and len(in_flight) <= self.max_in_flight):
                return
            wait(in_flight, return_when=FIRST_COMPLETED)

    def close(self, cancel: bool = False) -> None:
        self.executor.shutdown(wait=True, cancel_futures=cancel)


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
) -> ScrapeSummary:
    """Scrape ``labels`` from the site ``spec`` describes into ``workspace``'s catalog.

    ``max_listings`` and ``max_pages`` bound each label (completed listings count towards the
    bound, so the same bounds select the same listings on a rerun); ``workers`` is the number of
    parallel photo downloads (default: the spec's, 8). ``progress`` is called with a label's
    :class:`LabelSummary` whenever its counts change.

    Returns a :class:`ScrapeSummary`; a ``runs`` row of kind ``scrape`` holds the same data.
    Raises :class:`ConfigError` for bad arguments or a browser that cannot start.
    """
    labels = [label.strip() for label in labels if label.strip()]
    if not labels:
        raise ConfigError("no labels given; pass --labels swift,wagonr")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"labels repeat in {labels}; list each label once")
    for name, value in (("max_listings", max_listings), ("max_pages", max_pages)):
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    workers = workers or spec.download.workers
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    for label in labels:
        spec.start_url_for(label, 1)  # raises early for a missing base URL
    domains = spec.resolved_domains()
    if not domains:
        raise ConfigError(f"{spec.source}: no allowed domain; add allowed_domains to the spec")
    agent = user_agent or spec.politeness.user_agent or workspace.settings.user_agent
    limiter = HostRateLimiter(spec.politeness.delay_seconds)
    fetcher = Fetcher(
        user_agent=agent,
        domains=domains,
        download=spec.download,
        limiter=limiter,
        obey_robots=spec.politeness.obey_robots,
        max_bytes=workspace.settings.intake.max_bytes,
    )
    reader: PageReader
    static_reader = StaticReader(fetcher)
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
    params = {
        "site": spec.name,
        "spec": spec.source,
        "base_url": spec.base_url,
        "labels": labels,
        "max_listings": max_listings,
        "max_pages": max_pages,
        "workers": workers,
        "user_agent": agent,
    }
    with workspace.catalog.atomic() as conn:
        run_id = start_run(conn, "scrape", params)
    listing_render = spec.listing.render or spec.render
    listing_reader = static_reader if listing_render == "static" else reader
    crawl = _Crawl(workspace, spec, run_id, fetcher, reader, listing_reader, workers, progress)
    summary = ScrapeSummary(run_id=run_id, site=spec.name, labels=crawl.summaries)
    started = time.monotonic()
    status = "failed"
    try:
        for label in labels:
            crawl.summaries[label] = LabelSummary(label)
        for label in labels:
            crawl.crawl_label(label, max_listings, max_pages)
        status = "ok"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        crawl.close(cancel=status != "ok")
        reader.close()
        fetcher.close()
        summary.seconds = time.monotonic() - started
        summary.requests = fetcher.requests_sent
        summary.status = status
        with workspace.catalog.atomic() as conn:
            finish_run(conn, run_id, summary.as_dict(), status=status)
    return summary
