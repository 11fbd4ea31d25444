"""Build a headless Chromium driven by Selenium, with nothing downloaded and no DNS lookups."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from pipeline.errors import ConfigError

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMEDRIVER_PATH = "/usr/bin/chromedriver"
DEFAULT_CHROMIUM = CHROMIUM_PATH
DEFAULT_CHROMEDRIVER = CHROMEDRIVER_PATH


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
    when the driver quits. ``user_agent`` replaces Chromium's own; ``images=False`` stops the
    browser from downloading pictures (the scraper reads photo URLs from the DOM and downloads
    them itself); ``extra_args`` are further command-line flags.
    """
    for path, what in ((chromium_path, "Chromium"), (chromedriver_path, "chromedriver")):
        if not Path(path).exists() and shutil.which(path) is None:
            raise ConfigError(
                f"{what} not found at {path}; install it (apt-get install chromium "
                "chromium-driver) or pass its path"
            )
    profile = tempfile.mkdtemp(prefix="carscout-chrome-")
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
    try:
        driver = webdriver.Chrome(service=Service(chromedriver_path), options=options)
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    original_quit = driver.quit

    def quit_and_clean() -> None:
        try:
            original_quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    driver.quit = quit_and_clean  # type: ignore[method-assign]
    return driver
