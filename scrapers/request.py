"""What one scrape is asked to do: :class:`ScrapeRequest`, the scrape job's options in one object.

The same request travels whole from ``carscout scrape`` (and ``schedule scrape``, ``run``)
through the ``scrape`` flow to a scheduled deployment's parameters, so each option is declared
here once. :func:`run_scrape` carries a request out with :func:`scrapers.crawl.scrape`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.errors import ConfigError
from pipeline.workspace import Workspace
from scrapers.browser import DEFAULT_CHROMEDRIVER, DEFAULT_CHROMIUM
from scrapers.crawl import ProgressCallback, ScrapeSummary, scrape
from scrapers.spec import SiteSpec, load_spec


@dataclass(frozen=True)
class ScrapeRequest:
    """The options of one scrape of ``labels`` from ``site`` (a spec path or ``demo``).

    ``base_url`` fills ``{base_url}`` in the spec; ``max_listings`` and ``max_pages`` bound each
    label; ``workers`` is the number of parallel photo downloads (None: the spec's). The rest
    are as ``carscout scrape --help`` says: ``user_agent``, ``revisit``, ``retry_failed``,
    ``headless`` and the browser's ``chromium``/``chromedriver`` paths. Plain data: a
    deployment stores :meth:`to_parameters`, and Prefect rebuilds the request from it.
    """

    site: str
    labels: tuple[str, ...]
    base_url: str | None = None
    max_listings: int | None = None
    max_pages: int | None = None
    workers: int | None = None
    user_agent: str | None = None
    revisit: bool = False
    retry_failed: bool = False
    headless: bool = True
    chromium: str = DEFAULT_CHROMIUM
    chromedriver: str = DEFAULT_CHROMEDRIVER

    def __post_init__(self) -> None:
        # A spec given as a Path and labels given as a list are stored as str and tuple.
        object.__setattr__(self, "site", str(self.site))
        object.__setattr__(self, "labels", tuple(self.labels))

    def spec(self) -> SiteSpec:
        """Return the site spec, loaded with ``base_url``; ConfigError for a bad spec."""
        return load_spec(self.site, base_url=self.base_url)

    def check(self) -> SiteSpec:
        """Fail now rather than at the first page: labels are given, the spec loads and each
        label's start URL resolves. Returns the loaded spec; raises :class:`ConfigError`."""
        if not self.labels:
            raise ConfigError("--labels is empty; e.g. --labels swift,wagonr")
        spec = self.spec()
        for label in self.labels:
            spec.start_url_for(label)
        return spec

    def to_parameters(self) -> dict[str, Any]:
        """Return the request as JSON-ready data (a deployment's parameter, a run record)."""
        data: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return data


def run_scrape(
    workspace: Workspace,
    request: ScrapeRequest,
    progress: ProgressCallback | None = None,
    spec: SiteSpec | None = None,
) -> ScrapeSummary:
    """Scrape as ``request`` says into ``workspace``; return the :class:`ScrapeSummary`.

    ``spec`` is the request's spec when the caller loaded it already (to fail before opening
    the workspace); ``progress`` is passed to :func:`scrapers.crawl.scrape`.
    """
    return scrape(
        workspace,
        spec if spec is not None else request.spec(),
        request.labels,
        max_listings=request.max_listings,
        max_pages=request.max_pages,
        workers=request.workers,
        progress=progress,
        user_agent=request.user_agent,
        headless=request.headless,
        chromium_path=request.chromium,
        chromedriver_path=request.chromedriver,
        revisit=request.revisit,
        retry_failed=request.retry_failed,
    )
