"""Two-phase uploads in the index: pending artifacts, completing their files, dedup.

The server records an artifact with its file list first (``commit_writes`` with the
artifact and the files not yet received ``pending``), then completes files as their bytes
arrive and are verified. The file that completes the last pending one completes the
artifact in the same transaction, which is what makes it visible (DESIGN.md, invariant 1).
The artifact row is updated first in that transaction, so that two files completing at
once in two processes queue on its row lock and the second sees the first one's file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from sqlalchemy import ColumnElement, func, literal_column, select, update

from satchel.errors import ConfigError, NotFoundError
from satchel.index.base import Index
from satchel.index.rows import artifact_from_row
from satchel.index.schema import artifact_files, artifacts, inline_blobs
from satchel.index.sql import SqlIndex
from satchel.models import Artifact, ArtifactStatus

__all__ = ["SqlUploads", "uploads_of"]

_CHUNK: Final = 500
_PENDING: Final[ColumnElement[str]] = literal_column("'pending'")


class SqlUploads:
    """The ``UploadLedger`` of a ``SqlIndex`` (SQLite and PostgreSQL)."""

    def __init__(self, index: Index) -> None:
        if not isinstance(index, SqlIndex):
            raise ConfigError(f"the index at {index.url} keeps no uploads")
        self._index = index

    def get_any(self, artifact_id: str) -> Artifact | None:
        """One artifact whatever its status (pending ones too), or None."""
        with self._index.read_connection() as conn:
            row = conn.execute(
                select(artifacts).where(artifacts.c.artifact_id == artifact_id)
            ).first()
            if row is None:
                return None
            files = self._index._files_of(conn, [artifact_id])[artifact_id]
            return artifact_from_row(row, files)

    def pending_of(self, user_id: str, limit: int) -> list[Artifact]:
        """Up to ``limit`` of the user's pending artifacts, newest first.

        Read off the partial index ``ix_artifacts_pending``, which holds pending rows only:
        the status is written as a literal, which is what lets SQLite use a partial index.
        """
        with self._index.read_connection() as conn:
            rows = conn.execute(
                select(artifacts)
                .where(artifacts.c.user_id == user_id, artifacts.c.status == _PENDING)
                .order_by(artifacts.c.created_at.desc(), artifacts.c.artifact_id.desc())
                .limit(limit)
            ).all()
            files = self._index._files_of(conn, [row.artifact_id for row in rows])
            return [artifact_from_row(row, files[row.artifact_id]) for row in rows]

    def complete_files(
        self,
        artifact_id: str,
        paths: Sequence[str],
        *,
        inline: Mapping[str, bytes],
        updated_at: str,
    ) -> ArtifactStatus:
        """Mark files ``completed`` (their bytes durable, or in ``inline`` by digest).

        Returns the artifact's status after it: ``completed`` once no file is pending.

        Raises:
            NotFoundError: no such artifact.
        """
        with self._index.write_transaction() as conn:
            # Lock the artifact's row first: completions of its files take turns.
            locked = conn.execute(
                update(artifacts)
                .where(artifacts.c.artifact_id == artifact_id)
                .values(updated_at=updated_at)
            )
            if not locked.rowcount:
                raise NotFoundError(f"no artifact with id {artifact_id!r}")
            for sha, data in inline.items():
                present = conn.execute(
                    select(inline_blobs.c.sha256).where(inline_blobs.c.sha256 == sha)
                ).first()
                if present is None:
                    conn.execute(
                        inline_blobs.insert().values(sha256=sha, bytes=len(data), data=data)
                    )
            for start in range(0, len(paths), _CHUNK):
                chunk = list(paths[start : start + _CHUNK])
                conn.execute(
                    update(artifact_files)
                    .where(
                        artifact_files.c.artifact_id == artifact_id,
                        artifact_files.c.path.in_(chunk),
                    )
                    .values(status="completed")
                )
            if inline:
                conn.execute(
                    update(artifact_files)
                    .where(
                        artifact_files.c.artifact_id == artifact_id,
                        artifact_files.c.sha256.in_(list(inline)),
                    )
                    .values(inline=True)
                )
            pending = conn.execute(
                select(func.count())
                .select_from(artifact_files)
                .where(
                    artifact_files.c.artifact_id == artifact_id,
                    artifact_files.c.status == "pending",
                )
            ).scalar()
            if pending:
                return "pending"
            conn.execute(
                update(artifacts)
                .where(artifacts.c.artifact_id == artifact_id)
                .values(status="completed")
            )
            return "completed"

    def org_holds_blob(self, sha256: str, size: int, org_id: str) -> bool:
        """Whether a completed file of an artifact of ``org_id`` has these bytes.

        Dedup on upload asks this, not whether the store holds the blob at all: a digest
        alone must never give access to bytes (a revoked grantee still knows the digests
        it saw), and one org must not learn what another stores.
        """
        with self._index.read_connection() as conn:
            row = conn.execute(
                select(artifact_files.c.artifact_id)
                .join(artifacts, artifacts.c.artifact_id == artifact_files.c.artifact_id)
                .where(
                    artifact_files.c.sha256 == sha256,
                    artifact_files.c.bytes == size,
                    artifact_files.c.status == "completed",
                    artifacts.c.org_id == org_id,
                )
                .limit(1)
            ).first()
            return row is not None


def uploads_of(index: Index) -> SqlUploads:
    """The upload ledger kept in ``index``'s database.

    Raises:
        ConfigError: the index is not a SQL index.
    """
    return SqlUploads(index)
