"""Stored vectors for semantic search, on the SQL side: no model, no NumPy here.

The index keeps one vector per artifact and embedding model in ``artifact_vectors`` as an
opaque blob (``satchel.search.semantic`` packs and scores them). Which artifacts still need
a vector is tracked like the text indexes: a ``search_watermarks`` row per model holds the
last artifact row (by rowid) that has been embedded. Embedding runs outside any write
transaction; storing inserts-or-ignores, so two processes that embed the same rows at once
both succeed and one set of vectors stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import Connection, Insert, func, select

from satchel.index.pending import artifacts_after, forget_watermark, set_watermark, watermark
from satchel.index.positions import VECTOR_POSITION, claim, hold
from satchel.index.schema import (
    artifact_vectors,
    artifacts,
    search_watermarks,
)
from satchel.models import Artifact

__all__ = [
    "MAX_TEXT",
    "pending_documents",
    "read_vectors",
    "reset_vectors",
    "semantic_text",
    "store_vectors",
    "vector_state",
    "watermark_name",
]

#: Characters of content embedded (the model reads 256 tokens, about 1,000 characters).
MAX_TEXT: Final = 2000
_VECTOR_ROWID = VECTOR_POSITION


def watermark_name(model: str) -> str:
    """The ``search_watermarks`` row of one embedding model."""
    return f"semantic:{model}"


def semantic_text(artifact: Artifact, content: str | None) -> str:
    """The text an artifact's vector is made from: what it is first, then its content.

    Ids and digests are left out (they carry no meaning for a language model); names and
    label values keep their separators as spaces so the model sees words.
    """
    parts: list[str] = []
    if artifact.name:
        parts.append(artifact.name.replace("_", " ").replace("-", " "))
    if artifact.kind:
        parts.append(artifact.kind)
    if artifact.tags:
        parts.append(" ".join(artifact.tags))
    parts.extend(f"{key} {value}" for key, value in artifact.labels.items())
    if artifact.metrics:
        parts.append(" ".join(artifact.metrics))
    parts.extend(f.path for f in artifact.files[:20] if f.path != artifact.name)
    if content:
        parts.append(content[:MAX_TEXT])
    return ". ".join(p for p in parts if p)


def pending_documents(
    conn: Connection, model: str, limit: int
) -> tuple[list[tuple[str, str]], int]:
    """Up to ``limit`` artifacts past ``model``'s watermark, with the text to embed.

    Returns:
        ``[(artifact_id, text), ...]`` oldest first, and the position to record once their
        vectors are stored (the watermark itself when nothing is pending).
    """
    position = watermark(conn, watermark_name(model))
    found = artifacts_after(conn, position, limit)
    if not found:
        return [], position
    return [(a.artifact_id, semantic_text(a, content)) for _, a, content in found], found[-1][0]


def store_vectors(
    conn: Connection,
    model: str,
    vectors: Sequence[tuple[str, bytes]],
    position: int,
    *,
    insert_ignore: Insert,
) -> None:
    """Store vectors (inside a write transaction) and move the watermark up to ``position``.

    ``insert_ignore`` is the dialect's insert-or-ignore into ``artifact_vectors``: rows
    another process stored first are kept, and the watermark only ever moves forward.
    """
    name = watermark_name(model)
    # PostgreSQL: one mover of this model's watermark at a time (it only moves forward), and
    # vector positions drawn in commit order (``positions``). SQLite's write lock does both.
    hold(conn, name)
    claim(conn)
    if vectors:
        # Only artifacts still there: one deleted while it was embedded has no row to
        # refer to. Those found are locked (PostgreSQL ``FOR KEY SHARE``) until the commit,
        # so a delete waits for these vectors and then takes them along.
        wanted = [a for a, _ in vectors]
        kept = set(
            conn.execute(
                select(artifacts.c.artifact_id)
                .where(artifacts.c.artifact_id.in_(wanted))
                .with_for_update(key_share=True)
            ).scalars()
        )
        rows = [{"artifact_id": a, "model": model, "vector": v} for a, v in vectors if a in kept]
        if rows:
            conn.execute(insert_ignore, rows)
    if position > watermark(conn, name):
        set_watermark(conn, name, position)


def vector_state(conn: Connection, model: str) -> tuple[int, int]:
    """How many vectors ``model`` has, and the newest one's row position (0 for none)."""
    row = conn.execute(
        select(func.count(), func.max(_VECTOR_ROWID)).where(artifact_vectors.c.model == model)
    ).one()
    return int(row[0]), int(row[1] or 0)


def read_vectors(
    conn: Connection, model: str, after: int, limit: int
) -> list[tuple[int, str, bytes]]:
    """Vectors of ``model`` stored after row position ``after``, oldest first."""
    rows = conn.execute(
        select(_VECTOR_ROWID, artifact_vectors.c.artifact_id, artifact_vectors.c.vector)
        .where(artifact_vectors.c.model == model, after < _VECTOR_ROWID)
        .order_by(_VECTOR_ROWID)
        .limit(limit)
    )
    return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]


def reset_vectors(conn: Connection, model: str | None) -> None:
    """Forget the vectors of ``model`` (every model for None); catch-up embeds them again."""
    if model is None:
        conn.execute(artifact_vectors.delete())
        conn.execute(search_watermarks.delete().where(search_watermarks.c.name.like("semantic:%")))
        return
    conn.execute(artifact_vectors.delete().where(artifact_vectors.c.model == model))
    forget_watermark(conn, watermark_name(model))
