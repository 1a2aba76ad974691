"""Every file row of the index, a page at a time, for ``fsck`` and ``gc``."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, and_, or_, select

from satchel.index.base import FileRow
from satchel.index.schema import artifact_files, artifacts
from satchel.models import ArtifactStatus, FileStatus

__all__ = ["file_rows"]


def file_rows(conn: Connection, *, after: tuple[str, str] | None, limit: int) -> list[FileRow]:
    """Up to ``limit`` file rows (of artifacts of any status) after ``after``, by
    ``(artifact_id, path)``: keyset paging on the table's primary key."""
    f = artifact_files.c
    stmt = (
        select(
            f.artifact_id,
            f.path,
            f.sha256,
            f.bytes,
            f.status,
            f.inline,
            artifacts.c.status.label("artifact_status"),
            artifacts.c.updated_at,
        )
        .join(artifacts, artifacts.c.artifact_id == f.artifact_id)
        .order_by(f.artifact_id, f.path)
        .limit(limit)
    )
    if after is not None:
        aid, path = after
        stmt = stmt.where(or_(f.artifact_id > aid, and_(f.artifact_id == aid, f.path > path)))
    return [
        FileRow(
            artifact_id=row.artifact_id,
            artifact_status=cast(ArtifactStatus, row.artifact_status),
            artifact_updated_at=row.updated_at,
            path=row.path,
            sha256=row.sha256,
            bytes=int(row.bytes),
            status=cast(FileStatus, row.status),
            inline=bool(row.inline),
        )
        for row in conn.execute(stmt)
    ]
