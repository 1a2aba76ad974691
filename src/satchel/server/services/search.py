"""Listings and searches for a caller: the facade's filters plus the caller's reader.

The client turns its context's scope level into equality filters; the server adds the
caller's ``Reader`` (and origin filter) to the ``ArtifactQuery``, so every path (structured,
lexical, semantic, hybrid, best) filters access inside its own SQL, then pages through the
same function as the embedded facade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from satchel.errors import ValidationError
from satchel.facade._paging import SearchPage, window_start
from satchel.facade._search import page_search, search_text, text_query
from satchel.index import ArtifactQuery
from satchel.index.base import EQUALITY_COLUMNS, Origin
from satchel.server.schemas.artifacts import BestIn, SearchIn
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor
from satchel.validation import validate_labels, validate_tags, validate_token

__all__ = ["FILTER_COLUMNS", "best", "listing", "search"]

#: Columns a request may filter on for equality (``status`` is the server's business).
FILTER_COLUMNS: Final = frozenset(EQUALITY_COLUMNS - {"status"})


def base_query(
    actor: Actor,
    *,
    equals: Mapping[str, str | None],
    tags: Sequence[str] = (),
    labels: Mapping[str, Any] | None = None,
    metric: str | None = None,
    metric_mode: str | None = None,
    time_window: str | None = None,
    origin: Sequence[Origin] = (),
) -> ArtifactQuery:
    """The query of a request's filters, read as ``actor``."""
    checked: dict[str, str | None] = {}
    for column, value in equals.items():
        if column not in FILTER_COLUMNS:
            raise ValidationError(
                f"cannot filter on {column!r}; use any of {sorted(FILTER_COLUMNS)}"
            )
        checked[column] = None if value is None else validate_token(value, what=column)
    if metric is not None:
        validate_token(metric, what="metric")
    if metric is None and metric_mode is not None:
        raise ValidationError("metric_mode needs a metric to rank by")
    return ArtifactQuery(
        equals=checked,
        tags_all=tuple(validate_tags(tags)),
        labels=validate_labels(labels),
        created_since=window_start(time_window),
        metric=metric,
        metric_order=None if metric is None else ("min" if metric_mode == "min" else "max"),
        reader=actor.reader,
        origin=frozenset(origin),
    )


def _body_query(actor: Actor, body: SearchIn | BestIn, **equals: str) -> ArtifactQuery:
    return base_query(
        actor,
        equals={**body.equals, **equals},
        tags=body.tags,
        labels=body.labels,
        metric=body.metric,
        metric_mode=body.metric_mode,
        time_window=body.time_window,
        origin=body.origin,
    )


def search(state: ServerState, actor: Actor, body: SearchIn) -> SearchPage:
    """One page of the facade's ``search_page``, limited to what ``actor`` may read."""
    text = search_text(body.query)
    base = _body_query(actor, body)
    if text is not None:
        base = text_query(base, body.metric)
    return page_search(
        state.store.query,
        state.searcher,
        base,
        text=text,
        mode=body.mode,
        cursor=body.cursor,
        limit=body.limit,
        paged=body.paged,
    )


def best(state: ServerState, actor: Actor, body: BestIn) -> SearchPage:
    """The facade's ``best``: the top artifact of a kind by a metric."""
    base = _body_query(actor, body, kind=body.kind)
    return SearchPage(items=state.store.query(replace(base, limit=1)))


def listing(
    state: ServerState,
    actor: Actor,
    *,
    equals: Mapping[str, str | None],
    tags: Sequence[str],
    origin: Sequence[Origin],
    limit: int,
    cursor: str | None,
) -> SearchPage:
    """A newest-first page of what ``actor`` may read (``GET /artifacts``)."""
    base = base_query(actor, equals=equals, tags=tags, origin=origin)
    return page_search(
        state.store.query,
        state.searcher,
        base,
        text=None,
        mode=None,
        cursor=cursor,
        limit=limit,
        paged=True,
    )
