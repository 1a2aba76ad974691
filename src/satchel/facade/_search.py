"""One page of a search over a ready ``ArtifactQuery``: the one implementation of paging.

The facade builds the query from its context and scope level; the server builds it from a
request's filters and the caller's reader. Both then page through here, so structured and
text searches page, rank and refuse cursors alike everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

from satchel.errors import ValidationError
from satchel.facade._paging import (
    MAX_PAGE,
    SearchPage,
    decode_cursor,
    encode_cursor,
    window_start,
)
from satchel.facade._scope import ContextInfo, scope_query
from satchel.facade._text import TextSearcher
from satchel.index import ArtifactQuery
from satchel.models import Artifact
from satchel.validation import validate_limit, validate_search_text, validate_token

__all__ = ["QUERY_MAX", "context_search", "page_search", "search_text", "text_query"]

#: The longest search text, in characters (a server refuses longer ones alike).
QUERY_MAX: Final = 2048


def search_text(query: object) -> str | None:
    """The text of a search (None for a structured one); refuses what is not a string."""
    if query is not None and not isinstance(query, str):
        raise ValidationError(f"query must be a string, not {type(query).__name__}")
    if query is not None and len(query) > QUERY_MAX:
        raise ValidationError(f"query is longer than {QUERY_MAX} characters: {len(query)}")
    if query is not None:
        validate_search_text(query)
    return query if query and query.strip() else None


def text_query(base: ArtifactQuery, metric: str | None) -> ArtifactQuery:
    """A structured query made fit for a text search: relevance orders it, and a metric
    only requires that artifacts have it."""
    base = replace(base, metric=None, metric_order=None)
    if metric is None:
        return base
    return replace(base, has_metrics=(validate_token(metric, what="metric"),))


def context_search(
    ctx: ContextInfo,
    *,
    query: object,
    mode: str | None,
    time_window: str | None,
    **filters: Any,
) -> tuple[str | None, ArtifactQuery | None]:
    """The text and the query of a facade search from ``ctx``: its scope level and filters
    (``scope_query``), the window's start, and for a text search a metric that only requires
    itself. Both cores (embedded, remote) start every search here; None: nothing can match.
    """
    text = search_text(query)
    metric = None
    if text is not None:
        metric = filters.pop("metric", None)
        filters.pop("metric_mode", None)
    elif mode not in (None, "structured"):
        raise ValidationError(f"search mode {mode!r} needs a query")
    base = scope_query(ctx, created_since=window_start(time_window), limit=None, **filters)
    if base is not None and text is not None:
        base = text_query(base, metric)
    return text, base


def page_search(
    run_query: Callable[[ArtifactQuery], list[Artifact]],
    searcher: TextSearcher,
    base: ArtifactQuery | None,
    *,
    text: str | None,
    mode: str | None,
    cursor: str | None,
    limit: int | None,
    paged: bool,
) -> SearchPage:
    """One page of ``base`` (None: nothing can match), by ``text`` when given.

    ``limit`` None means every match on one page (``paged`` False only).
    """
    if text is not None:
        if base is None:
            return SearchPage()
        return searcher.page(text, mode=mode, query=base, limit=limit, cursor=cursor, paged=paged)
    if mode not in (None, "structured"):
        raise ValidationError(f"search mode {mode!r} needs a query")
    if limit is not None:
        limit = validate_limit(limit)
    if paged and (limit is None or not 1 <= limit <= MAX_PAGE):
        raise ValidationError(f"a page's limit must be from 1 to {MAX_PAGE}: {limit!r}")
    if base is None:
        return SearchPage()
    if cursor is not None:
        base = decode_cursor(base, cursor)
    if limit is None:
        return SearchPage(items=run_query(base))
    rows = run_query(replace(base, limit=limit + 1))
    if len(rows) <= limit or limit == 0:
        return SearchPage(items=rows[:limit])
    return SearchPage(items=rows[:limit], next_cursor=encode_cursor(base, rows[limit - 1]))
