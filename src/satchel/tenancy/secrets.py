"""Passwords and token secrets: how they are made, stored and checked. No I/O here.

Passwords are hashed with scrypt (stdlib ``hashlib.scrypt``, memory-hard) and a random
16-byte salt of their own; the stored text carries its parameters, so they can be raised
later without breaking stored hashes::

    scrypt$n=32768,r=8,p=1$<salt, base64>$<hash, base64>

Token secrets are 32 random bytes (``secrets.token_urlsafe``) behind the ``sat_`` prefix,
which makes a leaked one easy to recognise (secret scanners, logs). Only their SHA-256 is
stored: a secret has enough entropy that a slow hash adds nothing, and a lookup by digest
needs no per-row salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

from satchel.errors import ValidationError

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "TOKEN_PREFIX",
    "hash_password",
    "new_token_secret",
    "token_digest",
    "verify_password",
]

TOKEN_PREFIX: Final = "sat_"  # noqa: S105 - a prefix, not a secret
MIN_PASSWORD: Final = 8
#: Bytes of UTF-8; scrypt reads all of it, so a megabyte "password" is refused.
MAX_PASSWORD: Final = 1024
_N: Final = 2**15
_R: Final = 8
_P: Final = 1
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32
#: scrypt needs 128 * r * n bytes (32 MiB here); OpenSSL's default ceiling is exactly that.
_MAXMEM: Final = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _checked(password: str) -> bytes:
    if not isinstance(password, str):
        raise ValidationError("a password must be a string")
    data = password.encode("utf-8")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(data) > MAX_PASSWORD:
        raise ValidationError(f"a password must be at most {MAX_PASSWORD} bytes")
    return data


def _scrypt(
    data: bytes, salt: bytes, *, n: int = _N, r: int = _R, p: int = _P, size: int = _KEY_BYTES
) -> bytes:
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, dklen=size, maxmem=_MAXMEM)


def hash_password(password: str) -> str:
    """The stored form of a password (see the module); refuses one too short or long."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(_checked(password), salt)
    return f"scrypt$n={_N},r={_R},p={_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant-time compare).

    With no stored hash (no password set, or no such user) the same scrypt work is done on
    a dummy, so that timing does not tell which emails exist.
    """
    data = password.encode("utf-8") if isinstance(password, str) else b""
    if stored is None or len(data) > MAX_PASSWORD:
        _scrypt(data[:MAX_PASSWORD], b"\0" * _SALT_BYTES)
        return False
    try:
        scheme, params, salt_text, key_text = stored.split("$")
        fields = dict(part.split("=", 1) for part in params.split(","))
        n, r, p = int(fields["n"]), int(fields["r"]), int(fields["p"])
        salt, key = base64.b64decode(salt_text), base64.b64decode(key_text)
    except (ValueError, KeyError) as exc:
        raise ValidationError("a stored password hash is malformed") from exc
    if scheme != "scrypt":
        raise ValidationError(f"unknown password hash scheme {scheme!r}")
    return hmac.compare_digest(_scrypt(data, salt, n=n, r=r, p=p, size=len(key)), key)


def new_token_secret() -> str:
    """A fresh API token secret: ``sat_`` and 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(secret: str) -> str:
    """What is stored of a token secret, and looked up to authenticate it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
