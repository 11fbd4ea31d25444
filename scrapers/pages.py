"""Page readers: turn a URL into rendered HTML, through the same gate as every other request.

:class:`BrowserReader` drives one headless Chromium (started on first use) with explicit waits
and step-by-step scrolling for lazy galleries; :class:`StaticReader` uses the requests session
for sites whose HTML already holds everything. Both raise :class:`PageError` with a reason code.

The browser never fetches pictures, fonts, media or the favicon (blocked before they leave it),
and every other request it makes for a page (scripts, styles, data calls) is counted against
that host's rate limit once the page is read, so the next request to the host waits for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Protocol

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from scrapers.fetch import Fetcher, FetchError, UrlError

# The HTTP status of the page the browser navigated to (Chromium 109+ exposes it here).
_STATUS_JS = (
    "const e = performance.getEntriesByType('navigation')[0];"
    "return e && e.responseStatus ? e.responseStatus : 0;"
)
_SCROLL_JS = (
    "window.scrollBy(0, Math.max(200, window.innerHeight * 0.9));"
    "return [window.scrollY + window.innerHeight, document.documentElement.scrollHeight];"
)
_RESOURCES_JS = (
    "const names = performance.getEntriesByType('resource').map(e => e.name);"
    "performance.clearResourceTimings(); return names;"
)
MAX_SCROLL_STEPS = 60
# URL patterns the browser may not request: the scraper downloads photos itself, and pictures,
# fonts, media and the favicon are never needed to find listings or photo URLs.
BLOCKED_URL_PATTERNS = tuple(
    pattern
    for ext in (
        "jpg",
        "jpeg",
        "png",
        "gif",
        "webp",
        "avif",
        "bmp",
        "ico",
        "svg",
        "tif",
        "tiff",
        "heic",
        "woff",
        "woff2",
        "ttf",
        "otf",
        "eot",
        "mp4",
        "webm",
        "mp3",
        "m3u8",
    )
    for pattern in (f"*.{ext}", f"*.{ext}?*", f"*.{ext.upper()}", f"*.{ext.upper()}?*")
) + ("*/favicon.ico*", "*/apple-touch-icon*")


class PageError(UrlError):
    """A page could not be read; ``reason`` is a short code such as ``http_500``."""


class PageReader(Protocol):
    """Reads a page and returns its HTML once ``wait_for`` (a CSS selector) is present."""

    def read(self, url: str, *, wait_for: str | None, error: str | None, scroll: bool) -> str: ...

    def close(self) -> None: ...


class StaticReader:
    """Reads pages with plain HTTP (for specs with ``render = "static"``)."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher

    def read(self, url: str, *, wait_for: str | None, error: str | None, scroll: bool) -> str:
        """Return the page's HTML; raise :class:`PageError` (also when ``error`` matches)."""
        del scroll  # nothing to lazy-load without a browser
        try:
            html = self.fetcher.get(url).text()
        except FetchError as exc:
            raise PageError(url, exc.reason, exc.detail) from exc
        if error or wait_for:
            from bs4 import BeautifulSoup

            soup = BeautifulSoup(html, "html.parser")
            if error and soup.select_one(error) is not None:
                raise PageError(url, "page_error", f"the page shows {error!r}")
            if wait_for and soup.select_one(wait_for) is None:
                raise PageError(url, "wait_timeout", f"{wait_for!r} is not in the page")
        return html

    def close(self) -> None:
        """Nothing to release: the fetcher is closed by its owner."""


class BrowserReader:
    """Reads pages in one headless Chromium per reader, started on the first :meth:`read`.

    ``make_driver`` returns a started driver (see :func:`scrapers.browser.make_chrome`).
    Navigation answered with 429 or 5xx, and pages showing the spec's ``error`` marker, are
    retried with back-off; the gate (allowed domains, robots.txt, rate limit) is applied before
    every navigation and to the URL the browser ends up on.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        make_driver: Callable[[], WebDriver],
        *,
        timeout: float = 20.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.fetcher = fetcher
        self._make_driver = make_driver
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._driver: WebDriver | None = None

    @property
    def driver(self) -> WebDriver:
        """Return the browser, starting it on first use."""
        if self._driver is None:
            driver = self._make_driver()
            self._driver = driver
            driver.set_page_load_timeout(self.timeout)
            if hasattr(driver, "execute_cdp_cmd"):
                driver.execute_cdp_cmd("Network.enable", {})
                driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": BLOCKED_URL_PATTERNS})
        return self._driver

    def read(self, url: str, *, wait_for: str | None, error: str | None, scroll: bool) -> str:
        """Return the rendered HTML of ``url``; raise :class:`PageError` with a reason code."""
        try:
            self.fetcher.check(url)
        except FetchError as exc:
            raise PageError(url, exc.reason, exc.detail) from exc
        failure = PageError(url, "unknown")
        for attempt in range(self.retries + 1):
            if attempt:
                # The browser does not show Retry-After; after a 429 wait at least a second.
                pause = self.backoff * 2 ** (attempt - 1)
                time.sleep(max(1.0, pause) if failure.reason == "http_429" else pause)
            _ = self.driver  # started before the slot is taken: its start-up is no request
            self.fetcher.limiter.wait(url)
            self.fetcher.count_sent(url, charge=False)
            try:
                return self._read_once(url, wait_for, error, scroll)
            except _RetryablePage as exc:
                failure = PageError(url, exc.reason, exc.detail)
            finally:
                self._count_page_requests()
        raise PageError(
            url, failure.reason, f"gave up after {self.retries + 1} attempts; {failure.detail}"
        )

    def _read_once(self, url: str, wait_for: str | None, error: str | None, scroll: bool) -> str:
        driver = self.driver
        try:
            driver.get(url)
        except TimeoutException as exc:
            raise _RetryablePage("timeout", f"page load over {self.timeout:g}s") from exc
        except WebDriverException as exc:
            raise _RetryablePage("browser_error", (exc.msg or "")[:200]) from exc
        status = int(driver.execute_script(_STATUS_JS) or 0)
        if status == 429 or status >= 500:
            raise _RetryablePage(f"http_{status}", "")
        if status >= 400:
            raise PageError(url, f"http_{status}", "")
        landed = driver.current_url
        if landed != url:
            reason = self.fetcher.denial(landed)
            if reason:
                raise PageError(url, reason, f"redirected to {landed}")
        markers = [s for s in (wait_for, error) if s]
        if markers:
            selector = ", ".join(markers)
            try:
                WebDriverWait(driver, self.timeout).until(
                    lambda d: d.find_elements(By.CSS_SELECTOR, selector)
                )
            except TimeoutException as exc:
                raise PageError(url, "wait_timeout", f"{selector!r} never appeared") from exc
            if error and driver.find_elements(By.CSS_SELECTOR, error):
                raise _RetryablePage("page_error", f"the page shows {error!r}")
        if scroll:
            self._scroll_to_bottom()
        return driver.page_source

    def _count_page_requests(self) -> None:
        """Charge the requests the browser made for the page just read to their hosts."""
        if self._driver is None:
            return
        try:
            names = self._driver.execute_script(_RESOURCES_JS) or []
        except WebDriverException:
            return
        for name in names:
            if not isinstance(name, str) or not name.startswith(("http://", "https://")):
                continue
            # Blocked requests are listed too, although they never left the browser.
            if not any(fnmatchcase(name, pattern) for pattern in BLOCKED_URL_PATTERNS):
                self.fetcher.count_sent(name)

    def _scroll_to_bottom(self) -> None:
        """Scroll a screen at a time so each lazy element enters the viewport once."""
        driver = self.driver
        for _ in range(MAX_SCROLL_STEPS):
            seen, height = driver.execute_script(_SCROLL_JS)
            if seen >= height:
                break
        time.sleep(0.05)  # let intersection callbacks of the last screen run

    def close(self) -> None:
        """Quit the browser if it was started."""
        if self._driver is not None:
            try:
                self._driver.quit()
            finally:
                self._driver = None


class _RetryablePage(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
