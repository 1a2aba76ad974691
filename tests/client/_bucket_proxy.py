"""An HTTP proxy in front of SeaweedFS's S3 gateway that sees each request: which part of
which upload a client PUT, and how many body bytes it carried.

The store's endpoint is the proxy's URL, so presigned URLs name the proxy and their
signatures cover its host; requests go on unchanged (``Host`` included), so SeaweedFS
checks the same signatures. Armed with ``hold(mark)``, it stops reading part bodies once
``mark`` bytes of them have arrived in all: the client freezes mid-part, as one killed
there would, and the part never reaches the bucket.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


@dataclass(frozen=True)
class PartPut:
    """A part PUT as it arrived: its number, the body bytes read (all, unless held), and
    whether it came through a presigned URL (a client) or signed in a header (the server)."""

    number: int
    received: int
    forwarded: bool
    presigned: bool


class BucketProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.parts: list[PartPut] = []
        self.triggered = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._mark: int | None = None
        self._part_bytes = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def part_bytes(self) -> int:
        """Body bytes of part PUTs received so far (held ones included)."""
        return self._part_bytes

    def hold(self, mark: int) -> None:
        with self._lock:
            self._mark = mark
            self.triggered.clear()
            self._released.clear()

    def release(self) -> None:
        """Let a held request go: it ends without reaching the bucket."""
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def _count(self, size: int) -> int:
        """Account for ``size`` more part bytes; how many of them to take before holding."""
        with self._lock:
            if self._mark is None or self._part_bytes + size < self._mark:
                self._part_bytes += size
                return size
            take = max(self._mark - self._part_bytes, 0)
            self._part_bytes += take
            self._mark = None
            return take


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self._forward()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _body(self, proxy: BucketProxy, part: int | None) -> tuple[bytes, bool]:
        """The request body; False when it was held (and the request must be dropped)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while size := int(self.rfile.readline().split(b";")[0], 16):
                out += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return bytes(out), True
        left = int(self.headers.get("Content-Length") or 0)
        out = bytearray()
        while left > 0:
            piece = self.rfile.read(min(left, 65536))
            if not piece:
                break
            left -= len(piece)
            if part is not None:
                take = proxy._count(len(piece))
                out += piece[:take]
                if take < len(piece):
                    return bytes(out), False
            else:
                out += piece
        return bytes(out), True

    def _forward(self) -> None:
        proxy: BucketProxy = self.server.proxy  # type: ignore[attr-defined]
        query = parse_qs(urlsplit(self.path).query)
        part = (
            int(query["partNumber"][0]) if self.command == "PUT" and "partNumber" in query else None
        )
        body, whole = self._body(proxy, part)
        if part is not None:
            with proxy._lock:
                proxy.parts.append(
                    PartPut(
                        number=part,
                        received=len(body),
                        forwarded=whole,
                        presigned="X-Amz-Signature" in query,
                    )
                )
        if not whole:
            proxy.triggered.set()
            proxy._released.wait()
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if self.command in ("PUT", "POST"):
            headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() in _HOP or (
                name.lower() == "content-length" and self.command != "HEAD"
            ):
                continue
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(OSError):
                self.wfile.write(data)
