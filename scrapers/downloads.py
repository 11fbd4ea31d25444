"""The photo download pool of one scrape run: fetch in parallel, hand to intake, and record a
listing complete once all its downloads ended (or for another attempt when one may succeed
later)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Literal

from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace
from scrapers.crawl_state import STAGE, FailureLog, ListingState, is_temporary
from scrapers.fetch import Fetcher, FetchError
from scrapers.summary import LabelSummary

# What one download ended with: stored or known, failed for good, or worth a try next run.
Outcome = Literal["ok", "failed", "temporary"]


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
    futures: list[Future[Outcome]]
    failed_for_good: int = 0


def done(outcome: Outcome) -> Future[Outcome]:
    """Return a future already holding ``outcome`` (a listing's result without a download)."""
    future: Future[Outcome] = Future()
    future.set_result(outcome)
    return future


class PhotoDownloads:
    """Parallel photo downloads of one run, and the listings waiting for them."""

    def __init__(
        self,
        workspace: Workspace,
        run_id: int,
        fetcher: Fetcher,
        state: ListingState,
        failures: FailureLog,
        summaries: dict[str, LabelSummary],
        report: Callable[[LabelSummary], None],
        workers: int,
    ) -> None:
        self.ws = workspace
        self.run_id = run_id
        self.fetcher = fetcher
        self.state = state
        self.failures = failures
        self.lock = failures.lock
        self.summaries = summaries
        self.report = report
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photo")
        self.max_in_flight = workers * 4
        self.pending: list[_Pending] = []
        self.photo_locks = _KeyedLocks()

    def submit(self, summary: LabelSummary, listing_id: int, url: str) -> Future[Outcome]:
        """Queue one photo of ``listing_id`` for download; return its future outcome."""
        return self.executor.submit(self.download, summary, listing_id, url)

    def wait_for(
        self, listing_id: int, label: str, futures: list[Future[Outcome]], failed_for_good: int
    ) -> None:
        """Record ``listing_id`` once ``futures`` end; wait while too many downloads queue."""
        self.pending.append(_Pending(listing_id, label, futures, failed_for_good))
        self.reap(block=False)

    def download(self, summary: LabelSummary, listing_id: int, url: str) -> Outcome:
        """Fetch one photo and hand it to intake; return ``"ok"`` (stored or known), ``"failed"``
        (for good) or ``"temporary"`` (to be tried again by the next run).

        An unexpected error is that photo's ``internal_error`` failure, never the run's end.
        """
        try:
            return self._download(summary, listing_id, url)
        except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the scrape
            with self.lock:
                summary.photos_failed += 1
            self.failures.fail(summary, url, "internal_error", f"{type(exc).__name__}: {exc}")
            return "temporary"

    def _download(self, summary: LabelSummary, listing_id: int, url: str) -> Outcome:
        try:
            result = self.fetcher.get(url)
        except FetchError as exc:
            with self.lock:
                summary.photos_failed += 1
            self.failures.fail(summary, url, exc.reason, exc.detail)
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
                    self.state.finish(
                        item.listing_id,
                        complete=complete,
                        failed_for_good=item.failed_for_good + outcomes.count("failed"),
                    )
                    if not complete:
                        self.summaries[item.label].listings_incomplete += 1
                    self.report(self.summaries[item.label])
                else:
                    still.append(item)
            self.pending = still
            in_flight = [f for item in still for f in item.futures if not f.done()]
            if not in_flight or (not block and len(in_flight) <= self.max_in_flight):
                return
            wait(in_flight, return_when=FIRST_COMPLETED)

    def close(self, cancel: bool = False) -> None:
        """Wait for the downloads still running; with ``cancel``, drop those not started."""
        self.executor.shutdown(wait=True, cancel_futures=cancel)
