"""Statements and locks for collecting blobs while saves run (``satchel gc``, deletes).

A save may find its blob already stored (deduplication) and commit a reference to it a
moment later. A collection must never remove such a blob underneath it. The protocol:

* The collector holds the **collection lock** exclusively while it collects: a session
  advisory lock on PostgreSQL, an ``flock`` on a file beside a SQLite database; both go
  with the process if it dies.
* In one write transaction (serialised with saves: SQLite's write lock, the PostgreSQL
  positions lock every save takes), it keeps the candidate digests no file row references
  and records them in ``blob_deletions``. It commits, and only then removes the blobs.
* A save checks ``blob_deletions`` for the digests it references, in its own commit
  transaction. None there (the common case: one indexed probe of a nearly empty table):
  it commits. Otherwise it rolls back, takes the collection lock *shared* (so no removal
  is under way), looks whether each blob is still stored, and commits again with those
  rows ``confirmed`` (deleting them), or fails with ``BlobCollectedError``.

Rows stay in ``blob_deletions`` for the grace period, and at least a week
(``gc.DELETIONS_KEPT``): longer than a save takes from finding its blob to committing.
``gc`` purges older ones.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Final, Protocol

from sqlalchemy import Connection, Engine, and_, exists, select, text

from satchel.errors import IndexBackendError
from satchel.index.schema import artifact_files, artifacts, blob_deletions, inline_blobs, runs

__all__ = [
    "CHUNK",
    "CollectionLock",
    "FileCollectionLock",
    "PgCollectionLock",
    "deletable",
    "doom",
    "file_sizes",
    "purge",
    "referenced_page",
    "stale_pending",
]

#: Digests per statement.
CHUNK: Final = 500


class CollectionLock(Protocol):
    """Held exclusively by a collector, shared by a save checking a collected blob."""

    def hold(self, *, shared: bool) -> AbstractContextManager[None]: ...


class FileCollectionLock:
    """``flock`` on a file beside the SQLite database (released if the process dies).

    Each ``hold`` opens the file anew: flock locks belong to an open file description,
    so two threads of one process exclude each other too.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    @contextmanager
    def hold(self, *, shared: bool) -> Iterator[None]:
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise IndexBackendError(f"cannot open the collection lock {self._path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


_PG_LOCK: Final = (
    "SELECT pg_advisory_lock{mode}(hashtext(current_schema()), hashtext('satchel:collection'))"
)
_PG_UNLOCK: Final = (
    "SELECT pg_advisory_unlock{mode}(hashtext(current_schema()), hashtext('satchel:collection'))"
)


class PgCollectionLock:
    """A session advisory lock per schema, on a connection held while it is held."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def hold(self, *, shared: bool) -> Iterator[None]:
        mode = "_shared" if shared else ""
        with self._engine.connect() as conn:
            conn.execute(text(_PG_LOCK.format(mode=mode)))
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text(_PG_UNLOCK.format(mode=mode)))
                conn.commit()


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def doom(conn: Connection, candidates: Sequence[str], *, deleted_at: str) -> list[str]:
    """Of ``candidates``, those no file row references, recorded in ``blob_deletions``
    (inside the collector's write transaction); their inline copies go too."""
    wanted = sorted(set(candidates))
    referenced: set[str] = set()
    for chunk in _chunks(wanted):
        referenced.update(
            conn.execute(
                select(artifact_files.c.sha256).where(artifact_files.c.sha256.in_(chunk))
            ).scalars()
        )
    doomed = [d for d in wanted if d not in referenced]
    for chunk in _chunks(doomed):
        conn.execute(blob_deletions.delete().where(blob_deletions.c.sha256.in_(chunk)))
        conn.execute(
            blob_deletions.insert(), [{"sha256": d, "deleted_at": deleted_at} for d in chunk]
        )
        conn.execute(inline_blobs.delete().where(inline_blobs.c.sha256.in_(chunk)))
    return doomed


def purge(conn: Connection, *, before: str) -> int:
    """Forget deletions recorded before ``before``; returns how many."""
    result = conn.execute(blob_deletions.delete().where(blob_deletions.c.deleted_at < before))
    return int(result.rowcount or 0)


def referenced_page(conn: Connection, *, after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` distinct digests file rows reference, in order, after ``after``."""
    sha = artifact_files.c.sha256
    stmt = select(sha).distinct().order_by(sha).limit(limit)
    if after is not None:
        stmt = stmt.where(sha > after)
    return [str(d) for d in conn.execute(stmt).scalars()]


def stale_pending(conn: Connection, *, before: str) -> list[str]:
    """Pending artifacts (unfinished uploads) last updated before ``before``, oldest first,
    except those of a run still running (its uploads may yet finish)."""
    a = artifacts.c
    running = exists().where(and_(runs.c.run_id == a.run_id, runs.c.status == "running"))
    stmt = (
        select(a.artifact_id)
        .where(a.status == "pending", a.updated_at < before, ~running)
        .order_by(a.updated_at, a.artifact_id)
    )
    return [str(i) for i in conn.execute(stmt).scalars()]


def deletable(conn: Connection, artifact_ids: Sequence[str], *, keep_pinned: bool) -> list[str]:
    """Those of ``artifact_ids`` that exist (with ``keep_pinned``: and are neither pinned
    nor of a run still running), in the order given."""
    a = artifacts.c
    found: set[str] = set()
    for chunk in _chunks(artifact_ids):
        stmt = select(a.artifact_id).where(a.artifact_id.in_(chunk))
        if keep_pinned:
            running = exists().where(and_(runs.c.run_id == a.run_id, runs.c.status == "running"))
            stmt = stmt.where(a.pinned.is_(False), ~running)
        found.update(str(i) for i in conn.execute(stmt).scalars())
    return [i for i in artifact_ids if i in found]


def file_sizes(conn: Connection, artifact_ids: Sequence[str]) -> dict[str, int]:
    """The digest and size of every file of these artifacts."""
    f = artifact_files.c
    sizes: dict[str, int] = {}
    for chunk in _chunks(artifact_ids):
        for sha256, size in conn.execute(select(f.sha256, f.bytes).where(f.artifact_id.in_(chunk))):
            sizes[str(sha256)] = int(size)
    return sizes
