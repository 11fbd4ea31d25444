"""Serve a generated demo site on 127.0.0.1 with a ``ThreadingHTTPServer``.

The server only reads files of the generated site; it never resolves names or opens outbound
connections, so it works on a machine with no network at all.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import re
import threading
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from pipeline.errors import ConfigError
from scrapers.demo_site import pages
from scrapers.demo_site.config import SiteConfig
from scrapers.demo_site.faults import FaultConfig, FaultInjector
from scrapers.demo_site.generator import GeneratedSite, generate_site

_PHOTO = re.compile(r"^/photos/([0-9a-f]+)\.jpg$")
_THUMB = re.compile(r"^/photos/([0-9a-f]+)/thumb-(\d+)\.jpg$")
_LISTING = re.compile(r"^/listing/(\d+)$")


def huge_jpeg() -> bytes:
    """Return a valid small JPEG whose header claims 65000×65000 pixels (a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buf, "JPEG", quality=80)
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (65000).to_bytes(2, "big") * 2
    return bytes(data)


@lru_cache(maxsize=4096)
def _thumbnail(path: Path, width: int) -> bytes:
    with Image.open(path) as img:
        img.draft("RGB", (width, width))
        img = img.convert("RGB")
        img.thumbnail((width, width * 4))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    server_version = "DemoMotors/1.0"
    site: DemoSite  # set on the subclass built per server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the request log replaces stderr chatter

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if hasattr(code, "value") else int(code)  # type: ignore[union-attr]
        self.site._log(self.command, self.path, status)  # noqa: SLF001

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch(head=False)

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            # The client may have given up, e.g. its timeout ran out on a slow response.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def _html(self, status: int, text: str, head: bool) -> None:
        self._send(status, text.encode(), "text/html; charset=utf-8", head=head)

    def _json(self, status: int, obj: object, head: bool) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", head=head)

    def _dispatch(self, head: bool) -> None:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        demo = self.site
        if path != "/robots.txt" and not path.startswith("/static/"):
            fault = demo.injector.transport_fault(self.path)
            if fault == "server_error":
                return self._html(500, pages.error_page(500, "Internal server error"), head)
            if fault == "rate_limit":
                retry = str(demo.faults.retry_after_s)
                body = pages.error_page(429, "Too many requests").encode()
                return self._send(
                    429, body, "text/html; charset=utf-8", {"Retry-After": retry}, head
                )
            if fault == "slow" and demo._stopping.wait(demo.faults.slow_delay_s):  # noqa: SLF001
                return None
        site = demo.generated
        if path == "/robots.txt":
            return self._send(200, pages.ROBOTS_TXT.encode(), "text/plain", head=head)
        if path == "/static/app.js":
            return self._send(200, pages.APP_JS.encode(), "application/javascript", head=head)
        if path == "/static/placeholder.gif":
            return self._send(200, pages.PLACEHOLDER_GIF, "image/gif", head=head)
        if path == "/":
            return self._html(200, pages.home_page(site), head)
        if path in ("/search", "/api/search"):
            return self._search(path, query, head)
        if m := _LISTING.match(path):
            listing = site.listing(m.group(1))
            if listing is None:
                return self._html(404, pages.error_page(404, "This car has been sold."), head)
            return self._html(200, pages.listing_page(site, listing), head)
        if m := _PHOTO.match(path):
            return self._photo(m.group(1), query, head)
        if m := _THUMB.match(path):
            pid, width = m.group(1), int(m.group(2))
            if pid not in site.photos or width not in pages.THUMB_WIDTHS:
                return self._html(404, pages.error_page(404, "No such photo"), head)
            return self._send(200, _thumbnail(site.photo_path(pid), width), "image/jpeg", head=head)
        if path == "/compare":
            ids = [i for i in query.get("ids", [""])[0].split(",") if i]
            return self._html(200, pages.compare_page(site, ids), head)
        if path.startswith("/private/"):
            return self._html(200, pages.private_page(path), head)
        return self._html(404, pages.error_page(404, "Page not found"), head)

    def _search(self, path: str, query: dict[str, list[str]], head: bool) -> None:
        site = self.site.generated
        model = query.get("model", [""])[0]
        try:
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            page = 0
        api = path == "/api/search"
        if model not in site.config.models or page < 1:
            msg = f"unknown model {model!r} or page; models: {', '.join(site.config.models)}"
            return (
                self._json(400, {"error": msg}, head)
                if api
                else self._html(400, pages.error_page(400, msg), head)
            )
        data = pages.search_json(site, model, page)
        if page > int(data["pages"]):  # type: ignore[call-overload]
            return (
                self._json(404, {"error": "no such page"}, head)
                if api
                else self._html(404, pages.error_page(404, "No such page"), head)
            )
        if api:
            return self._json(200, data, head)
        return self._html(200, pages.search_page(model), head)

    def _photo(self, pid: str, query: dict[str, list[str]], head: bool) -> None:
        demo = self.site
        if pid not in demo.generated.photos:
            return self._html(404, pages.error_page(404, "No such photo"), head)
        fault = demo.injector.photo_fault(pid)
        if fault == "missing_photo":
            return self._html(404, pages.error_page(404, "Photo removed"), head)
        if fault == "redirect_loop":
            target = f"/photos/{pid}.jpg" if "loop" in query else f"/photos/{pid}.jpg?loop=1"
            return self._send(302, b"", "text/plain", {"Location": target}, head)
        if fault == "html_as_jpeg":
            body = pages.error_page(403, "Hotlinking is not allowed").encode()
            return self._send(200, body, "image/jpeg", head=head)
        if fault == "huge_image":
            return self._send(200, demo.huge_jpeg, "image/jpeg", head=head)
        data = demo.generated.photo_path(pid).read_bytes()
        if fault == "truncated_jpeg":
            data = data[: len(data) * 3 // 5]
        return self._send(200, data, "image/jpeg", {"Cache-Control": "max-age=3600"}, head)


class DemoSite:
    """A running demo marketplace; use as a context manager or call start() and stop().

    ``site`` is a :class:`SiteConfig` (generated, or read from the cache, on start) or an
    already :class:`GeneratedSite`. ``faults`` overrides the config's faults when given.
    """

    def __init__(
        self,
        site: SiteConfig | GeneratedSite | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | None = None,
        cache_dir: Path | str | None = None,
    ) -> None:
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(
                f"the demo site only listens on loopback; use 127.0.0.1, not {host!r}"
            )
        self._site = site or SiteConfig()
        config = self._site.config if isinstance(self._site, GeneratedSite) else self._site
        self.faults = faults if faults is not None else config.faults
        self.injector = FaultInjector(self.faults)
        self.host, self.port = host, port
        self.cache_dir = cache_dir
        self.huge_jpeg = huge_jpeg()
        self._generated: GeneratedSite | None = (
            self._site if isinstance(self._site, GeneratedSite) else None
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._log_lock = threading.Lock()
        self._request_log: list[tuple[str, str, int]] = []

    @property
    def generated(self) -> GeneratedSite:
        """Return the generated site being served (generating it on first use)."""
        if self._generated is None:
            self._generated = generate_site(self._site, self.cache_dir)  # type: ignore[arg-type]
        return self._generated

    @property
    def base_url(self) -> str:
        """Return ``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("the demo site is not running; call start() first")
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        """Return a copy of every (method, path with query, status) answered so far."""
        with self._log_lock:
            return list(self._request_log)

    def clear_log(self) -> None:
        """Forget the requests logged so far."""
        with self._log_lock:
            self._request_log.clear()

    def _log(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self._request_log.append((method, path, status))

    def photo_fault(self, photo_id: str) -> str | None:
        """Return the permanent fault served for ``photo_id``'s full-size URL, or None."""
        return self.injector.photo_fault(photo_id)

    def start(self) -> str:
        """Start serving in a background thread and return the base URL."""
        if self._server is not None:
            return self.base_url
        self.generated  # noqa: B018 - generate before the port opens
        handler = type("DemoHandler", (_Handler,), {"site": self})
        try:
            server = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "pick another --port, or 0 for any free port"
            ) from exc
        server.daemon_threads = True
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close the port; slow responses in flight are abandoned."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> DemoSite:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
