"""Batched inserts on one DBAPI connection, with SQL generated once per table.

Used for the save path only, where SQLAlchemy's per-statement overhead (pool checkout,
events, compile cache) cost more than the durable commit. The SQL is generated from the same
``Table`` objects as everything else; the backend module supplies its dialect's way to begin
a write transaction and its parameter marker.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence, Set
from typing import Any

from sqlalchemy import Engine, Table

from satchel import _faults
from satchel.errors import BlobCollectedError, IndexBackendError
from satchel.index.rows import BatchRows

__all__ = ["RawWriter"]

#: Digests per statement of the deletion check.
_CHUNK = 500


class RawWriter:
    """Runs a batch of inserts as one transaction on a dedicated connection."""

    def __init__(
        self,
        engine: Engine,
        *,
        begin_sql: str,
        placeholder: Callable[[str], str],
        errors: tuple[type[Exception], ...],
    ) -> None:
        self._engine = engine
        self._begin_sql = begin_sql
        self._placeholder = placeholder
        self._errors = errors
        self._sql: dict[tuple[str, tuple[str, ...], bool], str] = {}
        self._conn: Any = None
        self._lock = threading.Lock()

    def _statement(self, table: Table, columns: tuple[str, ...], ignore: bool) -> str:
        key = (table.name, columns, ignore)
        sql = self._sql.get(key)
        if sql is None:
            quoted = ", ".join(f'"{c}"' for c in columns)
            values = ", ".join(self._placeholder(c) for c in columns)
            sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({values})'  # noqa: S608 - names from the schema, values bound
            if ignore:
                sql += " ON CONFLICT DO NOTHING"
            self._sql[key] = sql
        return sql

    def write(
        self, batch: BatchRows, *, guard: Sequence[str] = (), confirmed: Set[str] = frozenset()
    ) -> None:
        """Insert every row of ``batch`` in one transaction; all or nothing.

        ``guard``: the digests of stored blobs the rows reference. When a collection
        recorded one of them as deleted (``satchel.index.collect``), nothing is committed
        and ``BlobCollectedError`` names them, unless ``confirmed`` holds them: the caller
        found them stored again, and their records go.
        """
        with self._lock:
            if self._conn is None:
                self._conn = self._engine.raw_connection()
            conn = self._conn
            cursor = conn.cursor()
            try:
                cursor.execute(self._begin_sql)
                for table, ignore, rows in batch:
                    if rows:
                        columns = tuple(rows[0])
                        cursor.executemany(self._statement(table, columns, ignore), rows)
                if guard:
                    self._check_deletions(cursor, guard, confirmed)
                _faults.point("index.before_commit")
                cursor.execute("COMMIT")
            except self._errors as exc:
                self._abandon(cursor)
                raise IndexBackendError(f"index write failed: {exc}") from exc
            except BaseException:
                self._abandon(cursor)
                raise
            finally:
                # After a failed ROLLBACK the connection is gone already (``_abandon``):
                # closing its cursor fails too, and must not hide the error above.
                with contextlib.suppress(*self._errors):
                    cursor.close()
        _faults.point("index.committed")

    def _check_deletions(self, cursor: Any, guard: Sequence[str], confirmed: Set[str]) -> None:
        wanted = sorted(set(guard))
        found: list[str] = []
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            params = {f"d{n}": d for n, d in enumerate(chunk)}
            marks = ", ".join(self._placeholder(name) for name in params)
            cursor.execute(
                f'SELECT sha256 FROM "blob_deletions" WHERE sha256 IN ({marks})',  # noqa: S608 - values bound
                params,
            )
            found.extend(str(row[0]) for row in cursor.fetchall())
        if not found:
            return
        unconfirmed = tuple(d for d in found if d not in confirmed)
        if unconfirmed:
            raise BlobCollectedError(
                f"blob {unconfirmed[0]} was collected while this save was in flight",
                digests=unconfirmed,
            )
        params = {f"d{n}": d for n, d in enumerate(found)}
        marks = ", ".join(self._placeholder(name) for name in params)
        cursor.execute(f'DELETE FROM "blob_deletions" WHERE sha256 IN ({marks})', params)  # noqa: S608

    def _abandon(self, cursor: Any) -> None:
        try:
            cursor.execute("ROLLBACK")
        except self._errors:
            # The connection is unusable; drop it and open a fresh one next time.
            self.close_locked()

    def close_locked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
            finally:
                self._conn = None

    def close(self) -> None:
        """Return the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
