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
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from pipeline import schema as t
from pipeline.catalog import finish_run, record_failure, start_run
from pipeline.errors import ConfigError
from pipeline.intake import Provenance, check_label, intake_image
from pipeline.workspace import Workspace
from scrapers.browser import (
    DEFAULT_CHROMEDRIVER,
    DEFAULT_CHROMIUM,
    end_orphan_browsers,
    make_chrome,
    process_alive,
    process_start_ticks,
)
from scrapers.extract import ListingPage, parse_listing, parse_search
from scrapers.fetch import Fetcher, FetchError
from scrapers.pages import BrowserReader, PageError, PageReader, StaticReader
from scrapers.ratelimit import HostRateLimiter
from scrapers.spec import SiteSpec

STAGE = "scrape"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_ATTEMPTS = 3
# Failures that may go away by themselves: the listing is visited again next run.
TEMPORARY_REASONS = frozenset(
    {
        "timeout",
        "connection_error",
        "truncated_download",
        "robots_unreachable",
        "browser_error",
        "wait_timeout",
        "page_error",
        "no_photos",
        "internal_error",
        "unknown",
        "http_408",
        "http_425",
        "http_429",
    }
)
_FIELDS = ("title", "price", "year", "location")


def is_temporary(reason: str) -> bool:
    """Return True when a failure ``reason`` may go away on a later try (5xx, 429, timeouts,
    a page that did not load or showed no photo); False when it is final (404, 410, not an
    image, too large, robots, off-site, …)."""
    return reason in TEMPORARY_REASONS or reason.startswith("http_5")


@dataclass
class LabelSummary:
    """Counts for one label. ``photos_known``: new URL, bytes already in the catalog;
    ``photos_already_had``: URL stored by an earlier run, not downloaded again;
    ``photos_failed_before``: URL that failed for good in an earlier run, not tried again;
    ``listings_given_up``: listings that failed ``max_attempts`` runs in a row, not visited;
    ``listings_incomplete``: listings visited now that the next run visits again;
    ``warnings``: rules of the spec that found nothing (selector and URL named)."""

    label: str
    pages: int = 0
    listings_found: int = 0
    listings_visited: int = 0
    listings_skipped: int = 0
    listings_given_up: int = 0
    listings_incomplete: int = 0
    photos_stored: int = 0
    photos_known: int = 0
    photos_already_had: int = 0
    photos_failed: int = 0
    photos_failed_before: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    @property
    def listings_done(self) -> int:
        """Return the listings handled so far (visited now or completed earlier)."""
        return self.listings_visited + self.listings_skipped + self.listings_given_up


@dataclass
class ScrapeSummary:
    """What one run did, per label, e.g. ``summary.labels["swift"].photos_stored``."""

    run_id: int
    site: str
    labels: dict[str, LabelSummary]
    seconds: float = 0.0
    requests: int = 0
    status: str = "ok"
    browsers_ended: int = 0
    runs_marked_interrupted: list[int] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """Return every label's warnings, e.g. ``["swift: search.listing_links 'a.x' …"]``."""
        return [f"{name}: {w}" for name, label in self.labels.items() for w in label.warnings]

    @property
    def labels_without_listings(self) -> list[str]:
        """Return the labels for which no listing was found at all."""
        return [name for name, label in self.labels.items() if label.listings_found == 0]

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
            "warnings": self.warnings,
            "browsers_ended": self.browsers_ended,
            "runs_marked_interrupted": self.runs_marked_interrupted,
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
    futures: list[Future[str]]
    failed_for_good: int = 0


@dataclass
class _Options:
    """How a run treats listings from earlier runs (see :func:`scrape`)."""

    revisit: bool = False
    retry_failed: bool = False
    max_attempts: int = MAX_ATTEMPTS


@dataclass
class _Misses:
    """Per label: listings parsed, and per rule how many found nothing (with one example)."""

    parsed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    example: dict[str, str] = field(default_factory=dict)


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
        options: _Options,
    ) -> None:
        self.ws = workspace
        self.spec = spec
        self.options = options
        self.fingerprint = spec.fingerprint()
        self.misses: dict[str, _Misses] = {}
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
            if page == 1 and not found.listing_urls:
                summary.warnings.append(self._search_warning(found.matched, url))
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
        summary.warnings.extend(self._listing_warnings(label))
        self._report(summary)

    def _search_warning(self, matched: int, url: str) -> str:
        selector = self.spec.search.listing_links
        if not matched:
            return f"search.listing_links {selector!r} matched nothing on {url}; fix the selector"
        attribute = self.spec.search.link_attribute
        return (
            f"search.listing_links {selector!r} matched {matched} element(s) on {url} but none "
            f"has a link in {attribute!r}; set search.link_attribute"
        )

    def _listing_warnings(self, label: str) -> list[str]:
        """Return a warning for each rule that found nothing on most listings of ``label``."""
        misses = self.misses.get(label)
        if misses is None:
            return []
        warnings = []
        for name, count in sorted(misses.counts.items()):
            if count * 2 <= misses.parsed:
                continue
            if name == "photos":
                rules = [
                    f"photos.selector {self.spec.photos.selector!r}"
                    if self.spec.photos.selector
                    else "",
                    f"photos.jsonld {self.spec.photos.jsonld!r}" if self.spec.photos.jsonld else "",
                ]
                rule = " and ".join(r for r in rules if r)
                what = "found no photo"
            else:
                rule = f"listing.{name} {getattr(self.spec.listing, name)!r}"
                what = "matched nothing"
            warnings.append(
                f"{rule} {what} on {count} of {misses.parsed} listings "
                f"(e.g. {misses.example[name]}); fix the spec"
            )
        return warnings

    # --- listings ---------------------------------------------------------------------------

    def _decide(self, url: str) -> str:
        """Return ``"visit"``, ``"done"`` (completed earlier) or ``"given_up"`` for a listing."""
        with self.ws.catalog.reading() as conn:
            row = conn.execute(sa.select(t.listings).where(t.listings.c.url == url)).first()
            if row is None:
                return "visit"
            photos = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.image_sources)
                .where(t.image_sources.c.listing_id == row.id)
            ).scalar_one()
        options = self.options
        if options.revisit:
            return "visit"
        spec_changed = row.spec_fingerprint != self.fingerprint
        if row.completed_at is not None:
            if options.retry_failed and row.photos_failed:
                return "visit"
            spec_fields = [name for name in _FIELDS if getattr(self.spec.listing, name)]
            missing = [name for name in spec_fields if getattr(row, name) is None]
            return "visit" if spec_changed and (photos == 0 or missing) else "done"
        attempts = 0 if spec_changed else row.attempts
        if attempts >= options.max_attempts and not options.retry_failed:
            return "given_up"
        return "visit"

    def _upsert_listing(self, label: str, url: str, page: ListingPage | None) -> int:
        """Insert or update the listing's row and return its id; fields found before are kept
        when the page does not have them (now)."""
        now = t.utcnow()
        fields = {name: getattr(page, name) for name in _FIELDS} if page else {}
        found = {name: value for name, value in fields.items() if value is not None}
        with self.ws.catalog.atomic() as conn:
            row = conn.execute(sa.select(t.listings.c.id).where(t.listings.c.url == url)).first()
            if row is not None:
                conn.execute(
                    sa.update(t.listings)
                    .where(t.listings.c.id == row.id)
                    .values(last_seen=now, **found)
                )
                return int(row.id)
            result = conn.execute(
                sa.insert(t.listings).values(
                    site=self.spec.name,
                    url=url,
                    label=label,
                    first_seen=now,
                    last_seen=now,
                    **fields,
                )
            )
            return int(result.inserted_primary_key[0])

    def _finish_listing(self, listing_id: int, *, complete: bool, failed_for_good: int) -> None:
        """Record a visit's outcome: completed, or one more attempt (counted from 0 again when
        the spec changed since the last visit); the spec's fingerprint either way."""
        with self.ws.catalog.atomic() as conn:
            row = conn.execute(
                sa.select(t.listings.c.attempts, t.listings.c.spec_fingerprint).where(
                    t.listings.c.id == listing_id
                )
            ).one()
            values: dict[str, Any] = {
                "spec_fingerprint": self.fingerprint,
                "photos_failed": failed_for_good,
            }
            if complete:
                values.update(completed_at=t.utcnow(), attempts=0)
            else:
                before = row.attempts if row.spec_fingerprint == self.fingerprint else 0
                values.update(completed_at=None, attempts=before + 1)
            conn.execute(sa.update(t.listings).where(t.listings.c.id == listing_id).values(values))

    def _failed_for_good(self, urls: Iterable[str]) -> set[str]:
        """Return the URLs among ``urls`` that failed for good in an earlier run."""
        urls = list(urls)
        if not urls or self.options.retry_failed:
            return set()
        with self.ws.catalog.reading() as conn:
            rows = conn.execute(
                sa.select(t.failures.c.target, t.failures.c.reason).where(
                    t.failures.c.stage == STAGE, t.failures.c.target.in_(urls)
                )
            )
            return {row.target for row in rows if not is_temporary(row.reason)}

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

    def visit_listing(self, summary: LabelSummary, url: str) -> None:
        decision = self._decide(url)
        if decision != "visit":
            if decision == "done":
                summary.listings_skipped += 1
            else:
                summary.listings_given_up += 1
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
            listing_id = self._upsert_listing(summary.label, url, None)
            # A listing that is gone (404, 410) has nothing more to give.
            temporary = is_temporary(exc.reason)
            self._finish_listing(listing_id, complete=not temporary, failed_for_good=0)
            if temporary:
                summary.listings_incomplete += 1
            return
        page = parse_listing(html, url, self.spec)
        misses = self.misses.setdefault(summary.label, _Misses())
        misses.parsed += 1
        for name in page.unmatched:
            misses.counts[name] += 1
            misses.example.setdefault(name, url)
        listing_id = self._upsert_listing(summary.label, url, page)
        summary.listings_visited += 1
        if not page.photo_urls:
            rules = [r for r in (self.spec.photos.selector, self.spec.photos.jsonld) if r]
            self._fail(summary, url, "no_photos", f"nothing found by {rules!r}")
        stored = self._stored_urls(page.photo_urls)
        failed_before = self._failed_for_good(page.photo_urls)
        futures: list[Future[str]] = []
        failed_for_good = 0
        for photo_url in page.photo_urls:
            reason = self.fetcher.denial(photo_url)
            if reason:
                with self.lock:
                    summary.photos_failed += 1
                failed_for_good += 1
                self._fail(summary, photo_url, reason, f"photo on {url}")
                continue
            with self.lock:
                already = photo_url in stored or photo_url in self.queued_urls
                self.queued_urls.add(photo_url)
            if already:
                summary.photos_already_had += 1
                continue
            if photo_url in failed_before:
                summary.photos_failed_before += 1
                failed_for_good += 1
                continue
            futures.append(self.executor.submit(self.download, summary, listing_id, photo_url))
        if not page.photo_urls:
            futures.append(self._done("temporary"))
        self.pending.append(_Pending(listing_id, summary.label, futures, failed_for_good))
        self.reap(block=False)

    @staticmethod
    def _done(outcome: str) -> Future[str]:
        future: Future[str] = Future()
        future.set_result(outcome)
        return future

    # --- photos -----------------------------------------------------------------------------

    def download(self, summary: LabelSummary, listing_id: int, url: str) -> str:
        """Fetch one photo and hand it to intake; return ``"ok"`` (stored or known), ``"failed"``
        (for good) or ``"temporary"`` (to be tried again by the next run).

        An unexpected error is that photo's ``internal_error`` failure, never the run's end.
        """
        try:
            return self._download(summary, listing_id, url)
        except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the scrape
            with self.lock:
                summary.photos_failed += 1
            self._fail(summary, url, "internal_error", f"{type(exc).__name__}: {exc}")
            return "temporary"

    def _download(self, summary: LabelSummary, listing_id: int, url: str) -> str:
        try:
            result = self.fetcher.get(url)
        except FetchError as exc:
            with self.lock:
                summary.photos_failed += 1
            self._fail(summary, url, exc.reason, exc.detail)
            return "temporary" if is_temporary(exc.reason) else "failed"
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
        if outcome.outcome in ("stored", "known"):
            return "ok"
        return "temporary" if is_temporary(outcome.reason or "") else "failed"

    def reap(self, *, block: bool) -> None:
        """Record listings whose downloads all ended: completed when none failed for a while,
        else one more attempt. With ``block``, wait for all.

        Without ``block``, waits only while more than ``max_in_flight`` downloads are queued,
        so reading pages and downloading photos overlap but memory stays bounded.
        """
        while True:
            still: list[_Pending] = []
            for item in self.pending:
                if all(f.done() for f in item.futures):
                    outcomes = [f.result() for f in item.futures]
                    complete = "temporary" not in outcomes
                    self._finish_listing(
                        item.listing_id,
                        complete=complete,
                        failed_for_good=item.failed_for_good + outcomes.count("failed"),
                    )
                    if not complete:
                        self.summaries[item.label].listings_incomplete += 1
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


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (sent by ``kill``, ``timeout`` and service managers) into the same clean
    stop as Ctrl-C while the block runs (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        # One is enough: a second SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _mark_dead_runs(workspace: Workspace) -> list[int]:
    """Mark ``interrupted`` the scrape runs left ``running`` by a process of this machine that
    is gone (killed, crashed); return their ids. Runs of live processes stay as they are."""
    host = socket.gethostname()
    dead: list[int] = []
    with workspace.catalog.atomic() as conn:
        rows = conn.execute(
            sa.select(t.runs.c.id, t.runs.c.params, t.runs.c.summary).where(
                t.runs.c.kind == "scrape", t.runs.c.status == "running"
            )
        ).all()
        for row in rows:
            params = row.params or {}
            if params.get("host", host) != host:
                continue  # another machine's run (a shared catalog): not ours to judge
            if process_alive(params.get("pid"), params.get("pid_start")):
                continue
            summary = {**(row.summary or {}), "note": "the process ended without finishing"}
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == row.id)
                .values(status="interrupted", finished_at=t.utcnow(), summary=summary)
            )
            dead.append(int(row.id))
    return dead


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
    labels = [label.strip() for label in labels if label.strip()]
    if not labels:
        raise ConfigError("no labels given; pass --labels swift,wagonr")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"labels repeat in {labels}; list each label once")
    for label in labels:
        check_label(label)
    for name, value in (("max_listings", max_listings), ("max_pages", max_pages)):
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    workers = workers or spec.download.workers
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if max_attempts < 1:
        raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
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
        "revisit": revisit,
        "retry_failed": retry_failed,
        "spec_fingerprint": spec.fingerprint(),
        "pid": os.getpid(),
        "pid_start": process_start_ticks(os.getpid()),
        "host": socket.gethostname(),
    }
    marked = _mark_dead_runs(workspace)
    browsers_ended = end_orphan_browsers()
    with workspace.catalog.atomic() as conn:
        run_id = start_run(conn, "scrape", params)
    listing_render = spec.listing.render or spec.render
    listing_reader = static_reader if listing_render == "static" else reader
    options = _Options(revisit=revisit, retry_failed=retry_failed, max_attempts=max_attempts)
    crawl = _Crawl(
        workspace, spec, run_id, fetcher, reader, listing_reader, workers, progress, options
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
    with _sigterm_as_interrupt():
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
