"""Rows an index-side worker has not seen yet: watermarks and the artifacts past them.

Text indexing, embedding and planner statistics all run behind the saves, never on the save
path. Each keeps a watermark in ``search_watermarks``: the newest artifact row (by rowid)
it has dealt with. This module reads and moves watermarks, and reads the artifacts recorded
after one, with the inline content of text artifacts, for every such worker alike.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection, func, select

from satchel.index.query import ROWID
from satchel.index.rows import artifact_from_row
from satchel.index.schema import artifact_files, artifacts, inline_blobs, search_watermarks
from satchel.models import Artifact, ArtifactFile

__all__ = [
    "MAX_CONTENT",
    "TEXT_MIMES",
    "artifacts_after",
    "decode_content",
    "forget_watermark",
    "inline_texts",
    "is_text",
    "newest_position",
    "set_watermark",
    "watermark",
]

#: Characters of a text artifact's content that are read for indexing.
MAX_CONTENT: Final = 16 * 1024
TEXT_MIMES: Final = (
    "text/",
    "application/json",
    "application/jsonl",
    "application/x-ndjson",
    "application/yaml",
    "application/toml",
    "application/xml",
)


def newest_position(conn: Connection) -> int:
    """The position (rowid) of the newest artifact row, 0 when there is none."""
    return int(conn.execute(select(func.max(ROWID)).select_from(artifacts)).scalar() or 0)


def watermark(conn: Connection, name: str) -> int:
    """How far the worker ``name`` has come (0: not started)."""
    row = conn.execute(
        select(search_watermarks.c.position).where(search_watermarks.c.name == name)
    ).first()
    return 0 if row is None else int(row[0])


def set_watermark(conn: Connection, name: str, position: int) -> None:
    """Record ``position`` for the worker ``name`` (inside a write transaction)."""
    forget_watermark(conn, name)
    conn.execute(search_watermarks.insert().values(name=name, position=position))


def forget_watermark(conn: Connection, name: str) -> None:
    """Start the worker ``name`` over from the first row."""
    conn.execute(search_watermarks.delete().where(search_watermarks.c.name == name))


def artifacts_after(
    conn: Connection, position: int, limit: int
) -> list[tuple[int, Artifact, str | None]]:
    """Up to ``limit`` artifacts recorded after ``position``, oldest first.

    Returns:
        ``(position, artifact, content)`` each, where ``content`` is the text of a
        single-file text artifact kept inline (see ``inline_texts``), else None.
    """
    rows = conn.execute(
        select(ROWID.label("pos"), artifacts).where(position < ROWID).order_by(ROWID).limit(limit)
    ).all()
    if not rows:
        return []
    ids = [row.artifact_id for row in rows]
    files: dict[str, list[ArtifactFile]] = {i: [] for i in ids}
    for f in conn.execute(
        select(artifact_files)
        .where(artifact_files.c.artifact_id.in_(ids))
        .order_by(artifact_files.c.artifact_id, artifact_files.c.path)
    ):
        files[f.artifact_id].append(
            ArtifactFile(path=f.path, sha256=f.sha256, bytes=f.bytes, mime=f.mime)
        )
    found = [artifact_from_row(row, files[row.artifact_id]) for row in rows]
    texts = inline_texts(conn, found)
    return [(int(row.pos), a, texts.get(a.artifact_id)) for row, a in zip(rows, found, strict=True)]


def is_text(mime: str | None) -> bool:
    """Whether content of this MIME type is indexed as text."""
    return bool(mime) and any(str(mime).startswith(prefix) for prefix in TEXT_MIMES)


def decode_content(data: bytes) -> str:
    """Searchable text of a file's bytes (first ``MAX_CONTENT`` characters)."""
    return data[: MAX_CONTENT * 4].decode("utf-8", "replace")[:MAX_CONTENT]


def inline_texts(conn: Connection, found: list[Artifact]) -> dict[str, str]:
    """Content of text and JSON artifacts whose single file is kept inline, by artifact id."""
    wanted: dict[str, list[str]] = {}
    for a in found:
        if not a.is_dir and len(a.files) == 1 and is_text(a.mime):
            wanted.setdefault(a.files[0].sha256, []).append(a.artifact_id)
    if not wanted:
        return {}
    out: dict[str, str] = {}
    rows = conn.execute(
        select(inline_blobs.c.sha256, inline_blobs.c.data).where(
            inline_blobs.c.sha256.in_(list(wanted))
        )
    )
    for sha, data in rows:
        text = decode_content(bytes(data))
        for artifact_id in wanted[sha]:
            out[artifact_id] = text
    return out
