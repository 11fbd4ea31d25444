"""Serve the review page: bind an address (127.0.0.1 by default), make a random token, print the
URL that carries it, and run uvicorn (comes with Prefect) in the foreground or in a thread."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import sys
import threading
import webbrowser
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import uvicorn

from curation.review.queue import ReviewError
from curation.review.web.app import ReviewConfig, create_app
from curation.review.web.thumbs import ThumbCache
from pipeline.workspace import Workspace

DEFAULT_HOST = "127.0.0.1"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str) -> str:
    """Return ``host`` if the server may bind it; raise :class:`ReviewError` for a wildcard.

    A wildcard (``0.0.0.0``, ``::``) has no one address a Host header could be checked against,
    which the DNS-rebinding guard needs: name the interface's own address instead.
    """
    host = host.strip().strip("[]")
    if not host:
        raise ReviewError("--host needs an address, e.g. --host 127.0.0.1")
    try:
        if ipaddress.ip_address(host).is_unspecified:
            raise ReviewError(
                f"--host {host} listens on every interface; give this machine's own address "
                "on the network the reviewers use (e.g. --host 192.168.1.20)"
            )
    except ValueError:
        pass  # a host name: bound as resolved, checked as written
    return host


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """Return the Host header values that name this server (``host:port``; for a loopback
    address also ``localhost``, ``127.0.0.1`` and ``[::1]`` with the port)."""

    def form(name: str) -> str:
        return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    names = {host.lower()}
    if _is_loopback(host):
        names |= {"localhost", "127.0.0.1", "::1"}
    return frozenset(form(name) for name in names)


def bind(host: str, port: int) -> socket.socket:
    """Return a socket bound to ``host``:``port`` (0 picks a free port), listening.

    Raises :class:`ReviewError` naming the fix when the address cannot be bound.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise ReviewError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
            "(0 = any free port) or --host"
        ) from exc
    return sock


def display_available(env: Mapping[str, str] | None = None) -> bool:
    """Return True when a browser window could open here (a desktop session or macOS/Windows)."""
    env = os.environ if env is None else env
    return sys.platform in ("darwin", "win32") or bool(
        env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")
    )


@dataclass
class ReviewServer:
    """One review server on ``host``:``port`` over a workspace; :attr:`url` carries the token.

    Use :meth:`serve` (blocks until Ctrl-C) or, in tests and benchmarks, as a context manager
    (serves in a thread).
    """

    ws: Workspace
    actor: str
    host: str = DEFAULT_HOST
    port: int = 0
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _sock: socket.socket | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.host = check_host(self.host)
        self._sock = bind(self.host, self.port)
        self.port = int(self._sock.getsockname()[1])
        config = ReviewConfig(
            catalog=self.ws.catalog,
            thumbs=ThumbCache(
                self.ws.catalog, self.ws.store, self.ws.settings.reports_dir / "review-web-thumbs"
            ),
            actor=self.actor,
            token=self.token,
            allowed_hosts=allowed_hosts(self.host, self.port),
            cookie=f"carscout_review_{self.port}",
        )
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(config),
                log_level="warning",
                access_log=False,
                lifespan="off",
                server_header=False,
            )
        )

    @property
    def url(self) -> str:
        """Return the page's URL with its token (what the user opens)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={quote(self.token)}"

    def serve(self) -> None:
        """Serve in the foreground until interrupted (Ctrl-C, SIGTERM)."""
        assert self._server is not None and self._sock is not None
        self._server.run(sockets=[self._sock])

    def __enter__(self) -> ReviewServer:
        assert self._server is not None and self._sock is not None
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()


def open_browser(url: str) -> bool:
    """Open ``url`` in the desktop's browser when there is one; return whether it was asked."""
    if not display_available():
        return False
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False
