"""A TCP proxy in front of the test server, to break connections the way networks do.

It forwards bytes both ways and counts what clients send. Armed, it acts once when the
count passes a mark: ``cut`` closes the connection there (a dropped connection), ``hold``
stops forwarding (a client frozen mid-request, until it is killed), ``flip`` flips one
byte of the next download's body (a file's bytes damaged in flight).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit


class Proxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._prefix = parts.path
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}{self._prefix}"
        self.sent = 0  # bytes clients sent through the proxy
        self.triggered = threading.Event()
        self._lock = threading.Lock()
        self._mode: str | None = None
        self._mark = 0
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, mode: str, mark: int) -> None:
        """Act once (``cut``/``hold`` when clients sent ``mark`` bytes in total; ``flip``
        the ``mark``-th byte of the next answer body)."""
        with self._lock:
            self._mode, self._mark = mode, mark
            self.triggered.clear()

    def drop_all(self) -> None:
        """Close every connection (what the network does when a client dies)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.drop_all()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._upstream_pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._answer_pump, args=(server, client), daemon=True).start()

    def _upstream_pump(self, client: socket.socket, server: socket.socket) -> None:
        for received in _pieces(client):
            piece = received
            with self._lock:
                mode, mark = self._mode, self._mark
                if mode in ("cut", "hold") and self.sent + len(piece) >= mark:
                    piece = piece[: max(mark - self.sent, 0)]
                    self._mode = None
                else:
                    mode = None
                self.sent += len(piece)
            with contextlib.suppress(OSError):
                server.sendall(piece)
            if mode == "cut":
                self.triggered.set()
                for sock in (client, server):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return
            if mode == "hold":
                self.triggered.set()
                return  # read nothing more: the client blocks until it is killed
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _answer_pump(self, server: socket.socket, client: socket.socket) -> None:
        position = 0  # stream offset of the current piece on this connection
        seen = bytearray()  # the stream since ``seen_from``, until a download's headers end
        seen_from: int | None = None
        body_start: int | None = None  # stream offset of the armed download's body
        for piece in _pieces(server):
            data = bytearray(piece)
            with self._lock:
                flip, mark = self._mode == "flip", self._mark
            if not flip:
                seen, seen_from, body_start = bytearray(), None, None
            elif body_start is None:
                if seen_from is None:
                    seen_from = position
                seen += piece
                header = bytes(seen).lower().find(b"x-satchel-sha256:")
                end = seen.find(b"\r\n\r\n", header) if header >= 0 else -1
                if end >= 0:
                    body_start = seen_from + end + 4
            if body_start is not None:
                target = body_start + mark
                if position <= target < position + len(data):
                    data[target - position] ^= 0x01
                    seen, seen_from, body_start = bytearray(), None, None
                    with self._lock:
                        self._mode = None
                    self.triggered.set()
            position += len(piece)
            with contextlib.suppress(OSError):
                client.sendall(data)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)


def _pieces(sock: socket.socket) -> Iterator[bytes]:
    while True:
        try:
            piece = sock.recv(65536)
        except OSError:
            return
        if not piece:
            return
        yield piece
