"""Deleting artifacts and runs, and listing runs: statements for ``SqlIndex``.

An artifact's rows go in one transaction: its text index rows (``forget`` of the
dialect's text module: FTS5 tables have no foreign keys), its lineage, then the artifact
row, whose foreign keys cascade to files, labels, metrics, tags, vectors and grants. The
digests its files referenced that no other file references any more are returned, and
their inline copies go with them, so that the caller removes the blobs *after* the commit:
a crash in between leaves an unreferenced blob for ``gc``, never a reference to a missing
one. Neither is allowed while the producing run is still ``running`` (seeds/001: a run's
artifacts are still being written).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Select, and_, or_, select

from satchel.errors import ConflictError, ValidationError
from satchel.index.base import RunQuery
from satchel.index.schema import artifact_files, artifacts, inline_blobs, occurrences, runs

__all__ = [
    "RUN_FILTERS",
    "Forget",
    "delete_artifacts",
    "delete_runs",
    "refuse_running",
    "run_family",
    "runs_select",
]

#: Removes artifacts' rows from a dialect's text index (``fts.forget``, ``pg_text.forget``).
Forget = Callable[[Connection, Sequence[str]], None]
#: Columns a run listing may compare for equality.
RUN_FILTERS: Final = frozenset({"org_id", "user_id", "session_id", "parent_run_id", "status"})
_CHUNK: Final = 500


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _where_in(conn: Connection, wanted: Any, column: Any, values: Sequence[str]) -> list[str]:
    """``wanted`` of the rows whose ``column`` is one of ``values`` (in chunks)."""
    found: list[str] = []
    for chunk in _chunks(values):
        found.extend(
            str(v) for v in conn.execute(select(wanted).where(column.in_(chunk))).scalars()
        )
    return found


def refuse_running(conn: Connection, run_ids: Sequence[str], *, what: str) -> None:
    """Raise ``ConflictError`` when one of ``run_ids`` is still running.

    The run rows are locked (PostgreSQL ``FOR SHARE``) until the delete commits, so that a
    run cannot be set running again underneath it; SQLite's write lock does that already.
    """
    for chunk in _chunks(run_ids):
        running = conn.execute(
            select(runs.c.run_id)
            .where(runs.c.run_id.in_(chunk), runs.c.status == "running")
            .with_for_update(read=True)
        ).first()
        if running is not None:
            raise ConflictError(f"cannot delete {what}: run {running.run_id!r} is still running")


def delete_artifacts(conn: Connection, ids: Sequence[str], forget: Forget | None) -> list[str]:
    """Delete artifacts by id (inside a write transaction); returns the digests they were
    the last to reference, sorted. ``forget``: the dialect's text index's, if any."""
    files = artifact_files.c
    digests = set(_where_in(conn, files.sha256, files.artifact_id, ids))
    for chunk in _chunks(ids):
        if forget is not None:
            forget(conn, chunk)
        conn.execute(occurrences.delete().where(occurrences.c.artifact_id.in_(chunk)))
        conn.execute(artifacts.delete().where(artifacts.c.artifact_id.in_(chunk)))
    wanted = sorted(digests)
    still = set(_where_in(conn, files.sha256, files.sha256, wanted))
    orphans = [d for d in wanted if d not in still]
    for chunk in _chunks(orphans):
        conn.execute(inline_blobs.delete().where(inline_blobs.c.sha256.in_(chunk)))
    return orphans


def run_family(conn: Connection, run_id: str) -> list[str]:
    """The run and its descendants (a Grid run's experiments), or [] when no such run."""
    if conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is None:
        return []
    family = [run_id]
    frontier = [run_id]
    while frontier:
        found = _where_in(conn, runs.c.run_id, runs.c.parent_run_id, frontier)
        children = [c for c in found if c not in family]
        family.extend(children)
        frontier = children
    return family


def delete_runs(conn: Connection, run_ids: Sequence[str], forget: Forget | None) -> list[str]:
    """Delete runs, every artifact they produced and their lineage events (inside a write
    transaction); returns the digests no artifact references any more."""
    ids = _where_in(conn, artifacts.c.artifact_id, artifacts.c.run_id, run_ids)
    orphans = delete_artifacts(conn, ids, forget)
    for chunk in _chunks(run_ids):
        conn.execute(occurrences.delete().where(occurrences.c.run_id.in_(chunk)))
        conn.execute(runs.delete().where(runs.c.run_id.in_(chunk)))
    return orphans


def runs_select(query: RunQuery) -> Select[Any]:
    """The runs a ``RunQuery`` asks for, newest started first (then by id)."""
    conditions: list[Any] = []
    for name, value in query.equals.items():
        if name not in RUN_FILTERS:
            raise ValidationError(f"cannot filter runs on {name!r}")
        column = runs.c[name]
        conditions.append(column.is_(None) if value is None else column == value)
    if query.reader is not None:
        conditions.append(
            or_(runs.c.user_id == query.reader.user_id, runs.c.org_id == query.reader.org_id)
        )
    if query.after is not None:
        pos = query.after
        conditions.append(
            or_(
                runs.c.started_at < pos.started_at,
                and_(runs.c.started_at == pos.started_at, runs.c.run_id < pos.run_id),
            )
        )
    statement = (
        select(runs).where(*conditions).order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
    )
    if query.limit is not None:
        if query.limit < 0:
            raise ValidationError(f"limit must not be negative, got {query.limit}")
        statement = statement.limit(query.limit)
    return statement
