"""``create_app(settings)``: the FastAPI application of one server process.

Routes are thin (parse, call one service, serialise); every error goes through one
handler (``errors``); the app holds one ``ServerState`` (store, tenancy, uploads), opened
here and closed when the app shuts down.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from satchel.errors import PayloadTooLargeError
from satchel.server.config import ServerSettings
from satchel.server.errors import error_response, install_handlers
from satchel.server.routes import (
    artifacts,
    files,
    identity,
    multipart,
    retention,
    runs,
    server,
    sharing,
    usage,
)
from satchel.server.state import ServerState

__all__ = ["API_PREFIX", "BodyLimit", "create_app"]

API_PREFIX: Final = "/api/v1"
#: Routes whose body is a file's bytes, of any length (the staging area bounds them).
_STREAMED: Final = re.compile(rf"^{API_PREFIX}/artifacts/[^/]+/uploads/")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether announced or not.

    Upload chunks are exempt: they stream to disk, and the file's declared size bounds them.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _STREAMED.match(_route_path(scope)):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = 0
                if announced > self.limit:
                    response = error_response(
                        "too_large", f"the request body is over {self.limit} bytes"
                    )
                    await response(scope, receive, send)
                    return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise PayloadTooLargeError(f"the request body is over {self.limit} bytes")
            return message

        async def answer(message: Message) -> None:
            # Whatever the app made of the refused body, the answer is 413.
            if not refused:
                await send(message)
            elif message["type"] == "http.response.start":
                response = error_response(
                    "too_large", f"the request body is over {self.limit} bytes"
                )
                await response(scope, receive, send)

        await self.app(scope, counted, answer)


def _route_path(scope: Scope) -> str:
    """The path the app routes on: without the ``root_path`` a proxy mounts it under (ASGI
    puts the mount prefix in both ``root_path`` and ``path``)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def create_app(settings: ServerSettings, *, state: ServerState | None = None) -> FastAPI:
    """The application over the store ``settings`` name (opened now, closed at shutdown)."""
    opened = state if state is not None else ServerState.open(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if state is None:
            opened.close()

    from satchel import __version__  # noqa: PLC0415

    app = FastAPI(
        title="satchel",
        version=__version__,
        summary="An artifact store for machine-learning work.",
        description="The HTTP API of satchel (docs/api.md).",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.satchel = opened
    install_handlers(app)
    routers = (server, identity, artifacts, files, multipart, sharing, runs, usage, retention)
    for module in routers:
        app.include_router(module.router, prefix=API_PREFIX)
    from satchel.portal import install_portal  # noqa: PLC0415 - the outer layer, last

    install_portal(app)
    app.add_middleware(BodyLimit, limit=settings.body_max)
    return app
