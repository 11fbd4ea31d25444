"""robots.txt through the fetcher's gate, served by a real HTTP server on 127.0.0.1: wildcard
``*`` and ``$`` rules, longest-match precedence, agent groups, Crawl-delay, and the RFC 9309
answers to a missing or unreachable file."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scrapers.fetch import Fetcher
from scrapers.ratelimit import HostRateLimiter
from scrapers.spec_model import DownloadSpec

SITE_ROBOTS = """\
# Other robots are kept out; carscout gets its own group, which replaces the * group.
User-agent: *
Disallow: /

User-agent: otherbot
User-agent: carscout
Crawl-delay: 2.5
Disallow: /*.php$
Disallow: /*?sort=
Disallow: /gallery/
Allow: /gallery/public/
Allow: /page
Disallow: /page/hidden
Disallow: /p
Allow: /photos/*.jpg$
Disallow: /photos/
"""


class RobotsServer:
    """Serves ``robots`` as (status, text) at /robots.txt; ``requests`` counts its fetches."""

    def __init__(self) -> None:
        self.robots: tuple[int, str] = (200, SITE_ROBOTS)
        self.requests = 0
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, text = state.robots if self.path == "/robots.txt" else (404, "")
                state.requests += self.path == "/robots.txt"
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[RobotsServer]:
    running = RobotsServer()
    yield running
    running.close()


def _fetcher(base: str, limiter: HostRateLimiter | None = None) -> Fetcher:
    download = DownloadSpec(retries=1, backoff_seconds=0.01, read_timeout=1.0)
    return Fetcher(
        user_agent="carscout-test/1.0 (+tests)",
        domains=(base.removeprefix("http://"),),
        download=download,
        limiter=limiter or HostRateLimiter(0.0),
    )


@pytest.mark.parametrize(
    ("path", "denial"),
    [
        ("/index.html", None),  # the * group's "Disallow: /" does not apply to carscout
        ("/search.php", "robots_disallowed"),  # "$" anchors at the end of the path
        ("/search.php?q=swift", None),
        ("/search.phpx", None),
        ("/list?sort=price", "robots_disallowed"),  # "*" spans any characters
        ("/cars/list?page=2&sort=price", None),
        ("/cars/list?sort=price", "robots_disallowed"),
        ("/gallery/1.jpg", "robots_disallowed"),
        ("/gallery/public/1.jpg", None),  # the longer Allow beats the shorter Disallow
        ("/page/2", None),  # "Allow: /page" is longer than "Disallow: /p"
        ("/page/hidden/1.jpg", "robots_disallowed"),  # ... and the longer Disallow beats it
        ("/pricing", "robots_disallowed"),
        ("/photos/swift/1.jpg", None),  # "/photos/*.jpg$" is longer than "/photos/"
        ("/photos/swift/1.jpg.html", "robots_disallowed"),
        ("/photos/swift/", "robots_disallowed"),
    ],
)
def test_wildcards_and_longest_match(server: RobotsServer, path: str, denial: str | None) -> None:
    with _fetcher(server.base) as fetcher:
        assert fetcher.denial(f"{server.base}{path}") == denial


def test_rules_are_fetched_once_per_origin_and_crawl_delay_is_honoured(
    server: RobotsServer,
) -> None:
    limiter = HostRateLimiter(0.1)
    with _fetcher(server.base, limiter) as fetcher:
        assert fetcher.denial(f"{server.base}/a.jpg") is None
        assert fetcher.denial(f"{server.base}/gallery/b.jpg") == "robots_disallowed"
    assert server.requests == 1
    assert limiter.interval_for(f"{server.base}/a.jpg") == 2.5


def test_the_star_group_applies_when_no_group_names_carscout(server: RobotsServer) -> None:
    server.robots = (200, "User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /x/\n")
    limiter = HostRateLimiter(0.0)
    with _fetcher(server.base, limiter) as fetcher:
        assert fetcher.denial(f"{server.base}/x/1.jpg") == "robots_disallowed"
        assert fetcher.denial(f"{server.base}/y/1.jpg") is None
    assert limiter.interval_for(server.base) == 0.0


def test_a_group_for_the_full_carscout_product_token_matches(server: RobotsServer) -> None:
    server.robots = (200, "User-agent: CarScout\nDisallow: /cars/\n")
    with _fetcher(server.base) as fetcher:
        assert fetcher.denial(f"{server.base}/cars/1.jpg") == "robots_disallowed"
        assert fetcher.denial(f"{server.base}/boats/1.jpg") is None


@pytest.mark.parametrize(
    ("status", "denial"),
    [(404, None), (410, None), (500, "robots_unreachable"), (503, "robots_unreachable")],
)
def test_missing_allows_everything_and_server_errors_forbid_everything(
    server: RobotsServer, status: int, denial: str | None
) -> None:
    server.robots = (status, "User-agent: *\nDisallow: /\n")
    with _fetcher(server.base) as fetcher:
        assert fetcher.denial(f"{server.base}/any/photo.jpg") == denial


def test_connection_refused_forbids_everything() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound but not listening
        with _fetcher(base) as fetcher:
            assert fetcher.denial(f"{base}/photo.jpg") == "robots_unreachable"


def test_an_empty_file_allows_everything(server: RobotsServer) -> None:
    server.robots = (200, "")
    with _fetcher(server.base) as fetcher:
        assert fetcher.denial(f"{server.base}/anything.jpg") is None
