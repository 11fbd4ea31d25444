"""Photos per second of ``carscout scrape`` on the demo marketplace, 1 vs 8 download workers.

Both runs scrape the same generated site, each into a fresh data home, through the real
pipeline (headless Chromium for pages, the requests session and intake for photos). The demo
server's ``slow`` fault adds latency to a share of responses, standing in for a real network;
the baseline is the same scrape with a single download worker. The politeness delay between
two requests to the host is ``--delay`` (default 0, stated in the table's title): with a real
site's delay the requests wait on it and extra workers add little.

    .venv/bin/python benchmarks/scrape.py [--listings 24] [--slow-share 0.3] [--slow-delay 0.2]
        [--delay 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.workspace import Workspace
from scrapers.crawl import scrape
from scrapers.demo_site import DemoSite, FaultConfig, SiteConfig, generate_site
from scrapers.spec import load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=24, help="listings per model")
    parser.add_argument("--workers", default="1,8", help="worker counts to compare")
    parser.add_argument("--slow-share", type=float, default=0.3, help="share of slow responses")
    parser.add_argument("--slow-delay", type=float, default=0.2, help="seconds a slow one takes")
    parser.add_argument("--cache", type=Path, default=None, help="demo-site cache folder")
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="politeness delay between two requests to the host, seconds (a real site's spec "
        "has one; with it, extra workers add little)",
    )
    args = parser.parse_args()

    config = SiteConfig(
        seed=5,
        listings_per_model=args.listings,
        photos_per_listing=(4, 8),
        image_size=((480, 360), (800, 600)),
        page_size=12,
    )
    started = time.monotonic()
    site = generate_site(config, args.cache)
    print(
        f"demo site: {len(site.listings)} listings, {len(site.photos)} photos "
        f"(ready in {time.monotonic() - started:.1f} s)"
    )
    faults = FaultConfig(slow=args.slow_share, slow_delay_s=args.slow_delay)
    rows = []
    with DemoSite(site, faults=faults) as demo:
        spec = load_spec("demo", base_url=demo.base_url)
        spec_delay = spec.politeness.delay_seconds
        spec = dataclasses.replace(
            spec, politeness=dataclasses.replace(spec.politeness, delay_seconds=args.delay)
        )
        for workers in [int(w) for w in args.workers.split(",")]:
            with tempfile.TemporaryDirectory() as home, Workspace.open(home=Path(home)) as ws:
                summary = scrape(ws, spec, list(config.models), workers=workers)
            photos = summary.total("photos_stored") + summary.total("photos_known")
            rows.append((workers, photos, summary.seconds, sum(summary.failures.values())))

    baseline = rows[0][1] / rows[0][2]
    table = Table(
        title=f"scrape: demo site, {args.slow_share:.0%} of responses +{args.slow_delay:g} s; "
        f"politeness delay {args.delay:g} s per host (the demo spec's is {spec_delay:g} s; "
        "--delay sets it)"
    )
    for column in ("download workers", "photos", "seconds", "photos/s", "vs 1 worker", "failed"):
        table.add_column(column, justify="right")
    for workers, photos, seconds, failed in rows:
        rate = photos / seconds
        table.add_row(
            str(workers),
            str(photos),
            f"{seconds:.1f}",
            f"{rate:.1f}",
            f"{rate / baseline:.2f}x",
            str(failed),
        )
    Console().print(table)


if __name__ == "__main__":
    main()
