"""Benchmark: how fast the review page (``carscout review --web``) opens a queue, and how it
scales to a queue of 50,000.

For each queue size, a fresh data home holds that many open review items (reasons mixed, one
label-conflict group of 3 every 50 items). Photos: the real ones of ``--data`` (default
``../shared/realcars-dev``, up to 400 px, taken in through ``pipeline.intake``); beyond the
number of photos there, further image rows point at the same store files under made-up hashes
(the page reads rows and files by id; no two rows share a cached thumbnail).

Measured, median of ``--repeats`` (wall seconds; the server runs in this process on 127.0.0.1,
headless Chromium at 1280×800, 2 shared cores):

* ``open, cold`` — from navigating to the printed URL until the first page (60 items) is drawn
  and every photo in view has loaded, with an empty thumbnail cache (each photo shrunk now);
* ``open, warm`` — the same after the browser's cache is cleared, thumbnails cached on disk;
* ``/api/items`` — one page of the queue: the first, one in the middle, the last, and the first
  filtered by reason and label;
* ``thumbnail cold / warm`` — one photo served by id, first time and again (ms, over 60 photos);
* the reference, like for like: reading the whole open queue as the terminal review does at its
  start (``queue_items``), which the page never does.

Usage: ``python benchmarks/review_web.py [--sizes 1000,50000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.review.queue import queue_items  # noqa: E402
from curation.review.web.server import ReviewServer  # noqa: E402
from pipeline import schema as t  # noqa: E402
from pipeline.intake import Provenance, intake_image  # noqa: E402
from pipeline.workspace import Workspace  # noqa: E402
from scrapers.browser import make_chrome  # noqa: E402

REASONS = ("wrong model?", "wrong model?", "not a car?")


def build_queue(ws: Workspace, data: Path, size: int, seed: int = 0) -> int:
    """Fill ``ws`` with ``size`` open review items over real photos; return real photos used."""
    files = sorted((data / "photos").glob("*/*.jpg"))[:size]
    for path in files:
        intake_image(ws.catalog, ws.store, path.read_bytes(), Provenance(label=path.parent.name))
    rng = random.Random(seed)
    with ws.catalog.atomic() as conn:
        real = conn.execute(sa.select(t.images).order_by(t.images.c.id)).all()
        extra = []
        for n in range(size - len(real)):
            row = real[n % len(real)]
            extra.append(
                {
                    "sha256": f"{n:064x}",
                    "store_path": row.store_path,
                    "width": row.width,
                    "height": row.height,
                    "format": row.format,
                    "bytes": row.bytes,
                    "label_scraped": row.label,
                    "label": row.label,
                    "status": "active",
                }
            )
        for start in range(0, len(extra), 5000):
            conn.execute(sa.insert(t.images), extra[start : start + 5000])
        images = conn.execute(sa.select(t.images.c.id, t.images.c.label)).all()
        labels = sorted({r.label for r in images})
        items = []
        for n, image in enumerate(images):
            other = next(label for label in labels if label != image.label)
            block = n - n % 50
            if n % 50 < 3 and block + 2 < len(images):
                members = [images[block + k].id for k in range(3)]
                reason, suggested = "label conflict", images[block].label
                detail = {"group_id": n // 50 + 1, "kept_image_id": members[0], "members": members}
            else:
                reason = REASONS[n % 3]
                suggested = other if reason == "wrong model?" else None
                detail = {}
            items.append(
                {
                    "image_id": image.id,
                    "reason": reason,
                    "suggested_label": suggested,
                    "score": round(rng.random(), 6),
                    "state": "pending",
                    "detail": detail,
                }
            )
        for start in range(0, len(items), 5000):
            conn.execute(sa.insert(t.review_items), items[start : start + 5000])
    return len(files)


OPENED = """
const imgs = [...document.images].filter(i => i.getBoundingClientRect().top < innerHeight);
return document.body.dataset.busy === "0" && document.querySelectorAll('.card').length > 0
  && imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
"""


def open_page(driver, url: str) -> float:  # noqa: ANN001 - a Selenium WebDriver
    """Return seconds from navigation to the first page drawn with its photos in view."""
    driver.get("about:blank")
    start = time.perf_counter()
    driver.get(url)
    while not driver.execute_script(OPENED):
        if time.perf_counter() - start > 60:
            raise RuntimeError("the page did not open within 60 s")
        time.sleep(0.01)
    return time.perf_counter() - start


def timed(call, repeats: int) -> float:  # noqa: ANN001 - a no-argument callable
    """Return the median wall seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_size(size: int, data: Path, repeats: int, driver) -> dict[str, float]:  # noqa: ANN001
    """Measure one queue size in a fresh home; return the figures by row name."""
    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="review-web-bench-") as home,
        Workspace.open(home=Path(home)) as ws,
    ):
        start = time.perf_counter()
        real = build_queue(ws, data, size)
        print(
            f"  queue of {size:,} built ({real:,} real photos) in "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )

        def whole_queue() -> None:
            with ws.catalog.reading() as conn:
                assert len(queue_items(conn)) == size

        figures["reference: whole queue read (terminal review start)"] = timed(whole_queue, repeats)
        with ws.catalog.reading() as conn:
            label = conn.execute(sa.select(sa.func.min(t.images.c.label))).scalar_one()
        with ReviewServer(ws, "review:bench") as server:
            url = server.url
            base = url.split("/?")[0]
            token = {"X-Review-Token": server.token}
            session = requests.Session()
            cold = [open_page(driver, url)]
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            warm = []
            for _ in range(repeats):
                driver.execute_cdp_cmd("Network.clearBrowserCache", {})
                warm.append(open_page(driver, url))
            figures["open, cold thumbnail cache (first page, photos in view)"] = cold[0]
            figures["open, warm thumbnail cache"] = statistics.median(warm)
            pages = {
                "/api/items, first page": "offset=0",
                "/api/items, middle page": f"offset={size // 2}",
                "/api/items, last page": f"offset={max(0, size - 60)}",
                "/api/items, filtered (reason + label)": (f"reason=wrong%20model%3F&label={label}"),
            }
            for name, query in pages.items():
                figures[name] = timed(
                    lambda q=query: session.get(
                        f"{base}/api/items?{q}&limit=60", headers=token, timeout=60
                    ).raise_for_status(),
                    repeats,
                )
            with ws.catalog.reading() as conn:
                ids = (
                    conn.execute(sa.select(t.images.c.id).order_by(t.images.c.id.desc()).limit(60))
                    .scalars()
                    .all()
                )
            for state in ("cold", "warm"):
                start = time.perf_counter()
                for image_id in ids:
                    session.get(
                        f"{base}/image/{image_id}", headers=token, timeout=60
                    ).raise_for_status()
                figures[f"thumbnail {state}, ms per photo"] = (
                    (time.perf_counter() - start) / len(ids) * 1000
                )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "realcars-dev")
    parser.add_argument("--sizes", default="1000,50000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (args.data / "photos").is_dir():
        sys.exit(f"error: no photos/ under {args.data}; pass --data DIR (photos/<label>/*.jpg)")
    sizes = [int(s) for s in args.sizes.split(",")]
    driver = make_chrome(extra_args=["--window-size=1280,800"])
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    results: dict[int, dict[str, float]] = {}
    try:
        for size in sizes:
            print(f"queue of {size:,} open items", flush=True)
            results[size] = run_size(size, args.data, args.repeats, driver)
    finally:
        driver.quit()
    rows = list(next(iter(results.values())))
    header = "| measure | " + " | ".join(f"{s:,} items" for s in sizes) + " |"
    print("\n" + header + "\n|---|" + "---|" * len(sizes))
    for row in rows:
        in_ms = row.endswith("ms per photo")
        cells = " | ".join(
            f"{results[s][row]:.1f}" if in_ms else f"{results[s][row]:.3f} s" for s in sizes
        )
        print(f"| {row} | {cells} |")


if __name__ == "__main__":
    main()
