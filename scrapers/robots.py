"""robots.txt, fetched through carscout's own HTTP session and cached per origin.

Follows RFC 9309: rules may use ``*`` and ``$`` wildcards, the longest matching rule wins (an
``Allow`` on a tie), and the group naming our agent replaces the ``*`` group. On errors, a
robots.txt that is missing (4xx) allows everything, one that cannot be reached (5xx after
retries, timeouts, connection errors) disallows everything on that origin. A ``Crawl-delay``
for our agent slows that host down in the shared rate limiter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

ROBOTS_AGENT = "carscout"


@dataclass(frozen=True)
class RobotsFile:
    """What one origin's robots.txt said: ``status`` is the HTTP status (0: unreachable)."""

    status: int
    text: str = ""


class RobotsRules:
    """The parsed rules of one origin."""

    def __init__(self, robots: RobotsFile, agent: str = ROBOTS_AGENT) -> None:
        self.agent = agent
        self.unreachable = robots.status == 0 or robots.status >= 500
        # urllib.robotparser would do for plain prefixes, but it ignores ``*`` and ``$`` and
        # takes the first matching rule instead of the longest, so real sites' files misread.
        self._parser = Protego.parse(robots.text) if 200 <= robots.status < 300 else None

    def allows(self, url: str) -> bool:
        """Return True when our agent may fetch ``url``."""
        if self._parser is None:
            return not self.unreachable
        return self._parser.can_fetch(url, self.agent)

    def crawl_delay(self) -> float | None:
        """Return the Crawl-delay for our agent in seconds, or None when the file sets none."""
        if self._parser is None:
            return None
        return self._parser.crawl_delay(self.agent)


class RobotsCache:
    """Answers "may we fetch this URL?", fetching each origin's robots.txt once.

    ``fetch_robots(url)`` returns a :class:`RobotsFile` for a robots.txt URL; it must not itself
    consult this cache. ``on_crawl_delay(origin_url, seconds)`` is told about Crawl-delay lines.
    """

    def __init__(
        self,
        fetch_robots: Callable[[str], RobotsFile],
        agent: str = ROBOTS_AGENT,
        on_crawl_delay: Callable[[str, float], None] | None = None,
    ) -> None:
        self._fetch = fetch_robots
        self.agent = agent
        self._on_crawl_delay = on_crawl_delay
        self._rules: dict[str, RobotsRules] = {}
        self._lock = threading.Lock()

    def rules_for(self, url: str) -> RobotsRules:
        """Return the rules of ``url``'s origin, fetching its robots.txt the first time."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        with self._lock:
            rules = self._rules.get(origin)
            if rules is None:
                rules = RobotsRules(self._fetch(f"{origin}/robots.txt"), self.agent)
                self._rules[origin] = rules
                delay = rules.crawl_delay()
                if delay and self._on_crawl_delay:
                    self._on_crawl_delay(origin, delay)
        return rules

    def denial(self, url: str) -> str | None:
        """Return None when ``url`` may be fetched, else the reason code: ``robots_disallowed``,
        or ``robots_unreachable`` when the origin's robots.txt could not be read."""
        rules = self.rules_for(url)
        if rules.allows(url):
            return None
        return "robots_unreachable" if rules.unreachable else "robots_disallowed"
