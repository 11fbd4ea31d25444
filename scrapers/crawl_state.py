"""What the catalog remembers of earlier crawls, and how a run reads and writes it.

A listing is visited again unless it was completed (every photo stored or failed for good),
gave up after ``max_attempts`` runs in a row, or was read with the same spec; photo URLs already
stored or failed for good are not fetched again. :class:`ListingState` holds those queries and
the ``listings`` writes; :class:`FailureLog` records each failure once per run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from pipeline import schema as t
from pipeline.catalog import Catalog, record_failure
from scrapers.extract import ListingPage
from scrapers.spec_model import SiteSpec
from scrapers.summary import LabelSummary

STAGE = "scrape"
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
FIELDS = ("title", "price", "year", "location")
Decision = Literal["visit", "done", "given_up"]


def is_temporary(reason: str) -> bool:
    """Return True when a failure ``reason`` may go away on a later try (5xx, 429, timeouts,
    a page that did not load or showed no photo); False when it is final (404, 410, not an
    image, too large, robots, off-site, …)."""
    return reason in TEMPORARY_REASONS or reason.startswith("http_5")


@dataclass
class ResumeOptions:
    """How a run treats listings from earlier runs (see :func:`scrapers.crawl.scrape`)."""

    revisit: bool = False
    retry_failed: bool = False
    max_attempts: int = MAX_ATTEMPTS


class FailureLog:
    """Counts failures in the label's summary and records each in ``failures`` once per run
    (per target and reason); ``lock`` guards the summaries shared with download threads."""

    def __init__(self, catalog: Catalog, run_id: int, lock: threading.Lock) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self.lock = lock
        self.recorded: set[tuple[str, str]] = set()

    def fail(self, summary: LabelSummary, target: str, reason: str, detail: str = "") -> None:
        """Count one failure of ``target`` and record it unless this run recorded it already."""
        with self.lock:
            summary.failures[reason] += 1
            if (target, reason) in self.recorded:
                return
            self.recorded.add((target, reason))
        with self.catalog.atomic() as conn:
            record_failure(
                conn, stage=STAGE, target=target, reason=reason, detail=detail, run_id=self.run_id
            )


class ListingState:
    """The ``listings`` rows of one site, read and written for one run of ``spec``."""

    def __init__(self, catalog: Catalog, spec: SiteSpec, options: ResumeOptions) -> None:
        self.catalog = catalog
        self.spec = spec
        self.options = options
        self.fingerprint = spec.fingerprint()

    def decide(self, url: str) -> Decision:
        """Return ``"visit"``, ``"done"`` (completed earlier) or ``"given_up"`` for a listing."""
        with self.catalog.reading() as conn:
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
            spec_fields = [name for name in FIELDS if getattr(self.spec.listing, name)]
            missing = [name for name in spec_fields if getattr(row, name) is None]
            return "visit" if spec_changed and (photos == 0 or missing) else "done"
        attempts = 0 if spec_changed else row.attempts
        if attempts >= options.max_attempts and not options.retry_failed:
            return "given_up"
        return "visit"

    def seen(self, url: str) -> None:
        """Stamp ``last_seen`` on a listing found again but not visited."""
        with self.catalog.atomic() as conn:
            conn.execute(
                sa.update(t.listings).where(t.listings.c.url == url).values(last_seen=t.utcnow())
            )

    def upsert(self, label: str, url: str, page: ListingPage | None) -> int:
        """Insert or update the listing's row and return its id; fields found before are kept
        when the page does not have them (now)."""
        now = t.utcnow()
        fields = {name: getattr(page, name) for name in FIELDS} if page else {}
        found = {name: value for name, value in fields.items() if value is not None}
        with self.catalog.atomic() as conn:
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

    def finish(self, listing_id: int, *, complete: bool, failed_for_good: int) -> None:
        """Record a visit's outcome: completed, or one more attempt (counted from 0 again when
        the spec changed since the last visit); the spec's fingerprint either way."""
        with self.catalog.atomic() as conn:
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

    def failed_for_good(self, urls: Iterable[str]) -> set[str]:
        """Return the URLs among ``urls`` that failed for good in an earlier run (none when the
        run retries failures)."""
        urls = list(urls)
        if not urls or self.options.retry_failed:
            return set()
        with self.catalog.reading() as conn:
            rows = conn.execute(
                sa.select(t.failures.c.target, t.failures.c.reason).where(
                    t.failures.c.stage == STAGE, t.failures.c.target.in_(urls)
                )
            )
            return {row.target for row in rows if not is_temporary(row.reason)}

    def stored_urls(self, urls: Iterable[str]) -> set[str]:
        """Return the URLs among ``urls`` whose photo is already in ``image_sources``."""
        urls = list(urls)
        if not urls:
            return set()
        with self.catalog.reading() as conn:
            rows = conn.execute(
                sa.select(t.image_sources.c.source_url).where(
                    t.image_sources.c.source_url.in_(urls)
                )
            )
            return {row.source_url for row in rows}
