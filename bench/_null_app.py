"""An ASGI app that does nothing with the bytes: the ceiling of a Python HTTP server here.

``uvicorn _null_app:app`` (uvicorn picks uvloop and httptools when installed, as it does for
``satchel serve``). ``PUT /`` reads the body to the end and throws it away; ``GET
/?bytes=N`` sends N bytes from one buffer in 1 MiB pieces; ``GET /health`` answers 200.
The benchmark drives it with curl, as it drives both servers' "server alone" lines, so the
three sit side by side: an empty app, satchel's server, MLflow's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

PIECE = 1 << 20
_ZEROS = bytes(PIECE)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    received = 0
    while True:
        message = await receive()
        received += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    size = 0
    if scope["method"] == "GET" and scope["path"] != "/health":
        size = int(parse_qs(scope["query_string"].decode()).get("bytes", ["0"])[0])
    headers = [(b"content-length", str(size).encode())] if size else []
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    left = size
    while left > 0:
        piece = _ZEROS if left >= PIECE else _ZEROS[:left]
        left -= len(piece)
        await send({"type": "http.response.body", "body": piece, "more_body": left > 0})
    if not size:
        await send({"type": "http.response.body", "body": str(received).encode()})
