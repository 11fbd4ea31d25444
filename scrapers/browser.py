"""Build a headless Chromium driven by Selenium, with nothing downloaded and no DNS lookups."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from pipeline.errors import ConfigError

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMEDRIVER_PATH = "/usr/bin/chromedriver"


def make_chrome(
    headless: bool = True,
    chromium_path: str = CHROMIUM_PATH,
    chromedriver_path: str = CHROMEDRIVER_PATH,
    local_only: bool = True,
) -> webdriver.Chrome:
    """Return a started Chrome driver with a fresh temporary profile.

    With ``local_only`` every host name except 127.0.0.1 fails to resolve, so the browser
    cannot reach (or even look up) anything off the machine. The profile folder is removed
    when the driver quits.
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
