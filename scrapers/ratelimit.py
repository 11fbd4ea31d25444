"""A per-host request rate: at most one request to a host every ``interval`` seconds.

Threads that want the same host queue for their turn; different hosts never wait on each other.
A server's ``Retry-After`` (or robots.txt ``Crawl-delay``) pushes that host's next slot back for
every thread at once, not just for the one that was told.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit


def host_of(url: str) -> str:
    """Return the ``host:port`` a URL is sent to, lower-cased (``""`` when it has none)."""
    return urlsplit(url).netloc.lower()


class HostRateLimiter:
    """Spaces requests to each host by at least ``interval`` seconds (0 turns it off)."""

    def __init__(self, interval: float, clock=time.monotonic, sleep=time.sleep) -> None:
        self.interval = max(0.0, interval)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}
        self._intervals: dict[str, float] = {}

    def set_interval(self, url: str, seconds: float) -> None:
        """Use at least ``seconds`` between requests to ``url``'s host (e.g. Crawl-delay)."""
        with self._lock:
            host = host_of(url)
            self._intervals[host] = max(self._intervals.get(host, 0.0), seconds)

    def interval_for(self, url: str) -> float:
        """Return the spacing in seconds used for ``url``'s host."""
        with self._lock:
            return max(self.interval, self._intervals.get(host_of(url), 0.0))

    def wait(self, url: str) -> float:
        """Block until the caller may send a request to ``url``'s host; return seconds waited."""
        host = host_of(url)
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot.get(host, now))
            spacing = max(self.interval, self._intervals.get(host, 0.0))
            self._next_slot[host] = slot + spacing
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay

    def charge(self, url: str) -> None:
        """Count a request already sent to ``url``'s host (by the browser, for a page's scripts
        and data) without waiting: the host's next slot moves one interval later, so a page
        and the k requests it made take k + 1 intervals from the page's own slot."""
        host = host_of(url)
        with self._lock:
            spacing = max(self.interval, self._intervals.get(host, 0.0))
            self._next_slot[host] = self._next_slot.get(host, self._clock()) + spacing

    def defer(self, url: str, seconds: float) -> None:
        """Let no request reach ``url``'s host for ``seconds`` from now (Retry-After)."""
        host = host_of(url)
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._next_slot[host] = max(self._next_slot.get(host, 0.0), until)
