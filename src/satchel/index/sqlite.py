"""The SQLite index: WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` for every write.

WAL lets readers run beside the one writer; ``synchronous=FULL`` makes each commit survive
power loss (P2); taking the write lock at ``BEGIN`` (not at the first write) means a
transaction never has to upgrade a read lock, which is where "database is locked" comes
from; the busy timeout makes writers from many processes queue instead of failing (P5).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, Insert, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from satchel.errors import IndexBackendError
from satchel.index.collect import FileCollectionLock
from satchel.index.rawwrite import RawWriter
from satchel.index.sql import SqlIndex

__all__ = ["BUSY_TIMEOUT_S", "open_sqlite_index"]

BUSY_TIMEOUT_S: Final = 120.0
MMAP_BYTES: Final = 1 << 31


def _insert_ignore(table: Table) -> Insert:
    return sqlite_insert(table).on_conflict_do_nothing()


def _write_ahead(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL, waiting out other connections doing the same.

    Changing the journal mode needs the file to itself, and SQLite answers "database is
    locked" at once rather than through the busy timeout: threads or processes opening a
    fresh index together would fail. They retry here, within ``BUSY_TIMEOUT_S``.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _engine(path: Path) -> Engine:
    engine = create_engine(
        f"sqlite+pysqlite:///{path}",
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        pool_size=8,
        # The connection used last is the one handed out next: each connection warms its
        # own memory map (page faults) and statement cache, so a single-threaded caller
        # keeps one warm connection instead of cycling through eight cold ones. At a
        # million artifacts this took the p95 of the first 100 ranked searches of a
        # process from 42-48 ms to 21-29 ms (bench/README.md).
        pool_use_lifo=True,
        max_overflow=64,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, with the mode we choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        _write_ahead(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Read pages through a memory map (SQLite caps it, 2 GiB here) rather than a read()
        # call each: a ranking walk or a text search touches thousands of scattered pages.
        cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def open_sqlite_index(path: str | Path, *, migrate: bool = True) -> SqlIndex:
    """Open (creating and, unless ``migrate`` is False, migrating) the SQLite index at ``path``."""
    path = Path(path).expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexBackendError(f"cannot create the index directory {path.parent}: {exc}") from exc
    engine = _engine(path)
    return SqlIndex(
        engine,
        url=f"sqlite:///{path}",
        insert_ignore=_insert_ignore,
        write_options={"sqlite_begin": "IMMEDIATE"},
        raw_writer=RawWriter(
            engine,
            begin_sql="BEGIN IMMEDIATE",
            placeholder=lambda c: f":{c}",
            errors=(sqlite3.Error,),
        ),
        collection_lock=FileCollectionLock(path.with_name(path.name + ".collect.lock")),
        lexical="satchel.index.fts",
        statistics=True,
        migrate=migrate,
    )
