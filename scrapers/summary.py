"""What one scrape run did: per-label counts, warnings and failures, and the run's summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


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
