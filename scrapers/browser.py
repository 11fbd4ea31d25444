"""Build a headless Chromium driven by Selenium, with nothing downloaded and no DNS lookups.

chromedriver and the Chromium it starts run in their own session (a process group of their
own, so a terminal's Ctrl-C reaches only carscout, which then quits them cleanly), and on Linux
chromedriver is killed when carscout dies. A process killed with SIGKILL cannot clean up, so
each profile folder holds a PID file naming its owner and :func:`end_orphan_browsers`, called
when a scrape starts, ends the browsers of owners that are gone and removes their profiles.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from pipeline.errors import ConfigError
from pipeline.processes import pid_alive

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMEDRIVER_PATH = "/usr/bin/chromedriver"
DEFAULT_CHROMIUM = CHROMIUM_PATH
DEFAULT_CHROMEDRIVER = CHROMEDRIVER_PATH
PROFILE_PREFIX = "carscout-chrome-"
PID_FILE = "carscout-owner.json"
# A profile without a PID file (written by older carscout) counts as orphaned after this long.
UNOWNED_PROFILE_AGE_S = 3600.0
_PR_SET_PDEATHSIG = 1


def process_start_ticks(pid: int) -> int | None:
    """Return when process ``pid`` started (clock ticks since boot, from /proc), or None when
    there is no such process. With the pid it names one process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def process_alive(pid: int | None, start_ticks: int | None) -> bool:
    """Return True when the process ``pid`` that started at ``start_ticks`` still runs (a
    zombie counts as ended). Without /proc (not Linux), any live ``pid`` counts."""
    if not pid:
        return False
    if not Path("/proc/self/stat").exists():
        return pid_alive(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2 :].split()[0]
    return state not in ("Z", "X") and (
        start_ticks is None or process_start_ticks(pid) == start_ticks
    )


def _die_with_parent() -> None:
    """In the child before exec: its own session, and SIGKILL when carscout dies (Linux)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _write_owner(profile: str, driver_pid: int | None = None) -> None:
    owner = os.getpid()
    data = {"owner": owner, "owner_start": process_start_ticks(owner), "driver": driver_pid}
    if driver_pid:
        data["driver_start"] = process_start_ticks(driver_pid)
    path = Path(profile) / PID_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def _browser_pids(profile: Path, session: int | None) -> list[int]:
    """Return the processes of a profile's browser: those in the driver's session whose
    command is chromium/chromedriver, and any whose command line names the profile."""
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        in_session = session is not None and len(fields) > 3 and int(fields[3]) == session
        if (in_session and "chrom" in cmdline) or str(profile) in cmdline:
            pids.append(int(entry.name))
    return pids


def end_browser(profile: str | Path, session: int | None) -> int:
    """SIGKILL every process of the browser using ``profile`` (see :func:`_browser_pids`) and
    remove the profile folder; return how many processes were ended."""
    profile = Path(profile)
    pids = _browser_pids(profile, session) if Path("/proc").is_dir() else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(profile, ignore_errors=True)
    return len(pids)


def end_orphan_browsers(temp_dir: str | Path | None = None) -> int:
    """End the browsers left by carscout processes that died without quitting them (SIGKILL,
    a crash, a power cut) and remove their profiles; return how many processes were ended.

    A profile belongs to a live process when its PID file names one that still runs; those are
    left alone, so concurrent scrapes do not disturb each other.
    """
    ended = 0
    for profile in Path(temp_dir or tempfile.gettempdir()).glob(PROFILE_PREFIX + "*"):
        if not profile.is_dir():
            continue
        try:
            owner = json.loads((profile / PID_FILE).read_text())
        except FileNotFoundError:
            try:
                age = time.time() - profile.stat().st_mtime
            except OSError:
                continue
            if age > UNOWNED_PROFILE_AGE_S:
                ended += end_browser(profile, None)
            continue
        except (OSError, ValueError):
            continue
        if process_alive(owner.get("owner"), owner.get("owner_start")):
            continue
        ended += end_browser(profile, owner.get("driver"))
    return ended


def make_chrome(
    headless: bool = True,
    chromium_path: str = CHROMIUM_PATH,
    chromedriver_path: str = CHROMEDRIVER_PATH,
    local_only: bool = True,
    *,
    user_agent: str | None = None,
    images: bool = True,
    extra_args: Sequence[str] = (),
) -> webdriver.Chrome:
    """Return a started Chrome driver with a fresh temporary profile.

    With ``local_only`` every host name except 127.0.0.1 fails to resolve, so the browser
    cannot reach (or even look up) anything off the machine. The profile folder is removed
    when the driver quits, and whatever is left of the browser then is killed. ``user_agent``
    replaces Chromium's own; ``images=False`` stops the
    browser from downloading pictures (the scraper reads photo URLs from the DOM and downloads
    them itself); ``extra_args`` are further command-line flags.
    """
    for path, what in ((chromium_path, "Chromium"), (chromedriver_path, "chromedriver")):
        if not Path(path).exists() and shutil.which(path) is None:
            raise ConfigError(
                f"{what} not found at {path}; install it (apt-get install chromium "
                "chromium-driver) or pass its path"
            )
    profile = tempfile.mkdtemp(prefix=PROFILE_PREFIX)
    _write_owner(profile)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_path
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]
    if headless:
        flags.append("--headless=new")
    if local_only:
        flags.append("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    if user_agent:
        flags.append(f"--user-agent={user_agent}")
    if not images:
        flags.append("--blink-settings=imagesEnabled=false")
    flags.extend(extra_args)
    for flag in flags:
        options.add_argument(flag)
    service = Service(chromedriver_path, popen_kw={"preexec_fn": _die_with_parent})
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except Exception:
        process = getattr(service, "process", None)
        end_browser(profile, process.pid if process else None)
        raise
    session = driver.service.process.pid
    _write_owner(profile, session)
    original_quit = driver.quit

    def quit_and_clean() -> None:
        try:
            original_quit()
        finally:
            end_browser(profile, session)

    driver.quit = quit_and_clean  # type: ignore[method-assign]
    return driver
