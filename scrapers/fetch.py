"""Polite HTTP for the scraper: one pooled requests session behind a gate.

Every request, redirects included, passes the same gate: the URL must be http(s) on an allowed
domain and allowed by robots.txt, and the host's rate limit is kept. 5xx and 429 answers are
retried with exponential back-off, honouring ``Retry-After``; bodies are streamed and cut off at
a size cap. Anything that goes wrong becomes a :class:`FetchError` with a short reason code
(``http_404``, ``timeout``, ``too_many_redirects``, ``offsite``, ``robots_disallowed``,
``too_large``, ``truncated_download``, …) that the crawler records as a failure.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from scrapers.ratelimit import HostRateLimiter
from scrapers.robots import RobotsCache, RobotsFile
from scrapers.spec_model import DownloadSpec

CHUNK_BYTES = 64 * 1024
ROBOTS_MAX_BYTES = 512 * 1024


class UrlError(Exception):
    """Something failed for ``url``; ``reason`` is a short code, ``detail`` says more."""

    def __init__(self, url: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {url} {detail}".strip())
        self.url = url
        self.reason = reason
        self.detail = detail


class FetchError(UrlError):
    """A URL could not be fetched; ``reason`` is a short code, ``detail`` says more."""


@dataclass(frozen=True)
class FetchResult:
    """A successful answer: the final ``url`` after redirects, ``status``, headers and body."""

    url: str
    status: int
    content_type: str
    body: bytes

    def text(self) -> str:
        """Return the body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


def domain_allowed(url: str, domains: tuple[str, ...]) -> bool:
    """Return True when ``url`` is http(s) on one of ``domains`` or a sub-domain of one.

    An entry with a port (``127.0.0.1:8123``) only matches that port; without one, any port.
    >>> domain_allowed("https://img.example.com/a.jpg", ("example.com",))
    True
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    for domain in domains:
        if ":" in domain:
            if netloc == domain:
                return True
        elif host == domain or host.endswith("." + domain):
            return True
    return False


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Return the delay a ``Retry-After`` header asks for (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Fetcher:
    """The scraper's only door to the network. Thread-safe; close it when done."""

    def __init__(
        self,
        *,
        user_agent: str,
        domains: tuple[str, ...],
        download: DownloadSpec,
        limiter: HostRateLimiter,
        obey_robots: bool = True,
        max_bytes: int = 30 * 1024 * 1024,
    ) -> None:
        self.user_agent = user_agent
        self.domains = domains
        self.download = download
        self.limiter = limiter
        self.max_bytes = download.max_bytes or max_bytes
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        pool = max(10, download.workers + 2)
        adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.robots = (
            RobotsCache(self._fetch_robots, on_crawl_delay=limiter.set_interval)
            if obey_robots
            else None
        )
        self._count_lock = threading.Lock()
        self.requests_sent = 0

    # --- the gate -------------------------------------------------------------------------

    def denial(self, url: str) -> str | None:
        """Return why ``url`` may not be requested (``offsite``, ``robots_…``) or None."""
        if not domain_allowed(url, self.domains):
            return "offsite"
        if self.robots is not None:
            return self.robots.denial(url)
        return None

    def check(self, url: str) -> None:
        """Raise :class:`FetchError` when ``url`` may not be requested."""
        reason = self.denial(url)
        if reason:
            raise FetchError(url, reason, "not requested")

    def count_sent(self, url: str, *, charge: bool = True) -> None:
        """Count a request someone else (the browser) sent to ``url``; with ``charge``, also
        against its host's rate (without it, the caller waited for its slot already)."""
        with self._count_lock:
            self.requests_sent += 1
        if charge:
            self.limiter.charge(url)

    # --- requests -------------------------------------------------------------------------

    def get(self, url: str, *, max_bytes: int | None = None) -> FetchResult:
        """Fetch ``url`` through the gate, following redirects that pass it too.

        Returns a :class:`FetchResult` for a 2xx answer; raises :class:`FetchError` otherwise.
        """
        return self._get(url, max_bytes or self.max_bytes, gated=True)

    def _get(self, url: str, max_bytes: int, *, gated: bool) -> FetchResult:
        current = url
        for _hop in range(self.download.max_redirects + 1):
            if gated:
                self.check(current)
            elif not domain_allowed(current, self.domains):
                raise FetchError(current, "offsite", "not requested")
            result = self._request_with_retries(current, max_bytes)
            if isinstance(result, str):
                current = urljoin(current, result)
                continue
            return result
        raise FetchError(url, "too_many_redirects", f"more than {self.download.max_redirects}")

    def _fetch_robots(self, robots_url: str) -> RobotsFile:
        try:
            result = self._get(robots_url, ROBOTS_MAX_BYTES, gated=False)
        except FetchError as exc:
            status = int(exc.reason[5:]) if exc.reason.startswith("http_") else 0
            return RobotsFile(status=status)
        return RobotsFile(status=result.status, text=result.text())

    def _backoff(self, attempt: int) -> float:
        base = self.download.backoff_seconds * (2**attempt)
        return base * (1 + 0.25 * random.random())

    def _request_with_retries(self, url: str, max_bytes: int) -> FetchResult | str:
        """Return the result, or the ``Location`` of a redirect; raise FetchError."""
        retries = self.download.retries
        failure = _Retryable("unknown", "")
        for attempt in range(retries + 1):
            self.limiter.wait(url)
            try:
                return self._request_once(url, max_bytes)
            except _Retryable as exc:
                failure = exc
            wait = failure.retry_after
            if wait is not None and wait > self.download.max_retry_after:
                raise FetchError(
                    url,
                    failure.reason,
                    f"Retry-After {wait:.0f}s is longer than "
                    f"max_retry_after={self.download.max_retry_after:g}s",
                )
            if attempt == retries:
                break
            if wait is not None:
                # Every thread heading for this host waits, not only this one.
                self.limiter.defer(url, wait)
            else:
                time.sleep(self._backoff(attempt))
        raise FetchError(
            url, failure.reason, f"gave up after {retries + 1} attempts; {failure.detail}"[:500]
        )

    def _request_once(self, url: str, max_bytes: int) -> FetchResult | str:
        timeout = (self.download.connect_timeout, self.download.read_timeout)
        with self._count_lock:
            self.requests_sent += 1
        try:
            response = self.session.get(url, stream=True, timeout=timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise _Retryable("timeout", str(exc)) from exc
        except requests.ConnectionError as exc:
            raise _Retryable("connection_error", str(exc)) from exc
        except requests.RequestException as exc:
            raise FetchError(url, "bad_request", str(exc)) from exc
        with response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise _Retryable(
                    f"http_{status}",
                    response.reason or "",
                    retry_after_seconds(response.headers.get("Retry-After")),
                )
            if response.is_redirect:
                location = response.headers.get("Location")
                if location:
                    return location
            if status >= 300:
                raise FetchError(url, f"http_{status}", response.reason or "")
            body = self._read_body(url, response, max_bytes)
            return FetchResult(
                url=url,
                status=status,
                content_type=response.headers.get("Content-Type", ""),
                body=body,
            )

    def _read_body(self, url: str, response: requests.Response, max_bytes: int) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(url, "too_large", f"declares {declared} bytes > cap {max_bytes}")
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                total += len(chunk)
                if total > max_bytes:
                    raise FetchError(url, "too_large", f"more than the {max_bytes}-byte cap")
                chunks.append(chunk)
        except requests.exceptions.ConnectionError as exc:
            reason = "timeout" if "timed out" in str(exc).lower() else "truncated_download"
            raise _Retryable(reason, str(exc)) from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise _Retryable("truncated_download", str(exc)) from exc
        return b"".join(chunks)

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _Retryable(Exception):
    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
