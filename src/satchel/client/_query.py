"""Searches over HTTP: the embedded path's ``ArtifactQuery``, sent as ``POST /search``.

The remote core builds its query with the same ``scope_query`` as the embedded one (scope
level, node, tags, typed labels, metric), so the filters the server receives are exactly
the ones an embedded search would apply; the server adds the caller's access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from satchel.facade._paging import MAX_PAGE, SearchPage
from satchel.index import ArtifactQuery
from satchel.models import Artifact

__all__ = ["MAX_PAGE", "Post", "collect", "search_body", "to_page"]

#: Sends one search body and answers the page's JSON.
Post = Callable[[dict[str, Any]], Any]
_STRUCTURED: Final = "structured"


def search_body(
    query: ArtifactQuery,
    *,
    text: str | None,
    mode: str | None,
    time_window: str | None,
) -> dict[str, Any]:
    """The ``POST /search`` body of ``query`` (its window sent as ``time_window``, for the
    server to start it by its own clock)."""
    body: dict[str, Any] = {
        "equals": dict(query.equals),
        "tags": list(query.tags_all),
        "labels": dict(query.labels),
    }
    if text is not None:
        body["query"] = text
        if mode is not None:
            body["mode"] = mode
        if query.has_metrics:
            body["metric"] = query.has_metrics[0]
    else:
        if mode == _STRUCTURED:
            body["mode"] = mode
        if query.metric is not None:
            body["metric"] = query.metric
            body["metric_mode"] = query.metric_order
    if time_window is not None:
        body["time_window"] = time_window
    return body


def to_page(answer: Any) -> SearchPage:
    """A page of the API as the facade's ``SearchPage``."""
    return SearchPage(
        items=[Artifact.from_dict(item) for item in answer["items"]],
        next_cursor=answer.get("next_cursor"),
    )


def collect(post: Post, body: dict[str, Any], limit: int | None) -> list[Artifact]:
    """Every result of a search (or its first ``limit``), page after page of the API.

    Keyset pages are stable, so this is exactly the embedded unpaged result.
    """
    items: list[Artifact] = []
    cursor: str | None = None
    while limit is None or len(items) < limit:
        want = MAX_PAGE if limit is None else min(MAX_PAGE, limit - len(items))
        page = to_page(post({**body, "limit": want, "cursor": cursor}))
        items.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return items
