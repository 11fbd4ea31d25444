"""Browser mode: every request the browser makes is counted against the host's rate or blocked,
and a run stopped with SIGTERM or SIGKILL leaves no Chromium behind once the next run started."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import schema as t
from pipeline.workspace import Workspace
from scrapers.browser import (
    CHROMEDRIVER_PATH,
    CHROMIUM_PATH,
    PID_FILE,
    PROFILE_PREFIX,
    make_chrome,
    process_alive,
)
from scrapers.crawl import scrape
from scrapers.fetch import Fetcher
from scrapers.pages import BrowserReader
from scrapers.ratelimit import HostRateLimiter
from scrapers.spec import load_spec, shipped_spec_path
from scrapers.spec_model import DownloadSpec

pytestmark = pytest.mark.skipif(
    not (shutil.which(CHROMIUM_PATH) and shutil.which(CHROMEDRIVER_PATH)),
    reason="Chromium and chromedriver are not installed",
)
ROOT = Path(__file__).parents[2]

PAGE = b"""<html><head><link rel="icon" href="/icon.png"><link rel="stylesheet" href="/s.css">
<script src="/a.js"></script></head><body><img src="/thumb.jpg"><div id="x"></div>
<script>fetch('/api').then(r => r.text()).then(() => { document.getElementById('x').className =
'ready'; })</script></body></html>"""


def test_browser_requests_are_rate_limited_or_blocked() -> None:
    arrivals: list[tuple[float, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            arrivals.append((time.monotonic(), self.path))
            body = PAGE if self.path.startswith("/page") else b"/* ok */"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    delay = 0.6
    fetcher = Fetcher(
        user_agent="carscout-test",
        domains=("127.0.0.1",),
        download=DownloadSpec(),
        limiter=HostRateLimiter(delay),
        obey_robots=False,
    )
    reader = BrowserReader(fetcher, lambda: make_chrome(images=False, user_agent="carscout-test"))
    try:
        for page in ("/page1", "/page2"):
            reader.read(base + page, wait_for="#x.ready", error=None, scroll=False)
    finally:
        reader.close()
        server.shutdown()
        server.server_close()
    paths = [path for _, path in arrivals]
    assert not [p for p in paths if p.endswith((".jpg", ".png", ".ico"))], paths  # blocked
    assert fetcher.requests_sent == len(paths)  # everything else is counted ...
    first, second = (paths.index(p) for p in ("/page1", "/page2"))
    extra = second - first - 1  # scripts, styles and data calls of page 1
    assert extra >= 3, paths
    # ... and each took a turn of the host's delay before the next page was requested (less
    # the jitter between the browser taking its turn and the server seeing the request).
    assert arrivals[second][0] - arrivals[first][0] >= (extra + 1) * delay - 0.25


def _spec_file(tmp_path: Path, delay: float) -> Path:
    """The demo spec with listing pages read in the browser too, ``delay`` s between requests."""
    text = shipped_spec_path("demo").read_text()
    text = re.sub(r"delay_seconds = [\d.]+", f"delay_seconds = {delay}", text)
    text = text.replace('render = "static"', 'render = "browser"')
    path = tmp_path / "demo-browser.toml"
    path.write_text(text)
    return path


def _start(home: Path, spec: Path, base_url: str) -> subprocess.Popen:
    args = ["--home", str(home), "scrape", "--site", str(spec), "--base-url", base_url]
    return subprocess.Popen(
        [sys.executable, "-c", "from cli.app import main; main()", *args, "--labels", "swift"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "160"},
    )


def _profile_of(process: subprocess.Popen) -> tuple[Path, int]:
    """Wait until the process's browser runs; return its profile folder and chromedriver pid."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0].decode()
        for pid_file in Path(tempfile.gettempdir()).glob(f"{PROFILE_PREFIX}*/{PID_FILE}"):
            with contextlib.suppress(OSError, ValueError):
                owner = json.loads(pid_file.read_text())
                if owner["owner"] == process.pid and owner.get("driver"):
                    return pid_file.parent, owner["driver"]
        time.sleep(0.1)
    raise AssertionError("the browser did not start within 90 s")


def _browser_processes(profile: Path, driver: int) -> list[int]:
    """Return live processes of that browser: chromedriver, or naming the profile."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if int(entry.name) == driver and cmdline or str(profile).encode() in cmdline:
                found.append(int(entry.name))
    return found


def _wait_gone(profile: Path, driver: int, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _browser_processes(profile, driver)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_sigterm_and_sigkill_leave_no_browser_behind(demo_site, tmp_path: Path) -> None:
    home = tmp_path / "home"
    slow = _spec_file(tmp_path, delay=0.5)

    # SIGTERM: a clean stop like Ctrl-C, recorded as interrupted, the browser quit.
    process = _start(home, slow, demo_site.base_url)
    profile, driver = _profile_of(process)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output
    assert _wait_gone(profile, driver, 10) == []
    assert not profile.exists()

    # SIGKILL: chromedriver dies with its parent; what is left is ended by the next run.
    process = _start(home, slow, demo_site.base_url)
    profile, driver = _profile_of(process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while process_alive(driver, None) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(driver, None)
    orphans = _browser_processes(profile, driver)  # Chromium itself outlives chromedriver

    fast = load_spec(_spec_file(tmp_path, delay=0.0), base_url=demo_site.base_url)
    with Workspace.open(home=home) as ws:
        summary = scrape(ws, fast, ["swift"], max_listings=1, max_pages=1)
        with ws.catalog.reading() as conn:
            runs = conn.execute(sa.select(t.runs.c.id, t.runs.c.status).order_by(t.runs.c.id))
            statuses = [status for _, status in runs]
    assert _wait_gone(profile, driver, 5) == []
    assert not profile.exists()
    assert statuses == ["interrupted", "interrupted", "ok"]
    assert summary.runs_marked_interrupted == [2]
    assert summary.browsers_ended >= (1 if orphans else 0)
