"""The index over SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Dialect differences (engine setup, how a write transaction begins, insert-or-ignore) come
from the backend module that builds the engine; everything else is here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, select, text, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from satchel.errors import IndexBackendError
from satchel.index.base import ArtifactQuery, ArtifactWrite
from satchel.index.query import build_select, label_row
from satchel.index.schema import (
    SCHEMA_HEAD,
    artifact_files,
    artifact_labels,
    artifact_metrics,
    artifact_tags,
    artifacts,
    inline_blobs,
    occurrences,
    runs,
)
from satchel.models import (
    Artifact,
    ArtifactFile,
    Occurrence,
    Run,
    RunStatus,
    format_time,
    parse_time,
)

__all__ = ["SqlIndex"]

InsertIgnore = Callable[[Table], Insert]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _artifact_row(artifact: Artifact) -> dict[str, Any]:
    assert artifact.created_at is not None
    assert artifact.updated_at is not None
    return {
        "artifact_id": artifact.artifact_id,
        "name": artifact.name,
        "kind": artifact.kind,
        "status": artifact.status,
        "run_id": artifact.run_id,
        "graph_id": artifact.graph_id,
        "node_id": artifact.node_id,
        "tool_name": artifact.tool_name,
        "tool_version": artifact.tool_version,
        "model_id": artifact.model_id,
        "model_version": artifact.model_version,
        "sha256": artifact.sha256,
        "bytes": artifact.bytes,
        "mime": artifact.mime,
        "created_at": format_time(artifact.created_at),
        "updated_at": format_time(artifact.updated_at),
        "tags": _dumps(artifact.tags),
        "labels": _dumps(artifact.labels),
        "metrics": _dumps(artifact.metrics),
        "pinned": artifact.pinned,
        "uri": artifact.uri,
        "preview_uri": artifact.preview_uri,
        "org_id": artifact.org_id,
        "user_id": artifact.user_id,
        "client_id": artifact.client_id,
        "app_id": artifact.app_id,
        "session_id": artifact.session_id,
    }


def _artifact_from_row(row: Any, files: list[ArtifactFile]) -> Artifact:
    data = row._mapping
    return Artifact(
        artifact_id=data["artifact_id"],
        name=data["name"],
        kind=data["kind"],
        status=data["status"],
        run_id=data["run_id"],
        graph_id=data["graph_id"],
        node_id=data["node_id"],
        tool_name=data["tool_name"],
        tool_version=data["tool_version"],
        model_id=data["model_id"],
        model_version=data["model_version"],
        sha256=data["sha256"],
        bytes=data["bytes"],
        mime=data["mime"],
        created_at=parse_time(data["created_at"]),
        updated_at=parse_time(data["updated_at"]),
        tags=json.loads(data["tags"]),
        labels=json.loads(data["labels"]),
        metrics=json.loads(data["metrics"]),
        pinned=bool(data["pinned"]),
        uri=data["uri"],
        preview_uri=data["preview_uri"],
        org_id=data["org_id"],
        user_id=data["user_id"],
        client_id=data["client_id"],
        app_id=data["app_id"],
        session_id=data["session_id"],
        files=files,
    )


def _run_row(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "name": run.name,
        "parent_run_id": run.parent_run_id,
        "org_id": run.org_id,
        "user_id": run.user_id,
        "session_id": run.session_id,
        "status": run.status,
        "started_at": format_time(run.started_at) if run.started_at else None,
        "ended_at": format_time(run.ended_at) if run.ended_at else None,
    }


class SqlIndex:
    """An ``Index`` over a SQLAlchemy engine built by a backend module."""

    def __init__(
        self,
        engine: Engine,
        *,
        url: str,
        insert_ignore: InsertIgnore,
        write_options: dict[str, Any],
    ) -> None:
        self._engine = engine
        self._url = url
        self._insert_ignore = insert_ignore
        self._write_options = write_options
        self.upgrade()

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

    def upgrade(self) -> None:
        """Bring the schema to the newest revision (skipped when it is there already)."""
        if self.current_revision() == SCHEMA_HEAD:
            return
        from alembic import command  # noqa: PLC0415 - Alembic only when a migration runs
        from alembic.config import Config  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self._write() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise IndexBackendError(f"migrating the index at {self._url} failed: {exc}") from exc

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

    # -- writes -------------------------------------------------------------------------

    def commit_writes(self, writes: Sequence[ArtifactWrite]) -> None:
        from satchel import _faults  # noqa: PLC0415

        artifact_rows: list[dict[str, Any]] = []
        file_rows: list[dict[str, Any]] = []
        label_rows: list[dict[str, Any]] = []
        metric_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        blob_rows: dict[str, dict[str, Any]] = {}
        run_rows: dict[str, dict[str, Any]] = {}
        occurrence_rows: list[dict[str, Any]] = []
        for write in writes:
            artifact = write.artifact
            aid = artifact.artifact_id
            artifact_rows.append(_artifact_row(artifact))
            file_rows.extend(
                {
                    "artifact_id": aid,
                    "path": f.path,
                    "sha256": f.sha256,
                    "bytes": f.bytes,
                    "mime": f.mime,
                    "status": f.status,
                    "inline": f.sha256 in write.inline_blobs,
                }
                for f in artifact.files
            )
            label_rows.extend(label_row(aid, k, v) for k, v in artifact.labels.items())
            metric_rows.extend(
                {"artifact_id": aid, "name": k, "value": float(v)}
                for k, v in artifact.metrics.items()
            )
            tag_rows.extend({"artifact_id": aid, "tag": t} for t in artifact.tags)
            for sha, data in write.inline_blobs.items():
                blob_rows[sha] = {"sha256": sha, "bytes": len(data), "data": data}
            if write.run is not None:
                run_rows[write.run.run_id] = _run_row(write.run)
            assert artifact.created_at is not None
            occurrence_rows.append(
                {
                    "artifact_id": aid,
                    "run_id": artifact.run_id,
                    "node_id": artifact.node_id,
                    "event": "produced",
                    "at": format_time(artifact.created_at),
                }
            )
        with self._write() as conn:
            if run_rows:
                conn.execute(self._insert_ignore(runs), list(run_rows.values()))
            if blob_rows:
                conn.execute(self._insert_ignore(inline_blobs), list(blob_rows.values()))
            conn.execute(artifacts.insert(), artifact_rows)
            for table, rows in (
                (artifact_files, file_rows),
                (artifact_labels, label_rows),
                (artifact_metrics, metric_rows),
                (artifact_tags, tag_rows),
                (occurrences, occurrence_rows),
            ):
                if rows:
                    conn.execute(table.insert(), rows)
            _faults.point("index.before_commit")
        _faults.point("index.committed")

    def set_pinned(self, artifact_id: str, pinned: bool, *, updated_at: str) -> bool:
        with self._write() as conn:
            result = conn.execute(
                update(artifacts)
                .where(artifacts.c.artifact_id == artifact_id, artifacts.c.status == "completed")
                .values(pinned=pinned, updated_at=updated_at)
            )
            return bool(result.rowcount)

    def ensure_run(self, run: Run) -> None:
        with self._write() as conn:
            conn.execute(self._insert_ignore(runs), [_run_row(run)])

    def set_run_status(self, run_id: str, status: RunStatus, *, ended_at: str | None) -> bool:
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

    def get(self, artifact_id: str) -> Artifact | None:
        with self._read() as conn:
            row = conn.execute(
                select(artifacts).where(
                    artifacts.c.artifact_id == artifact_id, artifacts.c.status == "completed"
                )
            ).first()
            if row is None:
                return None
            return _artifact_from_row(row, self._files_of(conn, [artifact_id])[artifact_id])

    def query(self, query: ArtifactQuery) -> list[Artifact]:
        with self._read() as conn:
            rows = conn.execute(build_select(query)).all()
            files = self._files_of(conn, [row.artifact_id for row in rows])
            return [_artifact_from_row(row, files[row.artifact_id]) for row in rows]

    def inline_blob(self, sha256: str) -> bytes | None:
        with self._read() as conn:
            row = conn.execute(
                select(inline_blobs.c.data).where(inline_blobs.c.sha256 == sha256)
            ).first()
            return None if row is None else bytes(row[0])

    def get_run(self, run_id: str) -> Run | None:
        with self._read() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
        if row is None:
            return None
        return Run(
            run_id=row.run_id,
            name=row.name,
            parent_run_id=row.parent_run_id,
            org_id=row.org_id,
            user_id=row.user_id,
            session_id=row.session_id,
            status=row.status,
            started_at=parse_time(row.started_at) if row.started_at else None,
            ended_at=parse_time(row.ended_at) if row.ended_at else None,
        )

    def occurrences(self, artifact_id: str) -> list[Occurrence]:
        with self._read() as conn:
            rows = conn.execute(
                select(occurrences)
                .where(occurrences.c.artifact_id == artifact_id)
                .order_by(occurrences.c.occurrence_id)
            ).all()
        return [
            Occurrence(
                artifact_id=r.artifact_id,
                run_id=r.run_id,
                node_id=r.node_id,
                event=r.event,
                at=parse_time(r.at),
            )
            for r in rows
        ]

    def close(self) -> None:
        self._engine.dispose()
