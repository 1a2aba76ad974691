"""Signed links: HMAC-SHA256 over every part of a link, checked by the server's clock.

A link names an artifact, one of its files, the user who made it and when it expires;
the signature covers all four (length-prefixed, so no two tuples sign alike), so changing
any of them breaks it. The key is the server's configured secret, which every server
process shares: a link one process signs, another accepts. Whether the link's maker may
still read the artifact is checked again at every use (``routes.links``), not here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from satchel.server.errors import ApiError

__all__ = ["LINK_EXPIRED", "LINK_INVALID", "LinkClaims", "link_path", "sign", "verify"]

_PURPOSE: Final = b"satchel-link-v1"
#: The messages of a refused link (the portal's error page tells them apart).
LINK_INVALID: Final = "this link is not valid (its signature does not match)"
LINK_EXPIRED: Final = "this link has expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkClaims:
    """What a link grants: one file of one artifact, as its maker, until ``expires``."""

    artifact_id: str
    path: str
    user_id: str
    expires: int  # Unix seconds


def _message(claims: LinkClaims) -> bytes:
    parts = [_PURPOSE, *(p.encode("utf-8") for p in (claims.artifact_id, claims.path))]
    parts += [claims.user_id.encode("utf-8"), str(claims.expires).encode("ascii")]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def sign(secret: bytes, claims: LinkClaims) -> str:
    """The signature of ``claims``: URL-safe base64 without padding."""
    mac = hmac.new(secret, _message(claims), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def verify(secret: bytes, claims: LinkClaims, signature: str, *, now: float | None = None) -> None:
    """Raise ``ApiError(forbidden)`` unless ``signature`` signs ``claims`` and they are live."""
    expected = sign(secret, claims)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise ApiError("forbidden", LINK_INVALID)
    if (time.time() if now is None else now) >= claims.expires:
        raise ApiError("forbidden", LINK_EXPIRED)


def link_path(claims: LinkClaims, signature: str) -> str:
    """The path and query of a link (to put after the server's base URL)."""
    return (
        f"/api/v1/links/{quote(claims.artifact_id, safe='')}/{quote(claims.path, safe='/')}"
        f"?u={quote(claims.user_id, safe='')}&e={claims.expires}&s={signature}"
    )
