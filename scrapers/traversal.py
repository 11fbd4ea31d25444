"""The walk of one scrape run: each label's search pages, then every listing they link to,
whose photos go to the download pool. Rules of the spec that find nothing become warnings."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field

from pipeline.workspace import Workspace
from scrapers.crawl_state import FailureLog, ListingState, is_temporary
from scrapers.downloads import Outcome, PhotoDownloads, done
from scrapers.extract import parse_listing, parse_search
from scrapers.fetch import Fetcher
from scrapers.pages import PageError, PageReader
from scrapers.spec_model import SiteSpec
from scrapers.summary import LabelSummary, ProgressCallback


@dataclass
class _Misses:
    """Per label: listings parsed, and per rule how many found nothing (with one example)."""

    parsed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    example: dict[str, str] = field(default_factory=dict)


class Crawl:
    """One run's walk over the site; see :func:`scrapers.crawl.scrape` for the behaviour."""

    def __init__(
        self,
        workspace: Workspace,
        spec: SiteSpec,
        fetcher: Fetcher,
        reader: PageReader,
        listing_reader: PageReader,
        state: ListingState,
        failures: FailureLog,
        workers: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.spec = spec
        self.fetcher = fetcher
        self.reader = reader
        self.listing_reader = listing_reader
        self.state = state
        self.failures = failures
        self.lock = failures.lock
        self.progress = progress
        self.misses: dict[str, _Misses] = {}
        self.queued_urls: set[str] = set()
        self.summaries: dict[str, LabelSummary] = {}
        self.downloads = PhotoDownloads(
            workspace,
            failures.run_id,
            fetcher,
            state,
            failures,
            self.summaries,
            self._report,
            workers,
        )

    def _report(self, summary: LabelSummary) -> None:
        if self.progress is not None:
            self.progress(summary)

    # --- search pages -----------------------------------------------------------------------

    def crawl_label(self, label: str, max_listings: int | None, max_pages: int | None) -> None:
        """Walk ``label``'s search pages (up to the bounds) and visit each listing found."""
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
                self.failures.fail(summary, url, exc.reason, exc.detail)
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
                    self.failures.fail(summary, link, reason, f"listing link on {url}")
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
        self.downloads.reap(block=True)
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

    def visit_listing(self, summary: LabelSummary, url: str) -> None:
        """Read one listing unless an earlier run finished it, record it, and queue its photos
        not stored or failed for good before."""
        decision = self.state.decide(url)
        if decision != "visit":
            if decision == "done":
                summary.listings_skipped += 1
            else:
                summary.listings_given_up += 1
            self.state.seen(url)
            return
        try:
            html = self.listing_reader.read(
                url,
                wait_for=self.spec.listing.wait_for,
                error=self.spec.listing.error,
                scroll=self.spec.listing.scroll,
            )
        except PageError as exc:
            self.failures.fail(summary, url, exc.reason, exc.detail)
            listing_id = self.state.upsert(summary.label, url, None)
            # A listing that is gone (404, 410) has nothing more to give.
            temporary = is_temporary(exc.reason)
            self.state.finish(listing_id, complete=not temporary, failed_for_good=0)
            if temporary:
                summary.listings_incomplete += 1
            return
        page = parse_listing(html, url, self.spec)
        misses = self.misses.setdefault(summary.label, _Misses())
        misses.parsed += 1
        for name in page.unmatched:
            misses.counts[name] += 1
            misses.example.setdefault(name, url)
        listing_id = self.state.upsert(summary.label, url, page)
        summary.listings_visited += 1
        if not page.photo_urls:
            rules = [r for r in (self.spec.photos.selector, self.spec.photos.jsonld) if r]
            self.failures.fail(summary, url, "no_photos", f"nothing found by {rules!r}")
        stored = self.state.stored_urls(page.photo_urls)
        failed_before = self.state.failed_for_good(page.photo_urls)
        futures: list[Future[Outcome]] = []
        failed_for_good = 0
        for photo_url in page.photo_urls:
            reason = self.fetcher.denial(photo_url)
            if reason:
                with self.lock:
                    summary.photos_failed += 1
                failed_for_good += 1
                self.failures.fail(summary, photo_url, reason, f"photo on {url}")
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
            futures.append(self.downloads.submit(summary, listing_id, photo_url))
        if not page.photo_urls:
            futures.append(done("temporary"))
        self.downloads.wait_for(listing_id, summary.label, futures, failed_for_good)

    def close(self, cancel: bool = False) -> None:
        """Wait for the downloads still running; with ``cancel``, drop those not started."""
        self.downloads.close(cancel)
