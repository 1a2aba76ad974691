"""Multipart upload tokens: which upload, for which file of which artifact, by whom.

A token carries the upload (its temporary key's name and the object store's upload id),
the part size, the file's path and an expiry, and an HMAC-SHA256 with the server's secret
over all of them plus the artifact id and the user who began it (length-prefixed, as
``signing`` does for links). Every server process shares the secret, so any of them takes
a token another made, and no state is kept: a token presented for another artifact, by
another user, altered or expired is simply not a token (``NotFoundError``), so nobody can
complete an upload into an artifact that is not theirs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Final

from satchel.errors import NotFoundError
from satchel.storage.base import PartUpload

__all__ = ["PartsClaims", "issue", "verify"]

_PURPOSE: Final = b"satchel-multipart-v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class PartsClaims:
    """What a token stands for."""

    artifact_id: str
    user_id: str
    path: str
    upload: PartUpload
    part_size: int
    expires: int  # Unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, artifact_id: str, user_id: str, payload: str) -> str:
    parts = [_PURPOSE, artifact_id.encode(), user_id.encode(), payload.encode("ascii")]
    message = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def issue(secret: bytes, claims: PartsClaims) -> str:
    """The token of ``claims``: ``<payload>.<signature>``, URL-safe."""
    body = [
        claims.upload.token,
        claims.upload.upload_id,
        claims.part_size,
        claims.expires,
        claims.path,
    ]
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_mac(secret, claims.artifact_id, claims.user_id, payload)}"


def verify(
    secret: bytes, token: str, *, artifact_id: str, user_id: str, now: float | None = None
) -> PartsClaims:
    """The claims of a token made for this artifact and user, still live.

    Raises:
        NotFoundError: anything else (the same answer whatever is wrong with it).
    """
    missing = NotFoundError(f"no multipart upload {token[:40]!r} of artifact {artifact_id!r}")
    payload, _, signature = token.partition(".")
    expected = _mac(secret, artifact_id, user_id, payload) if payload.isascii() else ""
    if not expected or not hmac.compare_digest(expected, signature):
        raise missing
    try:
        key, upload_id, part_size, expires, path = json.loads(_unb64(payload))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise missing from exc
    if (time.time() if now is None else now) >= expires:
        raise NotFoundError(f"the multipart upload {token[:40]!r} has expired: begin another")
    return PartsClaims(
        artifact_id=artifact_id,
        user_id=user_id,
        path=str(path),
        upload=PartUpload(token=str(key), upload_id=str(upload_id)),
        part_size=int(part_size),
        expires=int(expires),
    )
