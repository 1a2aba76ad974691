"""Text queries of ``search``: lexical, semantic and hybrid, ranked and paged.

Every mode gets the same ``ArtifactQuery`` (kind, tags, labels, level, scope, time window,
required metric), and every backend applies it inside its own query, so a filter holds on
every path. Hybrid is reciprocal rank fusion of the lexical and semantic lists, each
filtered. Semantic search needs an embedder: the context's, or the default model from the
``semantic`` extra, loaded once per process on first use; without the extra a semantic or
hybrid search raises ``MissingDependencyError`` and never falls back to another mode.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from satchel.errors import ValidationError
from satchel.facade._paging import (
    MAX_PAGE,
    SearchPage,
    decode_text_cursor,
    encode_text_cursor,
)
from satchel.index.base import ArtifactQuery, LexicalSearch, VectorStore
from satchel.index.fts import fuse
from satchel.models import Artifact
from satchel.search.embed import Embedder, default_embedder
from satchel.validation import validate_limit

if TYPE_CHECKING:
    from satchel.search.semantic import SemanticSearch

__all__ = ["DEFAULT_TOP_K", "MODES", "PAGED_DEPTH", "TextSearcher"]

#: Results of a text search when ``limit`` is None.
DEFAULT_TOP_K: Final = 50
MODES: Final = ("lexical", "semantic", "hybrid")
#: A paged text search ranks its best ``max(PAGED_DEPTH, 10 * limit)`` matches once, with
#: the first page, and pages through them (a ranked list has no keyset to continue from).
PAGED_DEPTH: Final = 200
#: Each list fused by hybrid search is at least this deep, so that an artifact ranked
#: moderately by both modes can rise above one ranked high by only one.
_FUSION_DEPTH: Final = 50

_shared: SemanticSearch | None = None
_shared_lock = threading.Lock()


def _default_semantic() -> SemanticSearch:
    """One default model per process, shared by every context (it takes ~100 MB)."""
    global _shared  # noqa: PLW0603 - a process-wide cache of an expensive model
    with _shared_lock:
        if _shared is None:
            embedder = default_embedder()  # MissingDependencyError without the extra
            from satchel.search.semantic import SemanticSearch  # noqa: PLC0415

            _shared = SemanticSearch(embedder)
        return _shared


class TextSearcher:
    """Runs text queries against one index, with the context's embedder (if any)."""

    def __init__(self, index: object, embedder: Embedder | None) -> None:
        self._index = index
        self._embedder = embedder
        self._semantic: SemanticSearch | None = None
        self._lock = threading.Lock()

    def semantic(self) -> SemanticSearch:
        """The semantic searcher (loading the default model on first use)."""
        with self._lock:
            if self._semantic is None:
                if self._embedder is None:
                    self._semantic = _default_semantic()
                else:
                    from satchel.search.semantic import SemanticSearch  # noqa: PLC0415

                    self._semantic = SemanticSearch(self._embedder)
            return self._semantic

    def _lexical(self) -> LexicalSearch:
        index = self._index
        if not isinstance(index, LexicalSearch):
            raise ValidationError(f"the index at {_url(index)} has no text search")
        return index

    def _vectors(self) -> VectorStore:
        index = self._index
        if not isinstance(index, VectorStore):
            raise ValidationError(f"the index at {_url(index)} has no vector search")
        return index

    def ranked(self, text: str, mode: str, query: ArtifactQuery, depth: int) -> list[Artifact]:
        """The ``depth`` best matches of ``text`` under ``mode``, best first."""
        if mode == "lexical":
            return self._lexical().lexical(text, query, depth)
        if mode == "semantic":
            store = self._vectors()
            return self.semantic().search(store, _url(store), text, query, depth)
        lexical = self._lexical()
        semantic = self.semantic()  # before any work: a missing extra fails first
        store = self._vectors()
        fused_depth = max(depth, _FUSION_DEPTH)
        lists = [
            lexical.lexical(text, query, fused_depth),
            semantic.search(store, _url(store), text, query, fused_depth),
        ]
        by_id = {a.artifact_id: a for found in lists for a in found}
        ids = fuse([[a.artifact_id for a in found] for found in lists])
        return [by_id[i] for i in ids[:depth]]

    def page(
        self,
        text: str,
        *,
        mode: str | None,
        query: ArtifactQuery,
        limit: int | None,
        cursor: str | None,
        paged: bool,
    ) -> SearchPage:
        """One page of a text search (``paged``), or the top ``limit`` (the seed's call)."""
        mode = "lexical" if mode is None else mode
        if mode not in MODES:
            raise ValidationError(
                f"unknown search mode {mode!r}; use 'lexical', 'semantic' or 'hybrid' "
                "(or no query for a structured search)"
            )
        if limit is not None:
            limit = validate_limit(limit)
        if not paged:
            if cursor is not None:
                raise ValidationError("a cursor needs search_page")
            return SearchPage(
                items=self.ranked(text, mode, query, DEFAULT_TOP_K if limit is None else limit)
            )
        if limit is None or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"a page's limit must be from 1 to {MAX_PAGE}: {limit!r}")
        if cursor is None:
            offset, depth = 0, max(PAGED_DEPTH, 10 * limit)
            query = replace(query, recorded_until=self._lexical().newest_position())
        else:
            position = decode_text_cursor(query, text, mode, cursor)
            query, offset, depth = position.query, position.offset, position.depth
        # Every page ranks the same rows to the same depth, so pages never overlap or skip.
        found = self.ranked(text, mode, query, depth)
        items = found[offset : offset + limit]
        if len(found) <= offset + limit:
            return SearchPage(items=items)
        return SearchPage(
            items=items,
            next_cursor=encode_text_cursor(query, text, mode, offset + limit, depth),
        )


def _url(index: object) -> str:
    return str(getattr(index, "url", "?"))
