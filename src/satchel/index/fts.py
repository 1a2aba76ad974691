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

from sqlalchemy import Column, Connection, MetaData, Table, Text, func, literal_column, select
from sqlalchemy import text as sql_text

from satchel.index.base import ArtifactQuery
from satchel.index.query import filter_conditions
from satchel.index.schema import artifacts, inline_blobs
from satchel.models import Artifact

__all__ = [
    "FTS_TABLES",
    "MAX_CONTENT",
    "artifact_fts",
    "artifact_trigram",
    "decode_content",
    "document",
    "fts_rows",
    "indexed_content",
    "is_text",
    "lexical_ids",
    "trigram_match",
    "word_match",
]

MAX_CONTENT: Final = 16 * 1024
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


def trigram_match(query: str) -> str | None:
    """An FTS5 expression matching any trigram of the query's words of 3+ characters."""
    grams: dict[str, None] = {}
    for token in _tokens(query):
        for i in range(len(token) - 2):
            grams[token[i : i + 3]] = None
    return " OR ".join(_quoted(g) for g in grams) or None


def _ranked(
    conn: Connection, table: Table, match: str, query: ArtifactQuery, depth: int
) -> list[str]:
    score = func.bm25(literal_column(table.name))
    statement = (
        select(artifacts.c.artifact_id)
        .join(table, table.c.artifact_id == artifacts.c.artifact_id)
        .where(sql_text(f"{table.name} MATCH :match"), *filter_conditions(query))
        .order_by(score, artifacts.c.created_at.desc())
        .limit(depth)
    )
    return [row[0] for row in conn.execute(statement, {"match": match})]


def lexical_ids(conn: Connection, text: str, query: ArtifactQuery, limit: int) -> list[str]:
    """Artifact ids for a text query, best first: words and trigrams fused by rank."""
    depth = max(limit * 4, 50)
    lists: list[list[str]] = []
    for table, match in ((artifact_fts, word_match(text)), (artifact_trigram, trigram_match(text))):
        if match is not None:
            lists.append(_ranked(conn, table, match, query, depth))
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


def indexed_content(conn: Connection, artifact: Artifact) -> str | None:
    """The content a reindex puts in an artifact's document: its inline text, if any."""
    if artifact.is_dir or len(artifact.files) != 1 or not is_text(artifact.mime):
        return None
    row = conn.execute(
        select(inline_blobs.c.data).where(inline_blobs.c.sha256 == artifact.files[0].sha256)
    ).first()
    return None if row is None else decode_content(bytes(row[0]))


def fts_rows(artifact: Artifact, content: str | None) -> list[dict[str, Any]]:
    """The row an artifact adds to each FTS table."""
    return [{"artifact_id": artifact.artifact_id, "body": document(artifact, content)}]
