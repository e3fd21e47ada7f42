"""A small HTTP file server on 127.0.0.1 for the download tests.

Each route serves fixed bytes and can misbehave on purpose: cut the connection after some bytes,
ignore ``Range`` requests, or answer an error status. The server runs in a daemon thread, answers
only on 127.0.0.1, and shuts itself down after ``lifetime`` seconds even if a test forgets to.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclasses.dataclass
class Route:
    """What one path answers, and the ``Range`` header of every request it received."""

    body: bytes
    status: int = 200
    ignore_range: bool = False
    cut_after: int | None = None  # Send only this many body bytes, then close the connection...
    cut_times: int = 1  # ...for this many first requests.
    requests: list = dataclasses.field(default_factory=list)

    @property
    def hits(self) -> int:
        return len(self.requests)


class _Handler(BaseHTTPRequestHandler):
    # A stuck client never blocks the server for long.
    timeout = 5

    def log_message(self, format, *args):  # noqa: A002 - the base class's parameter name.
        pass

    def do_GET(self):  # noqa: N802 - the name http.server dispatches to.
        server = self.server
        with server.lock:
            route = server.routes.get(self.path)
            range_header = self.headers.get("Range")
            if route is not None:
                route.requests.append(range_header)
                cut = route.cut_after if route.hits <= route.cut_times else None
        if route is None:
            self.send_error(404, "Not Found")
            return
        if route.status != 200:
            self.send_error(route.status)
            return

        body = route.body
        start, status = 0, 200
        match = _RANGE.match(range_header or "")
        if match is not None and not route.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        payload = body[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if cut is not None:
            # Promise the whole body, send part of it, then hang up.
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


class LocalServer:
    """A threaded HTTP server bound to 127.0.0.1 on a free port."""

    def __init__(self, lifetime: float = 60.0):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.routes = {}
        self._server.lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._watchdog = threading.Timer(lifetime, self._server.shutdown)
        self._watchdog.daemon = True
        self._stopped = False

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, **options) -> Route:
        """Serve ``body`` at ``path`` (options: see :class:`Route`) and return the route."""
        route = Route(body=body, **options)
        with self._server.lock:
            self._server.routes[path] = route
        return route

    @property
    def total_hits(self) -> int:
        with self._server.lock:
            return sum(route.hits for route in self._server.routes.values())

    def start(self) -> "LocalServer":
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._watchdog.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def talk_directly_without_waiting(monkeypatch) -> None:
    """Reach 127.0.0.1 directly (never through a proxy) and retry downloads without waiting."""
    from paysages.data import transfer

    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(transfer, "DEFAULT_BACKOFF_SECONDS", 0.01)
