"""Route dependencies: the process's state and the authenticated caller."""

from __future__ import annotations

from typing import Annotated, Final

import anyio.to_thread
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from satchel.errors import AuthenticationError
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor

__all__ = [
    "ActorDep",
    "ArtifactIdPath",
    "RunIdPath",
    "StateDep",
    "get_actor",
    "get_state",
]

#: Ids the server makes (ULIDs) and clients may choose: letters, digits, ``_`` and ``-``.
ID_PATTERN: Final = r"^[0-9A-Za-z_-]{1,64}$"
#: Run ids come from clients (``Context(run_id=...)``): any printable text up to 64.
RUN_ID_PATTERN: Final = r"^[^\x00-\x1f\x7f]{1,64}$"

_bearer = HTTPBearer(auto_error=False, description="An API or login token.")


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.satchel
    return state


StateDep = Annotated[ServerState, Depends(get_state)]


async def get_actor(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller the bearer token stands for; 401 without a valid one."""
    if credentials is None:
        raise AuthenticationError("this route needs a token: Authorization: Bearer <token>")
    actor = await anyio.to_thread.run_sync(state.tenancy.authenticate, credentials.credentials)
    if actor is None:
        raise AuthenticationError("the token is unknown, revoked or expired")
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]
ArtifactIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
RunIdPath = Annotated[str, Path(pattern=RUN_ID_PATTERN)]
