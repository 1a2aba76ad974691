"""The capture journal: what a ``satchel run`` saw and uploaded, in a local SQLite file.

One journal per run, ``<SATCHEL_HOME>/capture/<run_id>.journal``, next to a lock file that
the live ``satchel run`` holds (``flock``): a journal whose lock is free belongs to a
``satchel run`` that died, and ``satchel run --resume`` (or the next start) finishes it.

Rows of ``files`` are versions of one path: ``closed`` (seen closed by every writer and
stable, with the size, mtime and inode seen then), ``uploading`` (a save was started), then
``uploaded`` (the save returned; ``artifact_id`` and ``sha256`` recorded). WAL with
``synchronous=NORMAL``: a row survives the death of the process that wrote it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from satchel.errors import BusyError, NotFoundError, StorageError

__all__ = ["FileRow", "Journal", "Stamp", "journal_dir", "orphans"]

SUFFIX: Final = ".journal"
FileState = Literal["closed", "uploading", "uploaded"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS preexisting (path TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL,
    version INTEGER NOT NULL,
    root TEXT NOT NULL,
    rel TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    state TEXT NOT NULL,
    artifact_id TEXT,
    sha256 TEXT,
    PRIMARY KEY (path, version)
);
"""


@dataclass(frozen=True, slots=True)
class Stamp:
    """What identifies one content of a file without reading it."""

    size: int
    mtime_ns: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRow:
    """One version of one captured path."""

    path: str
    version: int
    root: str
    rel: str
    stamp: Stamp
    state: FileState
    artifact_id: str | None = None
    sha256: str | None = None


def journal_dir(home: Path) -> Path:
    """Where the journals of ``home`` live."""
    return home / "capture"


def _lock(path: Path, *, wait: bool) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def orphans(home: Path) -> list[str]:
    """Run ids of journals whose ``satchel run`` is gone (their lock is free)."""
    found = []
    directory = journal_dir(home)
    if not directory.is_dir():
        return []
    for entry in sorted(directory.glob(f"*{SUFFIX}")):
        run_id = entry.name[: -len(SUFFIX)]
        fd = _lock(directory / f"{run_id}.lock", wait=False)
        if fd is not None:
            os.close(fd)
            found.append(run_id)
    return found


class Journal:
    """The journal of one run, held (locked) by this process while it is open."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd = lock_fd
        self._mutex = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open(cls, home: Path, run_id: str, *, create: bool) -> Journal:
        """Open (``create``: make) the journal of ``run_id`` and take its lock.

        Raises:
            NotFoundError: no journal for ``run_id`` and ``create`` is False.
            BusyError: another live ``satchel run`` holds it.
        """
        directory = journal_dir(home)
        path = directory / f"{run_id}{SUFFIX}"
        try:
            if not create and not path.exists():
                raise NotFoundError(f"no capture journal for run {run_id!r} in {directory}")
            directory.mkdir(parents=True, exist_ok=True)
            fd = _lock(directory / f"{run_id}.lock", wait=False)
        except OSError as exc:
            if isinstance(exc, NotFoundError):
                raise
            raise StorageError(f"cannot open the capture journal {path}: {exc}", exc.errno) from exc
        if fd is None:
            raise BusyError(f"run {run_id!r} is being captured by another satchel run")
        return cls(path, fd)

    def close(self, *, remove: bool = False) -> None:
        """Release the journal; ``remove`` deletes it (the run is finished)."""
        with self._mutex:
            self._db.close()
        if remove:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.path}{suffix}")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path.with_suffix(".lock"))
        os.close(self._lock_fd)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------

    def set_meta(self, **values: Any) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def meta(self) -> dict[str, Any]:
        with self._mutex:
            rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        return {k: json.loads(v) for k, v in rows}

    # -- files that existed before the run ---------------------------------------------

    def add_preexisting(self, paths: Iterator[str]) -> int:
        count = 0
        batch: list[tuple[str]] = []
        for path in paths:
            batch.append((path,))
            if len(batch) >= 5000:
                count += self._insert_pre(batch)
                batch = []
        return count + self._insert_pre(batch)

    def _insert_pre(self, batch: list[tuple[str]]) -> int:
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO preexisting VALUES (?)", batch)
        return len(batch)

    def preexisting(self, path: str) -> bool:
        with self._mutex:
            row = self._db.execute("SELECT 1 FROM preexisting WHERE path = ?", (path,)).fetchone()
        return row is not None

    # -- versions -----------------------------------------------------------------------

    def latest(self, path: str) -> FileRow | None:
        with self._mutex:
            row = self._db.execute(
                "SELECT * FROM files WHERE path = ? ORDER BY version DESC LIMIT 1", (path,)
            ).fetchone()
        return None if row is None else _row(row)

    def closed(self, path: str, root: str, rel: str, stamp: Stamp) -> FileRow | None:
        """Record ``path`` seen closed and stable at ``stamp``.

        Returns the version to upload, or None when nothing is new: that content is
        already stored or being stored.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM files WHERE path = ? ORDER BY version DESC LIMIT 1", (path,)
            ).fetchone()
            last = None if row is None else _row(row)
            if last is not None and last.stamp == stamp:
                return last if last.state == "closed" else None
            if last is not None and last.state == "uploading":
                return None  # the uploader sees the change and hands the row back
            if last is not None and last.state == "closed":
                db.execute(
                    "UPDATE files SET size = ?, mtime_ns = ?, ino = ? "
                    "WHERE path = ? AND version = ?",
                    (stamp.size, stamp.mtime_ns, stamp.ino, path, last.version),
                )
                version = last.version
            else:
                version = 1 if last is None else last.version + 1
                db.execute(
                    "INSERT INTO files (path, version, root, rel, size, mtime_ns, ino, state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'closed')",
                    (path, version, root, rel, stamp.size, stamp.mtime_ns, stamp.ino),
                )
        return FileRow(path=path, version=version, root=root, rel=rel, stamp=stamp, state="closed")

    def set_state(
        self,
        row: FileRow,
        state: FileState,
        *,
        artifact_id: str | None = None,
        sha256: str | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = ?, artifact_id = ?, sha256 = ? "
                "WHERE path = ? AND version = ?",
                (state, artifact_id, sha256, row.path, row.version),
            )

    def unfinished(self) -> list[FileRow]:
        """Versions not yet uploaded, oldest first."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT * FROM files WHERE state != 'uploaded' ORDER BY path, version"
            ).fetchall()
        return [_row(r) for r in rows]

    def uploaded(self) -> list[FileRow]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT * FROM files WHERE state = 'uploaded' ORDER BY path, version"
            ).fetchall()
        return [_row(r) for r in rows]


def _row(row: tuple[Any, ...]) -> FileRow:
    path, version, root, rel, size, mtime_ns, ino, state, artifact_id, sha256 = row
    return FileRow(
        path=path,
        version=version,
        root=root,
        rel=rel,
        stamp=Stamp(size, mtime_ns, ino),
        state=state,
        artifact_id=artifact_id,
        sha256=sha256,
    )
