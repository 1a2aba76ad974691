"""Choose an index by URL; backends are imported only when used."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from satchel.errors import ConfigError
from satchel.index.base import Index

__all__ = ["open_index"]


def open_index(url: str, *, migrate: bool = True) -> Index:
    """Open ``sqlite:///PATH`` or ``postgresql://user@host:port/db`` (the postgres extra).

    The schema is brought to the newest revision unless ``migrate`` is False (then the index
    is only for ``SchemaMigrations``: looking at the revision, or migrating explicitly).
    """
    parts = urlsplit(url)
    if parts.scheme in ("sqlite", "sqlite+pysqlite"):
        raw = unquote(url.split("://", 1)[1])
        if not raw.startswith("/") or raw[1:] in ("", ":memory:"):
            raise ConfigError(f"a SQLite index URL names a file (sqlite:////abs/x.db), not {url!r}")
        from satchel.index.sqlite import open_sqlite_index  # noqa: PLC0415

        return open_sqlite_index(Path(raw[1:]), migrate=migrate)
    if parts.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from satchel.index.postgres import open_postgres_index  # noqa: PLC0415

        return open_postgres_index(url, migrate=migrate)
    raise ConfigError(
        f"unsupported index URL {url!r}: use sqlite:///PATH or postgresql://user@host/db"
    )
