"""An HTTP proxy that holds every request for a fixed delay before forwarding it, so a local
moto server answers with S3's latency (tens of ms to the first byte) instead of its own 2-3 ms.

Each request waits in its own thread, so concurrent requests overlap their delays as they would
on S3; the proxy also records every request (time, method, target), which is how bench.s3
counts requests by kind and by table build.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

DEFAULT_DELAY_MS = 25.0
# Headers that belong to one connection, not to the request or response it carries.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}
)


@dataclass(frozen=True)
class Request:
    at: float  # time.time() when it arrived
    method: str
    target: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream: str, delay_s: float) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        split = urlsplit(upstream)
        self.upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self.delay_s = delay_s
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.connections = threading.local()  # one kept-alive upstream connection a thread


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of S3 use it
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: requests are recorded, not logged."""

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _upstream(self) -> http.client.HTTPConnection:
        local = self.server.connections
        if getattr(local, "connection", None) is None:
            local.connection = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        return local.connection

    def _forward(self) -> None:
        with self.server.lock:
            self.server.requests.append(Request(time.time(), self.command, self.path))
        body = self._body()
        time.sleep(self.server.delay_s)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        try:
            response = self._send_upstream(headers, body)
        except (http.client.HTTPException, OSError):
            self.server.connections.connection = None
            response = self._send_upstream(headers, body)  # a kept-alive connection had closed
        payload = response.read()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_upstream(self, headers: dict[str, str], body: bytes) -> http.client.HTTPResponse:
        connection = self._upstream()
        connection.request(self.command, self.path, body=body or None, headers=headers)
        return connection.getresponse()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


@contextmanager
def latency_proxy(upstream: str, delay_ms: float, port: int = 0) -> Iterator[_Server]:
    """A proxy to `upstream` (http://host:port) adding `delay_ms` to every request, served by a
    thread of this process; yields the server (its endpoint is `endpoint(server)`)."""
    server = _Server(port, upstream, delay_ms / 1e3)
    thread = threading.Thread(target=server.serve_forever, name="latency-proxy", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def endpoint(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"
