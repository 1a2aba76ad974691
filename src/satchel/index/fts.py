"""Lexical search on SQLite: two FTS5 indexes over one document per artifact.

``artifact_fts`` (unicode61 words, BM25) finds whole words; ``artifact_trigram`` (trigram
tokens) finds partial words and names with a typo, ranked by how many of the query's
trigrams an artifact shares. Both lists are fused by reciprocal rank. The FTS tables are
joined to ``artifacts`` in the same statement as every filter, so a filter is never lost.

The document holds the artifact's id, name, kind, tags, label keys and values, metric
names, file paths, run, model, and for text and JSON artifacts kept inline (up to
``SATCHEL_INLINE_MAX`` bytes) the first ``MAX_CONTENT`` characters of their content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnClause,
    Connection,
    MetaData,
    Table,
    Text,
    func,
    literal_column,
    select,
)
from sqlalchemy import text as sql_text

from satchel.index.base import ArtifactQuery
from satchel.index.query import filter_conditions
from satchel.index.rows import artifact_from_row
from satchel.index.schema import artifact_files, artifacts, inline_blobs, search_watermarks
from satchel.models import Artifact, ArtifactFile

__all__ = [
    "CATCH_UP_ROWS",
    "FTS_TABLES",
    "MAX_CONTENT",
    "artifact_fts",
    "artifact_trigram",
    "catch_up",
    "decode_content",
    "document",
    "fts_rows",
    "is_behind",
    "is_text",
    "lexical_ids",
    "reset",
    "trigram_match",
    "word_match",
]

MAX_CONTENT: Final = 16 * 1024
#: A match through trigrams alone needs this share of the query's trigrams (like pg_trgm's
#: similarity threshold): a name with one typo keeps about half of them.
MIN_SIMILARITY: Final = 0.5
RRF_K: Final = 60
_WORD = re.compile(r"\w+", re.UNICODE)

# Not in ``schema.metadata``: virtual tables that only the SQLite dialect has (migration 0002).
fts_metadata = MetaData()
artifact_fts = Table(
    "artifact_fts", fts_metadata, Column("artifact_id", Text), Column("body", Text)
)
artifact_trigram = Table(
    "artifact_trigram", fts_metadata, Column("artifact_id", Text), Column("body", Text)
)
FTS_TABLES: Final = (artifact_fts, artifact_trigram)


def document(artifact: Artifact, content: str | None = None) -> str:
    """The text an artifact is found by."""
    parts: list[str] = [artifact.artifact_id, artifact.name or "", artifact.kind or ""]
    parts.extend(artifact.tags)
    for key, value in artifact.labels.items():
        parts.append(f"{key} {value}")
    parts.extend(artifact.metrics)
    parts.extend(f.path for f in artifact.files)
    parts.extend(v for v in (artifact.run_id, artifact.model_id, artifact.model_version) if v)
    if content:
        parts.append(content[:MAX_CONTENT])
    return "\n".join(p for p in parts if p)


def _tokens(query: str) -> list[str]:
    return [t.lower() for t in _WORD.findall(query)]


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def word_match(query: str) -> str | None:
    """An FTS5 expression matching any word of ``query``, every term quoted (no syntax)."""
    terms = dict.fromkeys(_tokens(query))
    return " OR ".join(_quoted(t) for t in terms) or None


def _trigrams(query: str) -> list[str]:
    grams: dict[str, None] = {}
    for token in _tokens(query):
        for i in range(len(token) - 2):
            grams[token[i : i + 3]] = None
    return list(grams)


def trigram_match(query: str) -> str | None:
    """An FTS5 expression matching any trigram of the query's words of 3+ characters."""
    return " OR ".join(_quoted(g) for g in _trigrams(query)) or None


def _similar(grams: list[str], body: str) -> bool:
    """At least ``MIN_SIMILARITY`` of the query's trigrams occur in the document (and two,
    when the query has two or more): one shared trigram, say with a random id, is noise."""
    text = body.lower()
    shared = sum(1 for g in grams if g in text)
    return shared >= max(min(2, len(grams)), MIN_SIMILARITY * len(grams))


def _ranked(
    conn: Connection,
    table: Table,
    match: str,
    query: ArtifactQuery,
    *,
    depth: int,
    grams: list[str] | None = None,
) -> list[str]:
    score = func.bm25(literal_column(table.name))
    statement = (
        select(artifacts.c.artifact_id, table.c.body)
        .join(table, table.c.artifact_id == artifacts.c.artifact_id)
        .where(sql_text(f"{table.name} MATCH :match"), *filter_conditions(query))
        .order_by(score, artifacts.c.created_at.desc())
        .limit(depth)
    )
    rows = conn.execute(statement, {"match": match})
    return [row[0] for row in rows if grams is None or _similar(grams, row[1])]


def lexical_ids(conn: Connection, text: str, query: ArtifactQuery, limit: int) -> list[str]:
    """Artifact ids for a text query, best first: words and trigrams fused by rank."""
    depth = max(limit * 4, 50)
    lists: list[list[str]] = []
    words = word_match(text)
    if words is not None:
        lists.append(_ranked(conn, artifact_fts, words, query, depth=depth))
    grams = _trigrams(text)
    if grams:
        match = " OR ".join(_quoted(g) for g in grams)
        lists.append(_ranked(conn, artifact_trigram, match, query, depth=depth, grams=grams))
    return fuse(lists)[:limit]


def fuse(lists: Iterable[list[str]]) -> list[str]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the lists; ties keep first seen."""
    scores: dict[str, float] = {}
    for ranked in lists:
        for rank, item in enumerate(ranked):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores, key=lambda item: -scores[item])


TEXT_MIMES: Final = (
    "text/",
    "application/json",
    "application/jsonl",
    "application/x-ndjson",
    "application/yaml",
    "application/toml",
    "application/xml",
)


def is_text(mime: str | None) -> bool:
    """Whether content of this MIME type is indexed as text."""
    return bool(mime) and any(str(mime).startswith(prefix) for prefix in TEXT_MIMES)


def decode_content(data: bytes) -> str:
    """Searchable text of a file's bytes (first ``MAX_CONTENT`` characters)."""
    return data[: MAX_CONTENT * 4].decode("utf-8", "replace")[:MAX_CONTENT]


WATERMARK: Final = "lexical"
_BATCH: Final = 2000
#: Rows indexed per catch-up transaction (a few hundred milliseconds of work).
CATCH_UP_ROWS: Final = 4000
_ROWID: ColumnClause[int] = literal_column("artifacts.rowid", BigInteger)


def _position(conn: Connection) -> int:
    row = conn.execute(
        select(search_watermarks.c.position).where(search_watermarks.c.name == WATERMARK)
    ).first()
    return 0 if row is None else int(row[0])


def is_behind(conn: Connection) -> bool:
    """Whether artifacts were recorded after the text index was last brought up to date."""
    newest = conn.execute(select(func.max(_ROWID)).select_from(artifacts)).scalar()
    return newest is not None and int(newest) > _position(conn)


def reset(conn: Connection) -> None:
    """Empty the text indexes (inside a write transaction); the next catch-up rebuilds."""
    for table in FTS_TABLES:
        conn.execute(table.delete())
    conn.execute(search_watermarks.delete().where(search_watermarks.c.name == WATERMARK))


def catch_up(conn: Connection, *, max_rows: int | None = None) -> int:
    """Index artifact rows past the watermark (inside a write transaction).

    Saves never wait for text indexing; the first search after them does it, in the same
    transaction that moves the watermark, so two searchers never index a row twice. With
    ``max_rows`` it stops after about that many rows, so that a caller can commit in short
    transactions and never hold the write lock long. Returns how many were indexed.
    """
    done = 0
    position = _position(conn)
    while max_rows is None or done < max_rows:
        rows = conn.execute(
            select(_ROWID.label("pos"), artifacts)
            .where(position < _ROWID)
            .order_by(_ROWID)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        ids = [row.artifact_id for row in rows]
        files: dict[str, list[ArtifactFile]] = {i: [] for i in ids}
        for f in conn.execute(select(artifact_files).where(artifact_files.c.artifact_id.in_(ids))):
            files[f.artifact_id].append(
                ArtifactFile(path=f.path, sha256=f.sha256, bytes=f.bytes, mime=f.mime)
            )
        found = [artifact_from_row(row, files[row.artifact_id]) for row in rows]
        texts = _inline_texts(conn, found)
        docs = [r for a in found for r in fts_rows(a, texts.get(a.artifact_id))]
        for table in FTS_TABLES:
            conn.execute(table.insert(), docs)
        position = int(rows[-1].pos)
        done += len(rows)
    if done:
        conn.execute(search_watermarks.delete().where(search_watermarks.c.name == WATERMARK))
        conn.execute(search_watermarks.insert().values(name=WATERMARK, position=position))
    return done


def _inline_texts(conn: Connection, found: list[Artifact]) -> dict[str, str]:
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


def fts_rows(artifact: Artifact, content: str | None) -> list[dict[str, Any]]:
    """The row an artifact adds to each FTS table."""
    return [{"artifact_id": artifact.artifact_id, "body": document(artifact, content)}]
