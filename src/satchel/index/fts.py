"""Lexical search on SQLite: two FTS5 indexes over one document per artifact.

``artifact_fts`` (unicode61 words, BM25) finds whole words, and through its vocabulary
(``artifact_fts_vocab``) words with a typo: a word it does not hold stands for the indexed
terms one edit away. ``artifact_trigram`` (trigram tokens) finds substrings: partial ids,
parts of names. Each list asks for every word first and for any word only when too few
artifacts have them all; both are fused by reciprocal rank. FTS5 ranks its matches (BM25)
and the same statement joins the top ones to ``artifacts`` with every filter, so a filter
is never lost.

The document holds the artifact's id, name, kind, tags, label keys and values, metric
names, file paths, run, model, and for text and JSON artifacts kept inline (up to
``SATCHEL_INLINE_MAX`` bytes) the first ``MAX_CONTENT`` characters of their content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnClause,
    Connection,
    Float,
    MetaData,
    Table,
    Text,
    and_,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy import text as sql_text

from satchel.index.base import ArtifactQuery
from satchel.index.pending import (
    MAX_CONTENT,
    artifacts_after,
    forget_watermark,
    newest_position,
    set_watermark,
    watermark,
)
from satchel.index.query import filter_conditions
from satchel.index.schema import artifacts
from satchel.index.spelling import MAX_WORD, MIN_WORD, one_edit, words
from satchel.models import Artifact

__all__ = [
    "CATCH_UP_ROWS",
    "FTS_TABLES",
    "RANK_CAP",
    "Match",
    "Words",
    "artifact_fts",
    "artifact_trigram",
    "catch_up",
    "document",
    "forget",
    "fts_rows",
    "is_behind",
    "lexical_ids",
    "reset",
    "substring_match",
    "word_groups",
]

#: A misspelt word stands for at most this many indexed terms one edit away.
MAX_SPELLINGS: Final = 5
RRF_K: Final = 60
_VOCAB_CHUNK: Final = 500
#: A match expected in more documents is ranked within the newest rows first (``_window``).
RANK_CAP: Final = 10_000
#: Past this many top matches, the filters rank with the matches in one statement instead.
_MAX_DEPTH: Final = 4000
_WORD = re.compile(r"\w+", re.UNICODE)
#: Artifact ids per MATCH when forgetting deleted artifacts.
_FORGET_CHUNK: Final = 500

# Not in ``schema.metadata``: virtual tables that only the SQLite dialect has (migration 0002).
fts_metadata = MetaData()
artifact_fts = Table(
    "artifact_fts", fts_metadata, Column("artifact_id", Text), Column("body", Text)
)
artifact_trigram = Table(
    "artifact_trigram", fts_metadata, Column("artifact_id", Text), Column("body", Text)
)
FTS_TABLES: Final = (artifact_fts, artifact_trigram)
#: The word index's vocabulary (fts5vocab, one row per term; migration 0003).
artifact_fts_vocab = Table(
    "artifact_fts_vocab",
    fts_metadata,
    Column("term", Text),
    Column("doc", BigInteger),
    Column("cnt", BigInteger),
)


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


def _any(terms: Iterable[str]) -> str:
    quoted = [_quoted(t) for t in terms]
    return quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")"


def _vocabulary(conn: Connection, terms: Iterable[str]) -> dict[str, int]:
    """Which of ``terms`` the word index holds, with how many documents hold each."""
    wanted = sorted(set(terms))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _VOCAB_CHUNK):
        chunk = wanted[start : start + _VOCAB_CHUNK]
        rows = conn.execute(
            select(artifact_fts_vocab.c.term, artifact_fts_vocab.c.doc).where(
                artifact_fts_vocab.c.term.in_(chunk)
            )
        )
        found.update((str(term), int(doc)) for term, doc in rows)
    return found


@dataclass(frozen=True, slots=True)
class Words:
    """A query's words as groups of indexed terms, with each term's document count."""

    groups: list[list[str]]
    docs: dict[str, int]

    def match(self, *, every: bool) -> str | None:
        """An FTS5 expression: all groups (``every``) or any term, every term quoted."""
        if not self.groups:
            return None
        if not every:
            return _any(dict.fromkeys(t for group in self.groups for t in group))
        return " AND ".join(_any(group) for group in self.groups)

    def estimate(self, total: int, *, every: bool) -> int:
        """About how many of ``total`` documents ``match`` finds (for ``every``, as if the
        words occurred independently)."""
        counts = [sum(self.docs.get(t, 0) for t in group) for group in self.groups]
        if not counts or total <= 0:
            return 0
        if not every:
            return sum(counts)
        share = 1.0
        for count in counts:
            share *= min(1.0, count / total)
        return int(total * share)


def word_groups(conn: Connection, text: str) -> Words:
    """The query's words, each with the indexed terms it may mean.

    A word the index holds stands for itself. One it does not hold (of ``MIN_WORD`` to
    ``MAX_WORD`` characters) stands for the indexed terms one edit away, the most frequent
    first: a typo. Words with neither keep themselves and match nothing.
    """
    wanted = words(text)
    known = _vocabulary(conn, wanted)
    unknown = [w for w in wanted if w not in known and MIN_WORD <= len(w) <= MAX_WORD]
    edits = {w: one_edit(w) for w in unknown}
    near = _vocabulary(conn, (e for found in edits.values() for e in found))
    groups: list[list[str]] = []
    for word in wanted:
        spellings = sorted(edits.get(word, ()) & near.keys(), key=lambda t: (-near[t], t))
        groups.append(spellings[:MAX_SPELLINGS] if spellings else [word])
    return Words(groups=groups, docs={**known, **near})


def substring_match(text: str, *, every: bool) -> str | None:
    """An FTS5 expression for the trigram table: the query's words of 3+ characters as
    substrings (a phrase of trigrams), all of them (``every``) or any."""
    parts = [_quoted(t) for t in dict.fromkeys(_tokens(text)) if len(t) >= 3]
    return (" AND " if every else " OR ").join(parts) or None


@dataclass(frozen=True, slots=True)
class Match:
    """An FTS5 expression and about how many documents it matches (None: not known)."""

    expression: str
    estimate: int | None = None


def _newest(conn: Connection, table: Table) -> int:
    newest = conn.execute(select(func.max(literal_column("rowid"))).select_from(table)).scalar()
    return int(newest or 0)


def _window(conn: Connection, table: Table, estimate: int | None) -> tuple[int, int | None]:
    """The newest rowid of ``table`` and how many of its newest rows to rank within.

    BM25 reads each matched document's length, about a microsecond each; a term in a few
    hundred thousand documents would take a few hundred milliseconds. So a match expected
    in more than ``RANK_CAP`` documents is first ranked among the newest rows, as many as
    hold about ``RANK_CAP`` of them (rowids follow the artifacts' order, oldest first).
    """
    top = _newest(conn, table)
    if estimate is None or estimate <= RANK_CAP or top == 0:
        return top, None
    return top, max(1, top * RANK_CAP // estimate)


def _ranked(
    conn: Connection, table: Table, match: Match, query: ArtifactQuery, *, want: int
) -> list[str]:
    """Up to ``want`` ids matching ``match`` and the filters, best BM25 first.

    FTS5 ranks its own matches (``ORDER BY rank`` with a limit keeps only the top), then the
    same statement joins them to ``artifacts`` and tells which pass the filters. When too
    few of the top ``depth`` pass, the depth grows; past ``_MAX_DEPTH`` the filters go
    into the ranking statement itself and every match is ranked. A very common match is
    ranked within the newest rows first (``_window``), a window that grows the same way.
    """
    rank: ColumnClause[float] = literal_column("rank", Float)
    rowid: ColumnClause[int] = literal_column(f"{table.name}.rowid", BigInteger)
    conditions = filter_conditions(query)
    passes = (and_(*conditions) if conditions else true()).label("passes")
    depth: int | None = max(want * 8, 400)
    # For a reader, no window: which rows are the newest ones holding ~RANK_CAP matches
    # depends on artifacts the reader may not see, and would change which ones rank first.
    top, window = _window(conn, table, None if query.reader is not None else match.estimate)
    while True:
        hits = (
            select(table.c.artifact_id, rank.label("score"))
            .where(sql_text(f"{table.name} MATCH :match"))
            .order_by(rank)
        )
        if window is not None:
            hits = hits.where(rowid > top - window)
        if depth is not None:
            hits = hits.limit(depth)
        found = hits.subquery("hits")
        statement = (
            select(artifacts.c.artifact_id, passes)
            .join(found, found.c.artifact_id == artifacts.c.artifact_id)
            .order_by(found.c.score, artifacts.c.created_at.desc())
        )
        if depth is None:
            statement = statement.where(*conditions).limit(want)
        rows = conn.execute(statement, {"match": match.expression}).all()
        ids = [row[0] for row in rows if row[1]]
        if len(ids) >= want:
            return ids[:want]
        if depth is not None and len(rows) == depth:
            depth = depth * 8 if depth * 8 <= _MAX_DEPTH else None
        elif window is not None:
            window = window * 8 if window * 8 < top else None
        else:
            return ids


def _listed(
    conn: Connection, table: Table, matches: list[Match | None], query: ArtifactQuery, want: int
) -> list[str]:
    """Ids for the first match expression, topped up from the next ones while too few."""
    found: dict[str, None] = {}
    seen: set[str] = set()
    for match in matches:
        if match is None or match.expression in seen:
            continue
        seen.add(match.expression)
        found.update(dict.fromkeys(_ranked(conn, table, match, query, want=want)))
        if len(found) >= want:
            break
    return list(found)[:want]


def _word_match(found: Words, total: int, *, every: bool) -> Match | None:
    expression = found.match(every=every)
    return None if expression is None else Match(expression, found.estimate(total, every=every))


def _substring_match(text: str, *, every: bool) -> Match | None:
    expression = substring_match(text, every=every)
    return None if expression is None else Match(expression)


def lexical_ids(conn: Connection, text: str, query: ArtifactQuery, limit: int) -> list[str]:
    """Artifact ids for a text query, best first: whole words and substrings fused by rank.

    Artifacts with every word come first; only when they are too few do artifacts with any
    word follow. A word the index does not know stands for its near spellings (a typo).
    Substrings (partial ids, parts of names) come from the trigram table, all of them
    first, then any, and only when whole words found fewer than the ranking depth: ranking
    trigram matches costs several times the word ranking, and when the words alone fill
    the depth, substrings would only reorder the same artifacts.
    """
    want = max(limit * 4, 50)
    found = word_groups(conn, text)
    total = _newest(conn, artifact_fts)
    word_matches = [
        _word_match(found, total, every=True),
        _word_match(found, total, every=False),
    ]
    lists = [_listed(conn, artifact_fts, word_matches, query, want)]
    if len(lists[0]) < want:
        substrings = [_substring_match(text, every=True), _substring_match(text, every=False)]
        lists.append(_listed(conn, artifact_trigram, substrings, query, want))
    return fuse(lists)[:limit]


def fuse(lists: Iterable[list[str]]) -> list[str]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the lists; ties keep first seen."""
    scores: dict[str, float] = {}
    for ranked in lists:
        for rank, item in enumerate(ranked):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores, key=lambda item: -scores[item])


WATERMARK: Final = "lexical"
_BATCH: Final = 2000
#: Rows indexed per catch-up transaction (a few hundred milliseconds of work).
CATCH_UP_ROWS: Final = 4000


def is_behind(conn: Connection) -> bool:
    """Whether artifacts were recorded after the text index was last brought up to date."""
    return newest_position(conn) > watermark(conn, WATERMARK)


def reset(conn: Connection) -> None:
    """Empty the text indexes (inside a write transaction); the next catch-up rebuilds."""
    for table in FTS_TABLES:
        conn.execute(table.delete())
    forget_watermark(conn, WATERMARK)


def catch_up(conn: Connection, *, max_rows: int | None = None) -> int:
    """Index artifact rows past the watermark (inside a write transaction).

    Saves never wait for text indexing; the first search after them does it, in the same
    transaction that moves the watermark, so two searchers never index a row twice. With
    ``max_rows`` it stops after about that many rows, so that a caller can commit in short
    transactions and never hold the write lock long. Returns how many were indexed.
    """
    done = 0
    position = watermark(conn, WATERMARK)
    while max_rows is None or done < max_rows:
        found = artifacts_after(conn, position, _BATCH)
        if not found:
            break
        docs = [r for _, a, content in found for r in fts_rows(a, content)]
        for table in FTS_TABLES:
            conn.execute(table.insert(), docs)
        position = found[-1][0]
        done += len(found)
    if done:
        set_watermark(conn, WATERMARK, position)
    return done


def fts_rows(artifact: Artifact, content: str | None) -> list[dict[str, Any]]:
    """The row an artifact adds to each FTS table."""
    return [{"artifact_id": artifact.artifact_id, "body": document(artifact, content)}]


_ROWID: Final[ColumnClause[int]] = literal_column("rowid", BigInteger)


def _searchable(table: Table, artifact_id: str) -> bool:
    """Whether ``table``'s index can find ``artifact_id`` by a MATCH on it."""
    return bool(_WORD.search(artifact_id)) and not (
        table is artifact_trigram and len(artifact_id) < 3
    )


def _matched(conn: Connection, table: Table, artifact_ids: Sequence[str]) -> dict[int, str]:
    """The rows of ``table`` indexing any of ``artifact_ids`` (each searchable), by rowid,
    found through the index itself (an id is its document's first text)."""
    rows = conn.execute(
        select(_ROWID, table.c.artifact_id).where(
            sql_text(f"{table.name} MATCH :m"), table.c.artifact_id.in_(artifact_ids)
        ),
        {"m": " OR ".join(_quoted(i) for i in artifact_ids)},
    )
    return {int(r[0]): str(r[1]) for r in rows}


def _at(conn: Connection, table: Table, rowids: Sequence[int], wanted: set[str]) -> dict[int, str]:
    """Those of the rows ``rowids`` of ``table`` that index one of ``wanted``."""
    rows = conn.execute(select(_ROWID, table.c.artifact_id).where(_ROWID.in_(rowids)))
    return {int(r[0]): str(r[1]) for r in rows if r[1] in wanted}


def forget(conn: Connection, artifact_ids: Iterable[str]) -> None:
    """Remove deleted artifacts' documents (inside the deleting write transaction).

    ``artifact_id`` is an unindexed column, so a ``WHERE artifact_id = ?`` would read every
    document; the id is also the first word of its document, so a MATCH finds the rows: one
    MATCH of up to ``_FORGET_CHUNK`` ids in the word index. The trigram index's phrase
    lookups are far slower, but both tables are filled and emptied together, so a document
    is usually at the same rowid in both: those rowids are read first (each checked by its
    id), and only the ids not found there are looked up by a MATCH each.
    """
    ids = list(dict.fromkeys(artifact_ids))
    for chunk in (ids[i : i + _FORGET_CHUNK] for i in range(0, len(ids), _FORGET_CHUNK)):
        hints: list[int] = []
        for table in FTS_TABLES:
            wanted = set(chunk)
            found = _at(conn, table, hints, wanted) if hints else {}
            for artifact_id in chunk:
                if not _searchable(table, artifact_id):
                    conn.execute(table.delete().where(table.c.artifact_id == artifact_id))
                    wanted.discard(artifact_id)
            wanted -= set(found.values())
            if table is artifact_fts:
                found |= _matched(conn, table, sorted(wanted)) if wanted else {}
            else:
                for artifact_id in sorted(wanted):
                    found |= _matched(conn, table, [artifact_id])
            if found:
                conn.execute(table.delete().where(_ROWID.in_(sorted(found))))
            hints = sorted(found)
