"""A small plain-HTML site on 127.0.0.1 for tests: a real threaded HTTP server whose answer to
each GET comes from a function the test gives.

Test modules use ``serving(answer)``: ``answer(path)`` returns a ``Reply``, and the ``with`` block
gets the site's base URL (``http://127.0.0.1:PORT``); the server stops when the block ends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple


class Reply(NamedTuple):
    """One answer: its HTTP status, its body and its Content-Type."""

    status: int
    body: bytes
    kind: str = "text/html"


@contextlib.contextmanager
def serving(answer: Callable[[str], Reply]) -> Iterator[str]:
    """Serve ``answer(path)`` for every GET on a free 127.0.0.1 port; yield the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            reply = answer(self.path)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.kind)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            # A scraper that gave up on a slow answer has closed its end: not the site's error.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(reply.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
