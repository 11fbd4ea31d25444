"""The scraper's HTTP layer against a tiny local server with fault routes: retries, Retry-After,
size caps, redirects, robots.txt, off-site refusal, rate limit and user agent."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from scrapers.fetch import Fetcher, FetchError, domain_allowed, retry_after_seconds
from scrapers.ratelimit import HostRateLimiter
from scrapers.spec_model import DownloadSpec


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


JPEG = _jpeg()


@dataclass
class Server:
    """A running fault server: ``log`` holds (path, user agent) of every request."""

    base: str
    log: list[tuple[str, str]] = field(default_factory=list)
    robots: tuple[int, str] = (200, "User-agent: *\nDisallow: /private/\n")
    hits: dict[str, int] = field(default_factory=dict)
    other_base: str = ""

    def paths(self) -> list[str]:
        return [path for path, _ in self.log]


def _serve(state: Server) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path
            state.log.append((path, self.headers.get("User-Agent", "")))
            state.hits[path] = state.hits.get(path, 0) + 1
            hit = state.hits[path]
            if path == "/robots.txt":
                status, text = state.robots
                return self._send(status, text.encode())
            if path in ("/ok.jpg", "/private/secret.jpg"):
                return self._send(200, JPEG, {"Content-Type": "image/jpeg"})
            if path == "/flaky.jpg":
                return self._send(500) if hit <= 2 else self._send(200, JPEG)
            if path == "/limited.jpg":
                if hit == 1:
                    return self._send(429, b"slow down", {"Retry-After": "1"})
                return self._send(200, JPEG)
            if path == "/limited-long.jpg":
                return self._send(429, b"", {"Retry-After": "3600"})
            if path == "/always-500.jpg":
                return self._send(503)
            if path == "/big.jpg":
                return self._send(200, b"x" * 5000)
            if path == "/big-undeclared.jpg":
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"x" * 5000)
                return None
            if path == "/loop":
                return self._send(302, b"", {"Location": "/loop2"})
            if path == "/loop2":
                return self._send(302, b"", {"Location": "/loop"})
            if path == "/hop":
                return self._send(301, b"", {"Location": "/ok.jpg"})
            if path == "/away":
                return self._send(302, b"", {"Location": f"{state.other_base}/x.jpg"})
            if path == "/to-private":
                return self._send(302, b"", {"Location": "/private/secret.jpg"})
            if path == "/slow.jpg":
                time.sleep(1.0)
                return self._send(200, JPEG)  # the client has given up by now
            return self._send(404, b"nope")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    """Start the fault server and a second ("off-site") server on another port."""
    main, other = Server(""), Server("")
    started = [_serve(other), _serve(main)]
    main.other_base = other.base
    yield main, other
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _fetcher(server: Server, **download: object) -> Fetcher:
    port = server.base.rsplit(":", 1)[1]
    options = {"retries": 3, "backoff_seconds": 0.01, "read_timeout": 0.4, "max_bytes": 1000}
    options.update(download)
    return Fetcher(
        user_agent="carscout-test/1.0 (+tests)",
        domains=(f"127.0.0.1:{port}",),
        download=DownloadSpec(**options),  # type: ignore[arg-type]
        limiter=HostRateLimiter(0.0),
    )


def _reason(fetcher: Fetcher, url: str) -> str:
    with pytest.raises(FetchError) as caught:
        fetcher.get(url)
    return caught.value.reason


def test_retries_5xx_then_succeeds_and_names_carscout(servers: tuple[Server, Server]) -> None:
    server, _ = servers
    with _fetcher(server) as fetcher:
        result = fetcher.get(f"{server.base}/flaky.jpg")
    assert result.body == JPEG
    assert server.hits["/flaky.jpg"] == 3
    assert all("carscout" in agent for _, agent in server.log)


def test_gives_up_after_retries_with_the_status_as_reason(servers: tuple[Server, Server]) -> None:
    server, _ = servers
    with _fetcher(server, retries=2) as fetcher:
        assert _reason(fetcher, f"{server.base}/always-500.jpg") == "http_503"
    assert server.hits["/always-500.jpg"] == 3


def test_429_waits_for_retry_after(servers: tuple[Server, Server]) -> None:
    server, _ = servers
    with _fetcher(server) as fetcher:
        started = time.monotonic()
        result = fetcher.get(f"{server.base}/limited.jpg")
        waited = time.monotonic() - started
    assert result.body == JPEG
    assert waited >= 0.95


def test_retry_after_longer_than_allowed_fails_at_once(servers: tuple[Server, Server]) -> None:
    server, _ = servers
    with _fetcher(server, max_retry_after=5.0) as fetcher:
        started = time.monotonic()
        assert _reason(fetcher, f"{server.base}/limited-long.jpg") == "http_429"
        assert time.monotonic() - started < 1.0
    assert server.hits["/limited-long.jpg"] == 1


@pytest.mark.parametrize("path", ["/big.jpg", "/big-undeclared.jpg"])
def test_size_cap(servers: tuple[Server, Server], path: str) -> None:
    server, _ = servers
    with _fetcher(server) as fetcher:
        assert _reason(fetcher, f"{server.base}{path}") == "too_large"


def test_redirects_are_followed_and_loops_stop(servers: tuple[Server, Server]) -> None:
    server, _ = servers
    with _fetcher(server, max_redirects=4) as fetcher:
        assert fetcher.get(f"{server.base}/hop").body == JPEG
        assert _reason(fetcher, f"{server.base}/loop") == "too_many_redirects"
    assert server.hits["/loop"] + server.hits["/loop2"] == 5


def test_offsite_and_disallowed_urls_are_never_requested(servers: tuple[Server, Server]) -> None:
    server, other = servers
    with _fetcher(server) as fetcher:
        assert _reason(fetcher, f"{server.base}/away") == "offsite"
        assert _reason(fetcher, f"{other.base}/x.jpg") == "offsite"
        assert _reason(fetcher, f"{server.base}/private/secret.jpg") == "robots_disallowed"
        assert _reason(fetcher, f"{server.base}/to-private") == "robots_disallowed"
    assert other.log == []
    assert not any(path.startswith("/private/") for path in server.paths())
    assert server.paths().count("/robots.txt") == 1


def test_robots_missing_allows_and_unreachable_forbids(servers: tuple[Server, Server]) -> None:
    server, _ = servers
    server.robots = (404, "")
    with _fetcher(server) as fetcher:
        assert fetcher.get(f"{server.base}/private/secret.jpg").body == JPEG
    server.robots = (503, "")
    with _fetcher(server, retries=1) as fetcher:
        assert _reason(fetcher, f"{server.base}/ok.jpg") == "robots_unreachable"


def test_read_timeout_is_retried_then_reported(servers: tuple[Server, Server]) -> None:
    server, _ = servers
    with _fetcher(server, retries=1, read_timeout=0.2) as fetcher:
        assert _reason(fetcher, f"{server.base}/slow.jpg") == "timeout"
    assert server.hits["/slow.jpg"] == 2


def test_rate_limiter_spaces_requests_per_host() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = HostRateLimiter(0.5, clock=lambda: now[0], sleep=sleep)
    waits = [limiter.wait("http://a.test/1") for _ in range(3)]
    assert waits == [0.0, 0.5, 0.5]
    assert limiter.wait("http://b.test/1") == 0.0  # another host does not queue behind a.test
    limiter.defer("http://a.test/", 3.0)
    assert limiter.wait("http://a.test/2") == pytest.approx(3.0)


def test_domain_rules_and_retry_after_parsing() -> None:
    assert domain_allowed("https://img.example.com/a.jpg", ("example.com",))
    assert not domain_allowed("https://badexample.com/a.jpg", ("example.com",))
    assert not domain_allowed("ftp://example.com/a.jpg", ("example.com",))
    assert not domain_allowed("http://127.0.0.1:81/", ("127.0.0.1:80",))
    assert domain_allowed("http://127.0.0.1:80/", ("127.0.0.1:80",))
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:10 GMT", now=0.0) == 10.0
    assert retry_after_seconds("soon") is None
