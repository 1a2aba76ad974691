"""The server's settings: the store's ``Settings`` plus what only the server needs.

Read once, like ``Settings``: explicit arguments, then ``SATCHEL_*`` environment, then
defaults. The signing secret comes from ``SATCHEL_SECRET``, else from a file made once in
``SATCHEL_HOME`` (``server-secret``, mode 0600), so that every server process sharing the
configuration accepts the links the others sign.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from satchel.config import Settings
from satchel.errors import ConfigError, StorageError

__all__ = ["SECRET_FILE", "ServerSettings", "load_secret", "upload_dir_of"]

KIB: Final = 1024
MIB: Final = 1024 * KIB
SECRET_FILE: Final = "server-secret"  # noqa: S105 - a file name
_MIN_SECRET: Final = 16

#: name -> (environment variable, default, minimum, maximum)
_NUMBERS: Final[dict[str, tuple[str, int, int, int]]] = {
    "link_default_expiry": ("SATCHEL_LINK_DEFAULT_EXPIRY", 24 * 3600, 1, 10 * 365 * 86400),
    "link_max_expiry": ("SATCHEL_LINK_MAX_EXPIRY", 7 * 86400, 1, 10 * 365 * 86400),
    "portal_link_expiry": ("SATCHEL_PORTAL_LINK_EXPIRY", 3600, 60, 10 * 365 * 86400),
    "login_ttl": ("SATCHEL_LOGIN_TTL", 24 * 3600, 60, 10 * 365 * 86400),
    "login_failures": ("SATCHEL_LOGIN_FAILURES", 10, 1, 1_000_000),
    "login_window": ("SATCHEL_LOGIN_WINDOW", 15 * 60, 1, 86400),
    "content_max": ("SATCHEL_CONTENT_MAX", 1 * MIB, 0, 64 * MIB),
    "body_max": ("SATCHEL_BODY_MAX", 16 * MIB, 64 * KIB, 1024 * MIB),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """Everything the server is configured with.

    Attributes:
        store: the store's settings (``SATCHEL_HOME``, ``SATCHEL_STORE``, ``SATCHEL_INDEX``...).
        secret: the key that signs links (``SATCHEL_SECRET``, else the ``server-secret`` file
            in ``SATCHEL_HOME``, created on first use).
        upload_dir: where uploads in progress are staged (``SATCHEL_UPLOAD_DIR``, default
            ``<SATCHEL_HOME>/uploads``); server processes that share uploads share it.
        public_url: the base URL links are made with (``SATCHEL_PUBLIC_URL``, default: the
            URL each request came to).
        link_default_expiry: seconds a signed link lives when not told (24 h).
        link_max_expiry: the longest a signed link may live (``SATCHEL_LINK_MAX_EXPIRY``, 7 days).
        portal_link_expiry: seconds the links the portal's pages show live
            (``SATCHEL_PORTAL_LINK_EXPIRY``, 1 h; at most ``link_max_expiry``).
        login_ttl: seconds a login token lives (``SATCHEL_LOGIN_TTL``, 24 h).
        login_failures: failed logins of one email, or from one client address, after
            which its logins are refused for a while (``SATCHEL_LOGIN_FAILURES``, 10).
        login_window: the seconds those failures are counted over
            (``SATCHEL_LOGIN_WINDOW``, 15 minutes).
        content_max: the most bytes one file may send inline as ``content`` (1 MiB).
        body_max: the most bytes of one JSON request body (``SATCHEL_BODY_MAX``, 16 MiB).
    """

    store: Settings
    secret: bytes
    upload_dir: Path
    public_url: str | None = None
    link_default_expiry: int = 24 * 3600
    link_max_expiry: int = 7 * 86400
    portal_link_expiry: int = 3600
    login_ttl: int = 24 * 3600
    login_failures: int = 10
    login_window: int = 15 * 60
    content_max: int = 1 * MIB
    body_max: int = 16 * MIB

    @property
    def portal_link_lifetime(self) -> int:
        """Seconds the portal's links live: ``portal_link_expiry``, capped by the longest."""
        return min(self.portal_link_expiry, self.link_max_expiry)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        store: Settings | None = None,
        **overrides: Any,
    ) -> ServerSettings:
        """Settings from ``overrides`` (None ignored), then the environment, then defaults."""
        env = os.environ if environ is None else environ
        base = store if store is not None else Settings.load(env)
        known = {"secret", "upload_dir", "public_url", *_NUMBERS}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown server settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, (var, default, low, high) in _NUMBERS.items():
            raw = overrides.get(name)
            if raw is None:
                raw = env.get(var) or default
            try:
                number = int(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{var} must be an integer: {raw!r}") from exc
            if not low <= number <= high:
                raise ConfigError(f"{var} must be from {low} to {high}: {number}")
            values[name] = number
        if values["link_default_expiry"] > values["link_max_expiry"]:
            raise ConfigError("SATCHEL_LINK_DEFAULT_EXPIRY is longer than SATCHEL_LINK_MAX_EXPIRY")
        public = overrides.get("public_url") or env.get("SATCHEL_PUBLIC_URL") or None
        if public is not None:
            public = str(public).rstrip("/")
            if not public.startswith(("http://", "https://")):
                raise ConfigError(f"SATCHEL_PUBLIC_URL must be an http(s) URL: {public!r}")
        upload = overrides.get("upload_dir")
        secret = overrides.get("secret")
        if secret is None:
            secret = load_secret(env, base.home)
        elif isinstance(secret, str):
            secret = secret.encode("utf-8")
        if len(secret) < _MIN_SECRET:
            raise ConfigError(f"the signing secret must have at least {_MIN_SECRET} bytes")
        return cls(
            store=base,
            secret=bytes(secret),
            upload_dir=Path(upload).expanduser() if upload else upload_dir_of(env, base.home),
            public_url=public,
            **values,
        )


def load_secret(environ: Mapping[str, str], home: Path) -> bytes:
    """``SATCHEL_SECRET``, else the secret file in ``home``, made once (mode 0600).

    The file is written under a temporary name and hard-linked into place, so two servers
    starting at once on an empty home agree on one secret.
    """
    given = environ.get("SATCHEL_SECRET")
    if given:
        if len(given.encode("utf-8")) < _MIN_SECRET:
            raise ConfigError(f"SATCHEL_SECRET must have at least {_MIN_SECRET} bytes")
        return given.encode("utf-8")
    path = home / SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    try:
        home.mkdir(parents=True, exist_ok=True)
        temp = home / f".{SECRET_FILE}.{secrets.token_hex(8)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return _read_secret(path)
    except OSError as exc:
        raise StorageError(f"cannot create the signing secret {path}: {exc}", exc.errno) from exc


def _read_secret(path: Path) -> bytes:
    data = path.read_bytes().strip()
    if len(data) < _MIN_SECRET:
        raise ConfigError(f"the secret file {path} holds fewer than {_MIN_SECRET} bytes")
    return data


def upload_dir_of(env: Mapping[str, str], home: Path) -> Path:
    """Where a server stages uploads in progress: ``SATCHEL_UPLOAD_DIR``, else ``uploads/``
    in the store's home (``satchel gc`` sweeps it too)."""
    configured = env.get("SATCHEL_UPLOAD_DIR")
    return Path(configured).expanduser() if configured else home / "uploads"
