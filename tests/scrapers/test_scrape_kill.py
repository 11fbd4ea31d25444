"""A scrape killed with SIGKILL and started again ends with the same catalog as one that ran
through, with no temporaries and no orphan files in the store."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from pipeline import schema as t
from pipeline.workspace import Workspace
from scrapers.crawl import scrape
from scrapers.spec import load_spec, shipped_spec_path

ROOT = Path(__file__).parents[2]


def _spec_file(tmp_path: Path) -> Path:
    """Write the demo spec with no polite delay (a tiny local site) and 2 download workers."""
    text = shipped_spec_path("demo").read_text()
    text = re.sub(r"delay_seconds = [\d.]+", "delay_seconds = 0.0", text)
    text = re.sub(r"workers = \d+", "workers = 2", text)
    path = tmp_path / "demo-fast.toml"
    path.write_text(text)
    return path


def _scrape_cli(home: Path, spec: Path, base_url: str) -> subprocess.Popen:
    code = "from cli.app import main; main()"
    args = ["--home", str(home), "scrape", "--site", str(spec), "--base-url", base_url]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args, "--labels", "swift,wagonr"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "120"},
    )


def _images_in(home: Path) -> int:
    db = home / "catalog.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _snapshot(ws: Workspace, base_url: str) -> dict[str, object]:
    with ws.catalog.reading() as conn:
        listings = sorted(conn.execute(sa.select(t.listings.c.url, t.listings.c.label)).all())
        images = sorted(
            conn.execute(sa.select(t.images.c.sha256, t.images.c.label, t.images.c.store_path))
        )
        sources = sorted(
            conn.execute(
                sa.select(
                    t.image_sources.c.source_url, t.image_sources.c.label, t.images.c.sha256
                ).join(t.images, t.images.c.id == t.image_sources.c.image_id)
            ).all()
        )
        incomplete = conn.execute(
            sa.select(sa.func.count()).where(t.listings.c.completed_at.is_(None))
        ).scalar_one()
    strip = len(base_url)
    return {
        "listings": [(url[strip:], label) for url, label in listings],
        "images": [tuple(row) for row in images],
        "sources": [(url[strip:], label, sha) for url, label, sha in sources],
        "incomplete": incomplete,
        "files": sorted(ws.store.iter_files()),
        "temporaries": list(ws.store.iter_temporaries()),
    }


def test_sigkilled_scrape_resumes_to_the_same_catalog(demo_site, tmp_path: Path) -> None:
    demo = demo_site
    spec_path = _spec_file(tmp_path)
    killed_home, clean_home = tmp_path / "killed", tmp_path / "clean"

    process = _scrape_cli(killed_home, spec_path, demo.base_url)
    deadline = time.monotonic() + 60
    while _images_in(killed_home) < 3 and process.poll() is None:
        assert time.monotonic() < deadline, "the scrape stored nothing within a minute"
        time.sleep(0.02)
    assert process.poll() is None, "the scrape finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    total_photos = len(demo.generated.photos)
    assert 3 <= _images_in(killed_home) < total_photos

    rerun = _scrape_cli(killed_home, spec_path, demo.base_url)
    output = rerun.communicate(timeout=120)[0].decode()
    assert rerun.returncode == 0, output
    assert "Scrape run 2" in output

    spec = load_spec(spec_path, base_url=demo.base_url)
    with Workspace.open(home=clean_home) as ws:
        scrape(ws, spec, ["swift", "wagonr"])
        expected = _snapshot(ws, demo.base_url)
    with Workspace.open(home=killed_home) as ws:
        resumed = _snapshot(ws, demo.base_url)

    assert resumed == expected
    assert expected["incomplete"] == 0
    assert expected["temporaries"] == []
    assert expected["files"] == sorted(path for _, _, path in expected["images"])
