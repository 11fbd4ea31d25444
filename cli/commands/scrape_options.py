"""The command-line options of the scrape job that several commands share, declared once.

``carscout scrape``, ``schedule scrape``, ``schedule retrain`` and ``run`` turn them into the
fields of a :class:`scrapers.request.ScrapeRequest` of the same names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands.context import comma_list

if TYPE_CHECKING:
    from scrapers.request import ScrapeRequest

BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="Fills {base_url} in the spec, e.g. http://127.0.0.1:8123 for `carscout demo-site "
        "--port 8123`.",
    ),
]
MaxListings = Annotated[
    int | None, typer.Option("--max-listings", min=1, help="Visit at most N listings per label.")
]
MaxPages = Annotated[
    int | None, typer.Option("--max-pages", min=1, help="Read at most N search pages per label.")
]


def scrape_request(
    site: str,
    labels: str,
    base_url: str | None,
    max_listings: int | None,
    max_pages: int | None,
    **more: Any,
) -> ScrapeRequest:
    """Return the :class:`ScrapeRequest` of the shared options (``labels`` comma-separated) and
    any further fields of the command (``workers``, ``revisit`` …)."""
    from scrapers.request import ScrapeRequest

    return ScrapeRequest(
        site,
        tuple(comma_list(labels)),
        base_url=base_url,
        max_listings=max_listings,
        max_pages=max_pages,
        **more,
    )
