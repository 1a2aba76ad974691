"""Where a command works: the embedded store, or a satchel server with a token.

``--server URL`` (else ``SATCHEL_SERVER``, else a ``SATCHEL_STORE`` that is an ``http(s)``
URL) names a server; its token is ``--token``, else ``SATCHEL_TOKEN``, else the one
``satchel login`` saved for that server in the credentials file. Without a server, a
command opens the embedded store of ``--store`` / ``--index`` (``SATCHEL_STORE``, else
``SATCHEL_HOME``, else ``~/.satchel``), as ``satchel.Context`` does.

The credentials file is ``SATCHEL_CREDENTIALS``, else ``$XDG_CONFIG_HOME/satchel/
credentials.json``, else ``~/.config/satchel/credentials.json``: a JSON object from server
URL to token, written atomically with mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from satchel.connect import is_remote
from satchel.errors import AuthenticationError, ConfigError, StorageError

__all__ = [
    "Target",
    "credentials_path",
    "forget_token",
    "load_token",
    "resolve",
    "save_token",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A server and its token, or an embedded store (``server`` None)."""

    server: str | None = None
    token: str | None = None
    store: str | None = None
    index: str | None = None

    @property
    def remote(self) -> bool:
        return self.server is not None

    def context(self, **fields: Any) -> Any:
        """A ``satchel.Context`` on this target with the given context fields."""
        import satchel  # noqa: PLC0415 - the composition root, only when a command needs it

        if self.server is not None:
            return satchel.Context(store=self.server, token=self.token, **fields)
        return satchel.Context(store=self.store, index=self.index, **fields)


def _normal(url: str) -> str:
    return url.rstrip("/")


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    """The file ``satchel login`` keeps tokens in."""
    env = os.environ if environ is None else environ
    given = env.get("SATCHEL_CREDENTIALS")
    if given:
        return Path(given).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "satchel" / "credentials.json"


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the credentials file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"the credentials file {path} is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def _write(path: Path, data: Mapping[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(dict(sorted(data.items())), out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise StorageError(f"cannot write the credentials file {path}: {exc}", exc.errno) from exc


def load_token(server: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The token ``satchel login`` saved for ``server``, if any."""
    return _read(credentials_path(environ)).get(_normal(server))


def save_token(server: str, token: str, environ: Mapping[str, str] | None = None) -> Path:
    """Keep ``token`` for ``server`` (replacing any other); returns the file's path."""
    path = credentials_path(environ)
    data = _read(path)
    data[_normal(server)] = token
    _write(path, data)
    return path


def forget_token(server: str, environ: Mapping[str, str] | None = None) -> bool:
    """Drop the saved token of ``server``; False when there was none."""
    path = credentials_path(environ)
    data = _read(path)
    if data.pop(_normal(server), None) is None:
        return False
    _write(path, data)
    return True


def resolve(
    *,
    server: str | None = None,
    token: str | None = None,
    store: str | None = None,
    index: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """The target the options and the environment name.

    Raises:
        ConfigError: a server named together with ``--store``/``--index``, or a server
            URL that is not ``http(s)``.
        AuthenticationError: a server without any token.
    """
    env = os.environ if environ is None else environ
    named = server or env.get("SATCHEL_SERVER") or None
    if named is None and is_remote(store or env.get("SATCHEL_STORE")):
        named = store or env.get("SATCHEL_STORE")
        store = None
    if named is None:
        return Target(store=store, index=index)
    if not is_remote(named):
        raise ConfigError(f"--server must be an http:// or https:// URL: {named!r}")
    if store is not None or index is not None:
        raise ConfigError("--store and --index name an embedded store; not with --server")
    url = _normal(named)
    secret = token or env.get("SATCHEL_TOKEN") or load_token(url, env)
    if not secret:
        raise AuthenticationError(
            f"no token for {url}: run `satchel login --server {url}` or set SATCHEL_TOKEN"
        )
    return Target(server=url, token=secret)
