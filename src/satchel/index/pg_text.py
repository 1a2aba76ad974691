"""Lexical search on PostgreSQL: a tsvector for whole words, pg_trgm for substrings.

The counterpart of ``fts`` with the same rules: one document per artifact (``fts.document``),
indexed by a catch-up behind the saves (watermark ``lexical``); every word first, any word
only when too few artifacts have them all; a word the index does not hold stands for the
indexed terms one edit away (a typo), looked up in ``artifact_terms`` as SQLite looks them
up in its vocabulary; substrings (partial ids, parts of names) from the trigram index, only
when whole words fall short; both lists fused by reciprocal rank.

``artifact_text.words`` holds the document's words as ``spelling.tokens`` splits them
(letters and digits, lower case, diacritics removed), parsed by the ``simple`` configuration:
exactly those words, no stemming, like SQLite's unicode61 tokenizer. Queries are built as
``tsquery`` values from the same words, never parsed from user text. Relevance is
``ts_rank_cd`` divided by 1 + log(document length): matches close together in a short
document first, BM25's shape. The filters sit in the ranking statement itself, so no filter
is ever lost and nothing the caller may not read is ranked into a result.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.dialects.postgresql import insert as pg_insert

from satchel.index.base import ArtifactQuery
from satchel.index.fts import document, fuse
from satchel.index.pending import (
    artifacts_after,
    forget_watermark,
    newest_position,
    set_watermark,
    watermark,
)
from satchel.index.positions import hold
from satchel.index.query import filter_conditions
from satchel.index.schema import artifacts
from satchel.index.spelling import MAX_WORD, MIN_WORD, one_edit, tokens, words

__all__ = [
    "CATCH_UP_ROWS",
    "PG_TABLES",
    "artifact_terms",
    "artifact_text",
    "catch_up",
    "forget",
    "is_behind",
    "lexical_ids",
    "reset",
    "tsquery",
]

WATERMARK: Final = "lexical"
_BATCH: Final = 2000
#: Rows indexed per catch-up transaction.
CATCH_UP_ROWS: Final = 4000
#: A misspelt word stands for at most this many indexed terms one edit away.
MAX_SPELLINGS: Final = 5
#: Longer words are left out of the tsvector (PostgreSQL refuses words over 2 KiB).
_MAX_TERM: Final = 255
_CHUNK: Final = 5000
_PART: Final = re.compile(r"\w+", re.UNICODE)

# Not in ``schema.metadata``: tables only the PostgreSQL dialect has (migrations 0002, 0003).
pg_metadata = MetaData()
artifact_text = Table(
    "artifact_text",
    pg_metadata,
    Column("artifact_id", Text, primary_key=True),
    Column("body", Text, nullable=False),
    Column("words", TSVECTOR, nullable=False),
)
artifact_terms = Table(
    "artifact_terms",
    pg_metadata,
    Column("term", Text, primary_key=True),
    Column("docs", BigInteger, nullable=False),
)
PG_TABLES: Final = (artifact_text, artifact_terms)


# -- catch-up ------------------------------------------------------------------------------


def is_behind(conn: Connection) -> bool:
    """Whether artifacts were recorded after the text index was last brought up to date."""
    return newest_position(conn) > watermark(conn, WATERMARK)


def reset(conn: Connection) -> None:
    """Empty the text index and its terms (inside a write transaction)."""
    hold(conn, WATERMARK)
    conn.execute(artifact_text.delete())
    conn.execute(artifact_terms.delete())
    forget_watermark(conn, WATERMARK)


def catch_up(conn: Connection, *, max_rows: int | None = None) -> int:
    """Index artifact rows past the watermark (inside a write transaction).

    One catch-up at a time per index (an advisory lock, held to the commit): the next one
    starts from the watermark the last one left. Returns how many rows were indexed.
    """
    hold(conn, WATERMARK)
    done = 0
    position = watermark(conn, WATERMARK)
    insert = (
        pg_insert(artifact_text)
        .values(
            artifact_id=bindparam("b_id"),
            body=bindparam("b_body"),
            words=func.to_tsvector(literal_column("'simple'::regconfig"), bindparam("b_words")),
        )
        .on_conflict_do_nothing()
    )
    while max_rows is None or done < max_rows:
        found = artifacts_after(conn, position, _BATCH)
        if not found:
            break
        rows: list[dict[str, Any]] = []
        terms: Counter[str] = Counter()
        for _, artifact, content in found:
            # A text column cannot hold U+0000 (valid in a text artifact's content): one
            # such document would fail this catch-up, and every search after it, for good.
            body = document(artifact, content).replace("\x00", " ")
            found_words = [t for t in tokens(body) if len(t) <= _MAX_TERM]
            terms.update(set(found_words))
            rows.append(
                {"b_id": artifact.artifact_id, "b_body": body, "b_words": " ".join(found_words)}
            )
        conn.execute(insert, rows)
        _count_terms(conn, terms)
        position = found[-1][0]
        done += len(found)
    if done:
        set_watermark(conn, WATERMARK, position)
    return done


def forget(conn: Connection, artifact_ids: Sequence[str]) -> None:
    """Remove deleted artifacts' documents and their words' counts (inside the deleting
    write transaction, which the catch-up lock then serialises with catch-ups: a document
    is either counted and removed here, or never indexed)."""
    hold(conn, WATERMARK)
    bodies = conn.execute(
        artifact_text.delete()
        .where(artifact_text.c.artifact_id.in_(list(artifact_ids)))
        .returning(artifact_text.c.body)
    ).scalars()
    terms: Counter[str] = Counter()
    for body in bodies:
        terms.update({t for t in tokens(body) if len(t) <= _MAX_TERM})
    ordered = sorted(terms.items())
    if not ordered:
        return
    conn.execute(
        update(artifact_terms)
        .where(artifact_terms.c.term == bindparam("b_term"))
        .values(docs=artifact_terms.c.docs - bindparam("b_n")),
        [{"b_term": t, "b_n": n} for t, n in ordered],
    )
    for start in range(0, len(ordered), _CHUNK):
        chunk = [t for t, _ in ordered[start : start + _CHUNK]]
        conn.execute(
            artifact_terms.delete().where(
                artifact_terms.c.term.in_(chunk), artifact_terms.c.docs <= 0
            )
        )


def _count_terms(conn: Connection, terms: Counter[str]) -> None:
    ordered = sorted(terms.items())
    for start in range(0, len(ordered), _CHUNK):
        chunk = [{"term": t, "docs": n} for t, n in ordered[start : start + _CHUNK]]
        upsert = pg_insert(artifact_terms).values(chunk)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[artifact_terms.c.term],
                set_={"docs": artifact_terms.c.docs + upsert.excluded.docs},
            )
        )


# -- queries -------------------------------------------------------------------------------


def _vocabulary(conn: Connection, terms: Iterable[str]) -> dict[str, int]:
    """Which of ``terms`` the index holds, with how many documents hold each."""
    wanted = sorted(set(terms))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            select(artifact_terms.c.term, artifact_terms.c.docs).where(
                artifact_terms.c.term.in_(wanted[start : start + _CHUNK])
            )
        )
        found.update((str(term), int(docs)) for term, docs in rows)
    return found


def word_groups(conn: Connection, text: str) -> list[list[str]]:
    """The query's words, each with the indexed terms it may mean (``fts.word_groups``)."""
    wanted = words(text)
    known = _vocabulary(conn, wanted)
    unknown = [w for w in wanted if w not in known and MIN_WORD <= len(w) <= MAX_WORD]
    edits = {w: one_edit(w) for w in unknown}
    near = _vocabulary(conn, (e for found in edits.values() for e in found))
    groups: list[list[str]] = []
    for word in wanted:
        spellings = sorted(edits.get(word, ()) & near.keys(), key=lambda t: (-near[t], t))
        groups.append(spellings[:MAX_SPELLINGS] if spellings else [word])
    return groups


def _lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(groups: list[list[str]], *, every: bool) -> str | None:
    """A ``tsquery`` literal: every group (``every``) or any term, each term quoted.

    A term longer than any indexed one (``_MAX_TERM``) matches nothing, and PostgreSQL
    refuses one over 2 KiB: it is left out (with ``every``, its group can match nothing,
    so neither can the query).
    """
    fitting = [[t for t in group if len(t) <= _MAX_TERM] for group in groups]
    if every and any(not group for group in fitting):
        return None
    groups = [group for group in fitting if group]
    if not groups:
        return None
    if not every:
        return " | ".join(_lexeme(t) for t in dict.fromkeys(t for g in groups for t in g))
    return " & ".join("(" + " | ".join(_lexeme(t) for t in group) + ")" for group in groups)


def _word_ids(conn: Connection, expression: str, query: ArtifactQuery, want: int) -> list[str]:
    """Up to ``want`` ids whose words match ``expression`` and the filters, best first."""
    matched = cast(literal(expression, Text), TSQUERY)
    score = func.ts_rank_cd(artifact_text.c.words, matched, 1)
    statement = (
        select(artifacts.c.artifact_id)
        .join(artifact_text, artifact_text.c.artifact_id == artifacts.c.artifact_id)
        .where(artifact_text.c.words.op("@@")(matched), *filter_conditions(query))
        .order_by(score.desc(), artifacts.c.created_at.desc(), artifacts.c.artifact_id.desc())
        .limit(want)
    )
    return [str(i) for i in conn.execute(statement).scalars()]


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _substring_ids(
    conn: Connection, parts: list[str], query: ArtifactQuery, *, every: bool, want: int
) -> list[str]:
    """Up to ``want`` ids whose document holds every (or any) of ``parts``, any case.

    ``ILIKE '%part%'`` is served by the trigram index. Documents holding more of the parts
    come first, then shorter ones (the part is more of what they say), then newer ones.
    """
    body = artifact_text.c.body
    likes = [body.ilike(_like(p)) for p in parts]
    held = sum((case((like, 1), else_=0) for like in likes), literal(0))
    statement = (
        select(artifacts.c.artifact_id)
        .join(artifact_text, artifact_text.c.artifact_id == artifacts.c.artifact_id)
        .where(and_(*likes) if every else or_(*likes), *filter_conditions(query))
        .order_by(
            held.desc(),
            func.length(body),
            artifacts.c.created_at.desc(),
            artifacts.c.artifact_id.desc(),
        )
        .limit(want)
    )
    return [str(i) for i in conn.execute(statement).scalars()]


def _topped_up(lists: Iterable[list[str]], want: int) -> list[str]:
    found: dict[str, None] = {}
    for ids in lists:
        found.update(dict.fromkeys(ids))
        if len(found) >= want:
            break
    return list(found)[:want]


def lexical_ids(conn: Connection, text: str, query: ArtifactQuery, limit: int) -> list[str]:
    """Artifact ids for a text query, best first: whole words and substrings fused by rank.

    The same order of asking as ``fts.lexical_ids``: every word, then any word while too
    few; substrings (3+ characters), every one then any, only when words fell short.
    """
    want = max(limit * 4, 50)
    groups = word_groups(conn, text)

    def words_lists() -> Iterable[list[str]]:
        seen: set[str] = set()
        for every in (True, False):
            expression = tsquery(groups, every=every)
            if expression is not None and expression not in seen:
                seen.add(expression)
                yield _word_ids(conn, expression, query, want)

    lists = [_topped_up(words_lists(), want)]
    if len(lists[0]) < want:
        parts = [t for t in dict.fromkeys(w.lower() for w in _query_parts(text)) if len(t) >= 3]

        def substring_lists() -> Iterable[list[str]]:
            if parts:
                yield _substring_ids(conn, parts, query, every=True, want=want)
                if len(parts) > 1:
                    yield _substring_ids(conn, parts, query, every=False, want=want)

        lists.append(_topped_up(substring_lists(), want))
    return fuse(lists)[:limit]


def _query_parts(text: str) -> list[str]:
    """The query's runs of word characters, as ``fts.substring_match`` takes them."""
    found: list[str] = _PART.findall(text)
    return found
