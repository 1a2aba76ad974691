"""The index over SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Dialect differences (engine setup, how a write transaction begins, insert-or-ignore) come
from the backend module that builds the engine; everything else is here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence, Set
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Row,
    Table,
    column,
    exists,
    or_,
    select,
    text,
    update,
    values,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from satchel.errors import IndexBackendError, NotFoundError
from satchel.index import collect, pending, positions, scan, vectors
from satchel.index import retention as retention_sql
from satchel.index.base import (
    ArtifactQuery,
    ArtifactWrite,
    FileRow,
    QueryPosition,
    Reader,
    RetentionRow,
    RunQuery,
)
from satchel.index.delete import (
    Forget,
    delete_artifacts,
    delete_runs,
    refuse_running,
    run_family,
    runs_select,
)
from satchel.index.drive import DRIVEN_MAX, Drive, choose, driven_sort, unranked_drive
from satchel.index.kinds import distinct_kinds, reader_kinds
from satchel.index.query import (
    FIRST_WALK,
    build_select,
    filter_conditions,
    is_ranked,
    next_walk,
    ranking_edge,
    readable,
    walks_ranking,
)
from satchel.index.rawwrite import RawWriter
from satchel.index.rows import (
    artifact_from_row,
    rows_for_writes,
    run_from_row,
    run_row,
    storable,
)
from satchel.index.schema import (
    ID,
    SCHEMA_HEAD,
    artifact_files,
    artifact_vectors,
    artifacts,
    inline_blobs,
    occurrences,
    runs,
)
from satchel.index.usage import usage_report
from satchel.models import (
    Artifact,
    ArtifactFile,
    Occurrence,
    Run,
    RunStatus,
    format_time,
    parse_time,
)
from satchel.retention import RetentionPolicy
from satchel.usage import UsageReport

__all__ = ["CHEAP_WALK", "SqlIndex", "TextIndex"]

#: A walk this short goes ahead without weighing it against a sort (``drive.choose``).
CHEAP_WALK: Final = 3000

InsertIgnore = Callable[[Table], Insert]


class TextIndex(Protocol):
    """A dialect's text search module (``fts`` on SQLite, ``pg_text`` on PostgreSQL)."""

    CATCH_UP_ROWS: int

    def is_behind(self, conn: Connection) -> bool: ...

    def catch_up(self, conn: Connection, *, max_rows: int | None = None) -> int: ...

    def reset(self, conn: Connection) -> None: ...

    def lexical_ids(
        self, conn: Connection, text: str, query: ArtifactQuery, limit: int
    ) -> list[str]: ...

    def forget(self, conn: Connection, artifact_ids: Sequence[str]) -> None: ...


class SqlIndex:
    """An ``Index`` over a SQLAlchemy engine built by a backend module."""

    def __init__(
        self,
        engine: Engine,
        *,
        url: str,
        insert_ignore: InsertIgnore,
        write_options: dict[str, Any],
        raw_writer: RawWriter,
        collection_lock: collect.CollectionLock,
        lexical: str | None = None,
        statistics: bool = False,
        migrate: bool = True,
        driven_max: int = DRIVEN_MAX,
    ) -> None:
        self._engine = engine
        #: Up to how many artifacts a newest-first search goes filter-first (``drive``):
        #: where reading them beats the dialect's own plan.
        self._driven_max = driven_max
        self._url = url
        self._insert_ignore = insert_ignore
        self._write_options = write_options
        self._raw = raw_writer
        self._collection_lock = collection_lock
        #: The text search module's name, imported at the first text search.
        self._lexical = lexical
        self._statistics = statistics
        if not migrate:  # ``satchel db status`` looks before it leaps
            return
        try:
            self.upgrade()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return self._url

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- schema -------------------------------------------------------------------------

    def current_revision(self) -> str | None:
        """The schema revision recorded in the database (None for an empty database)."""
        with self._read() as conn:
            try:
                row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            except DBAPIError:
                return None
            return None if row is None else str(row[0])

    @property
    def head_revision(self) -> str:
        """The newest schema revision this satchel knows."""
        return SCHEMA_HEAD

    def upgrade(self) -> None:
        """Bring the schema to the newest revision (skipped when it is there already)."""
        if self.current_revision() == SCHEMA_HEAD:
            return
        from alembic import command  # noqa: PLC0415 - Alembic only when a migration runs
        from alembic.config import Config  # noqa: PLC0415
        from alembic.util import CommandError  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self._write() as conn:
                # One migrator at a time (PostgreSQL; SQLite's write lock does it already):
                # the others then find the schema at head and do nothing.
                positions.hold(conn, "migrations", database=True)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise IndexBackendError(f"migrating the index at {self._url} failed: {exc}") from exc
        except CommandError as exc:  # e.g. a revision unknown here: a newer satchel wrote it
            raise IndexBackendError(
                f"the index at {self._url} has a schema this satchel does not know "
                f"(written by a newer version?): {exc}"
            ) from exc

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise IndexBackendError(f"index read failed: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as raw:
                conn = raw.execution_options(**self._write_options)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise IndexBackendError(f"index write failed: {exc}") from exc

    def read_connection(self) -> AbstractContextManager[Connection]:
        """A connection for reading this database (``satchel.tenancy`` shares it); a
        database error inside becomes ``IndexBackendError``."""
        return self._read()

    def write_transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction as the index's own (SQLite: ``BEGIN IMMEDIATE``), committed
        when the block ends, rolled back when it raises."""
        return self._write()

    # -- writes -------------------------------------------------------------------------

    def commit_writes(
        self, writes: Sequence[ArtifactWrite], *, confirmed: Set[str] = frozenset()
    ) -> None:
        # The hot path: precompiled INSERTs on one DBAPI connection. SQLAlchemy's
        # per-statement overhead was more than the durable commit itself.
        guard = [
            f.sha256
            for w in writes
            for f in w.artifact.files
            if f.status == "completed" and f.sha256 not in w.inline_blobs
        ]
        self._raw.write(rows_for_writes(writes), guard=guard, confirmed=confirmed)

    def set_pinned(self, artifact_id: str, pinned: bool, *, updated_at: str) -> bool:
        if not storable(artifact_id):
            return False
        with self._write() as conn:
            result = conn.execute(
                update(artifacts)
                .where(artifacts.c.artifact_id == artifact_id, artifacts.c.status == "completed")
                .values(pinned=pinned, updated_at=updated_at)
            )
            return bool(result.rowcount)

    def ensure_run(self, run: Run) -> None:
        with self._write() as conn:
            conn.execute(self._insert_ignore(runs), [run_row(run)])

    def set_run_status(self, run_id: str, status: RunStatus, *, ended_at: str | None) -> bool:
        if not storable(run_id):
            return False
        with self._write() as conn:
            result = conn.execute(
                update(runs).where(runs.c.run_id == run_id).values(status=status, ended_at=ended_at)
            )
            return bool(result.rowcount)

    def add_occurrences(self, items: Sequence[Occurrence]) -> None:
        if not items:
            return
        with self._write() as conn:
            conn.execute(
                occurrences.insert(),
                [
                    {
                        "artifact_id": o.artifact_id,
                        "run_id": o.run_id,
                        "node_id": o.node_id,
                        "event": o.event,
                        "at": format_time(o.at),
                    }
                    for o in items
                ],
            )

    # -- reads --------------------------------------------------------------------------

    def _files_of(self, conn: Connection, ids: list[str]) -> dict[str, list[ArtifactFile]]:
        found: dict[str, list[ArtifactFile]] = {aid: [] for aid in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                select(artifact_files)
                .where(artifact_files.c.artifact_id.in_(chunk))
                .order_by(artifact_files.c.artifact_id, artifact_files.c.path)
            )
            for row in rows:
                found[row.artifact_id].append(
                    ArtifactFile(
                        path=row.path,
                        sha256=row.sha256,
                        bytes=row.bytes,
                        mime=row.mime,
                        status=row.status,
                    )
                )
        return found

    def get(self, artifact_id: str, *, reader: Reader | None = None) -> Artifact | None:
        # Every lookup by a caller-given key: ``storable`` (PostgreSQL refuses U+0000).
        if not storable(artifact_id):
            return None
        conditions = [artifacts.c.artifact_id == artifact_id, artifacts.c.status == "completed"]
        if reader is not None:
            conditions.append(readable(reader))
        with self._read() as conn:
            row = conn.execute(select(artifacts).where(*conditions)).first()
            if row is None:
                return None
            return artifact_from_row(row, self._files_of(conn, [artifact_id])[artifact_id])

    def _keep_statistics(self) -> None:
        """Refresh the planner's statistics when the table has doubled (see ``stats``)."""
        if not self._statistics:
            return
        from satchel.index.stats import analyze, is_stale  # noqa: PLC0415

        with self._read() as conn:
            stale = is_stale(conn)
        if stale:
            with self._write() as conn:
                if is_stale(conn):  # another process may have done it meanwhile
                    analyze(conn)

    def _rows(self, conn: Connection, query: ArtifactQuery) -> list[Row[Any]]:
        """A query's artifact rows; a ranked one walks its ranking first (``walks_ranking``).

        Each walk reads the ranking up to its ``walk``-th row past the last one; the rows
        the filters pass there come first in the order, so the pieces only concatenate.
        """
        if query.limit is None or not walks_ranking(query):
            newest = None if is_ranked(query) else unranked_drive(conn, query, self._driven_max)
            if newest is None:
                return list(conn.execute(build_select(query)).all())
            driven = build_select(query, drivers=newest.drivers, driven=newest.ids)
            return list(conn.execute(driven).all())
        rows: list[Row[Any]] = []
        start = query
        walk: int | None = FIRST_WALK
        drive: Drive | None = None
        read = 0
        while walk is not None:
            edge = conn.execute(ranking_edge(start, walk)).first()
            until = (
                None
                if edge is None
                else QueryPosition(
                    metric_value=edge.value,
                    created_at=edge.created_at,
                    artifact_id=edge.artifact_id,
                )
            )
            part = replace(start, limit=query.limit - len(rows))
            rows.extend(conn.execute(build_select(part, until=until)).all())
            if len(rows) >= query.limit or until is None:  # a full page, or the whole ranking
                return rows
            read += walk
            start = replace(start, after=until)
            missing = query.limit - len(rows)
            walk = next_walk(read, len(rows), missing)
            if drive is None and (walk is None or walk > CHEAP_WALK):
                # Only a long walk is weighed against sorting: counting costs a few ms.
                drive = choose(conn, query)
            if drive is not None:
                walk = next_walk(read, len(rows), missing, drive.rows)
        part = replace(start, limit=query.limit - len(rows))
        if drive is None or not drive.drivers:
            rows.extend(conn.execute(build_select(part, sort=True)).all())
        else:
            rows.extend(driven_sort(conn, part, drive))
        return rows

    def query(self, query: ArtifactQuery) -> list[Artifact]:
        self._keep_statistics()
        with self._read() as conn:
            rows = self._rows(conn, query)
            files = self._files_of(conn, [row.artifact_id for row in rows])
            return [artifact_from_row(row, files[row.artifact_id]) for row in rows]

    def _in_order(
        self, conn: Connection, ids: list[str], reader: Reader | None = None
    ) -> list[Artifact]:
        if not ids:
            return []
        rows: dict[str, Any] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conditions = [artifacts.c.artifact_id.in_(chunk), artifacts.c.status == "completed"]
            if reader is not None:
                conditions.append(readable(reader))
            rows.update(
                (row.artifact_id, row) for row in conn.execute(select(artifacts).where(*conditions))
            )
        files = self._files_of(conn, [i for i in ids if i in rows])
        return [artifact_from_row(rows[i], files[i]) for i in ids if i in rows]

    def kinds(self, limit: int, *, reader: Reader | None = None) -> list[str]:
        with self._read() as conn:
            if reader is None:
                return distinct_kinds(conn, limit)
            return reader_kinds(conn, reader, limit)

    def _text_index(self) -> TextIndex:
        if self._lexical is None:
            raise IndexBackendError(f"the index at {self._url} has no text search")
        return cast(TextIndex, importlib.import_module(self._lexical))

    def lexical(self, text: str, query: ArtifactQuery, limit: int) -> list[Artifact]:
        fts = self._text_index()
        self._keep_statistics()
        with self._read() as conn:
            behind = fts.is_behind(conn)
        while behind:
            # Short transactions: writers from other processes interleave with a long
            # catch-up instead of waiting for all of it (and timing out).
            with self._write() as conn:
                behind = fts.catch_up(conn, max_rows=fts.CATCH_UP_ROWS) > 0 and fts.is_behind(conn)
        with self._read() as conn:
            return self._in_order(conn, fts.lexical_ids(conn, text, query, limit), query.reader)

    def reindex(self) -> int:
        fts = self._text_index()
        with self._write() as conn:
            fts.reset(conn)
            done = fts.catch_up(conn, max_rows=fts.CATCH_UP_ROWS)
        while True:
            with self._write() as conn:
                more = fts.catch_up(conn, max_rows=fts.CATCH_UP_ROWS)
            if not more:
                return done
            done += more

    def newest_position(self) -> int:
        with self._read() as conn:
            return pending.newest_position(conn)

    # -- vectors (the VectorStore ability) ----------------------------------------------

    def pending_documents(self, model: str, limit: int) -> tuple[list[tuple[str, str]], int]:
        with self._read() as conn:
            return vectors.pending_documents(conn, model, limit)

    def store_vectors(
        self, model: str, vectors_: Sequence[tuple[str, bytes]], position: int
    ) -> None:
        with self._write() as conn:
            vectors.store_vectors(
                conn,
                model,
                vectors_,
                position,
                insert_ignore=self._insert_ignore(artifact_vectors),
            )

    def vector_state(self, model: str) -> tuple[int, int]:
        with self._read() as conn:
            return vectors.vector_state(conn, model)

    def read_vectors(self, model: str, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        with self._read() as conn:
            return vectors.read_vectors(conn, model, after, limit)

    def reset_vectors(self, model: str | None = None) -> None:
        with self._write() as conn:
            vectors.reset_vectors(conn, model)

    def matching_ids(self, query: ArtifactQuery, among: Sequence[str] | None = None) -> list[str]:
        conditions = filter_conditions(query)
        with self._read() as conn:
            if among is None:
                found = conn.execute(select(artifacts.c.artifact_id).where(*conditions))
                return [str(i) for i in found.scalars()]
            keep: set[str] = set()
            for start in range(0, len(among), 500):
                # One primary-key probe per candidate: as a correlated EXISTS, the planner
                # sees one row per id, where ``artifact_id IN (...)`` next to a scope
                # equality made it walk the whole scope index instead.
                candidates = (
                    values(column("cid", ID), name="candidate_rows")
                    .data([(i,) for i in among[start : start + 500]])
                    .cte("candidates")
                )
                keep.update(
                    conn.execute(
                        select(candidates.c.cid).where(
                            exists().where(artifacts.c.artifact_id == candidates.c.cid, *conditions)
                        )
                    ).scalars()
                )
        return [i for i in among if i in keep]

    def get_many(self, ids: Sequence[str], *, reader: Reader | None = None) -> list[Artifact]:
        with self._read() as conn:
            return self._in_order(conn, [i for i in ids if storable(i)], reader)

    def inline_blob(self, sha256: str) -> bytes | None:
        if not storable(sha256):
            return None
        with self._read() as conn:
            row = conn.execute(
                select(inline_blobs.c.data).where(inline_blobs.c.sha256 == sha256)
            ).first()
            return None if row is None else bytes(row[0])

    def blob_referenced(self, sha256: str) -> bool:
        if not storable(sha256):
            return False
        with self._read() as conn:
            row = conn.execute(
                select(artifact_files.c.artifact_id)
                .where(artifact_files.c.sha256 == sha256)
                .limit(1)
            ).first()
            return row is not None

    def file_rows(self, *, after: tuple[str, str] | None, limit: int) -> list[FileRow]:
        with self._read() as conn:
            return scan.file_rows(conn, after=after, limit=limit)

    def usage(self, *, org_id: str | None = None) -> UsageReport:
        if org_id is not None and not storable(org_id):
            return UsageReport()
        with self._read() as conn:
            return usage_report(conn, org_id=org_id)

    def get_run(self, run_id: str) -> Run | None:
        if not storable(run_id):
            return None
        with self._read() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
        return None if row is None else run_from_row(row)

    def list_runs(self, query: RunQuery) -> list[Run]:
        with self._read() as conn:
            return [run_from_row(row) for row in conn.execute(runs_select(query))]

    # -- deletes ------------------------------------------------------------------------

    def delete_artifact(self, artifact_id: str) -> list[str]:
        if not storable(artifact_id):
            raise NotFoundError(f"no artifact with id {artifact_id!r}")
        with self._write() as conn:
            row = conn.execute(
                select(artifacts.c.run_id).where(artifacts.c.artifact_id == artifact_id)
            ).first()
            if row is None:
                raise NotFoundError(f"no artifact with id {artifact_id!r}")
            if row.run_id is not None:
                refuse_running(conn, [row.run_id], what=f"artifact {artifact_id!r}")
            return delete_artifacts(conn, [artifact_id], self._forget())

    def delete_run(self, run_id: str) -> list[str]:
        if not storable(run_id):
            raise NotFoundError(f"no run with id {run_id!r}")
        with self._write() as conn:
            family = run_family(conn, run_id)
            if not family:
                raise NotFoundError(f"no run with id {run_id!r}")
            refuse_running(conn, family, what=f"run {run_id!r}")
            return delete_runs(conn, family, self._forget())

    # -- collection (``satchel.index.collect``) -------------------------------------------

    def collection_lock(self, *, shared: bool) -> AbstractContextManager[None]:
        return self._collection_lock.hold(shared=shared)

    def doom_blobs(self, candidates: Sequence[str], *, deleted_at: str) -> list[str]:
        with self._write() as conn:
            positions.claim(conn)  # PostgreSQL: one at a time with saves, as SQLite does
            return collect.doom(conn, candidates, deleted_at=deleted_at)

    def purge_blob_deletions(self, *, before: str) -> int:
        with self._write() as conn:
            return collect.purge(conn, before=before)

    def referenced_digests(self, *, page: int = 10_000) -> Iterator[str]:
        after: str | None = None
        while True:
            with self._read() as conn:
                digests = collect.referenced_page(conn, after=after, limit=page)
            yield from digests
            if len(digests) < page:
                return
            after = digests[-1]

    def stale_pending(self, *, before: str) -> list[str]:
        with self._read() as conn:
            return collect.stale_pending(conn, before=before)

    def delete_artifacts(
        self, artifact_ids: Sequence[str], *, keep_pinned: bool = False
    ) -> tuple[list[str], dict[str, int]]:
        ids = [i for i in artifact_ids if storable(i)]
        with self._write() as conn:
            ids = collect.deletable(conn, ids, keep_pinned=keep_pinned)
            sizes = collect.file_sizes(conn, ids)
            orphans = delete_artifacts(conn, ids, self._forget())
            return ids, {d: sizes[d] for d in orphans}

    # -- retention policies (the RetentionPolicies ability: ``index.retention``) --------

    def add_policy(self, policy: RetentionPolicy) -> None:
        with self._write() as conn:
            retention_sql.insert_policy(conn, policy)

    def list_policies(self, *, org_id: str | None = None) -> list[RetentionPolicy]:
        with self._read() as conn:
            return retention_sql.list_policies(conn, org_id)

    def get_policy(self, policy_id: str) -> RetentionPolicy | None:
        with self._read() as conn:
            return retention_sql.get_policy(conn, policy_id)

    def delete_policy(self, policy_id: str) -> bool:
        with self._write() as conn:
            return retention_sql.delete_policy(conn, policy_id)

    def retention_rows(self, policy: RetentionPolicy) -> list[RetentionRow]:
        with self._read() as conn:
            return retention_sql.retention_rows(conn, policy)

    def _forget(self) -> Forget | None:
        return None if self._lexical is None else self._text_index().forget

    def occurrences(self, artifact_id: str, *, reader: Reader | None = None) -> list[Occurrence]:
        if not storable(artifact_id):
            return []
        with self._read() as conn:
            made = conn.execute(
                select(
                    artifacts.c.run_id,
                    artifacts.c.node_id,
                    artifacts.c.created_at,
                    artifacts.c.org_id,
                ).where(artifacts.c.artifact_id == artifact_id)
            ).first()
            conditions = [occurrences.c.artifact_id == artifact_id]
            if reader is not None:
                conditions.append(
                    _uses_seen_by(reader, ours=made is not None and made.org_id == reader.org_id)
                )
            rows = conn.execute(
                select(occurrences)
                .where(*conditions)
                .order_by(occurrences.c.at, occurrences.c.occurrence_id)
            ).all()
        # "produced" is the artifact row itself; only uses are recorded separately.
        found = []
        if made is not None:
            found.append(
                Occurrence(
                    artifact_id=artifact_id,
                    run_id=made.run_id,
                    node_id=made.node_id,
                    event="produced",
                    at=parse_time(made.created_at),
                )
            )
        found.extend(
            Occurrence(
                artifact_id=r.artifact_id,
                run_id=r.run_id,
                node_id=r.node_id,
                event=r.event,
                at=parse_time(r.at),
            )
            for r in rows
        )
        return found

    def close(self) -> None:
        self._raw.close()
        self._engine.dispose()


def _uses_seen_by(reader: Reader, *, ours: bool) -> ColumnElement[bool]:
    """The recorded uses ``reader`` may see: by runs of its org or its own.

    Run ids are global, and another organisation's runs are not the reader's to know (a
    run of theirs that used a shared artifact names their experiment). A use by a run the
    index does not hold (recorded before runs were kept) is the artifact's org's.
    """
    same_run = runs.c.run_id == occurrences.c.run_id
    visible = exists().where(
        same_run, or_(runs.c.org_id == reader.org_id, runs.c.user_id == reader.user_id)
    )
    if not ours:
        return visible
    return or_(visible, ~exists().where(same_run), occurrences.c.run_id.is_(None))
