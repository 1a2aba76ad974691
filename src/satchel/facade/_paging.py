"""Time windows and opaque page cursors for ``search_page``.

A cursor carries the last row's sort key (keyset paging: pages stay full and stable while
new artifacts arrive), the start of the time window (so every page sees the same window),
and a digest of the query it belongs to (a cursor used with another query is refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Final

from satchel.errors import ValidationError
from satchel.index import ArtifactQuery
from satchel.index.base import QueryPosition
from satchel.models import Artifact, format_time, utcnow
from satchel.validation import validate_duration

__all__ = [
    "SearchPage",
    "TextPosition",
    "decode_cursor",
    "decode_text_cursor",
    "encode_cursor",
    "encode_text_cursor",
    "window_start",
]

MAX_PAGE: Final = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPage:
    """One page of results and the cursor of the next page (None on the last page)."""

    items: list[Artifact] = field(default_factory=list)
    next_cursor: str | None = None


def window_start(time_window: str | None) -> str | None:
    """The start of a window like ``30s``, ``15m``, ``2h``, ``7d``, ``4w``, as stored time."""
    if time_window is None:
        return None
    return format_time(utcnow() - validate_duration(time_window, what="time_window"))


def _query_digest(query: ArtifactQuery, *text: str) -> str:
    shape = {
        "e": sorted(query.equals.items()),
        "t": sorted(query.tags_all),
        "l": sorted((k, type(v).__name__, v) for k, v in query.labels.items()),
        "m": [query.metric, query.metric_order],
        "h": sorted(query.has_metrics),
        "x": list(text),
    }
    # Only when set, so that cursors of queries without them stay what they were.
    if query.reader is not None:
        shape["r"] = [query.reader.user_id, query.reader.org_id, query.reader.email]
    if query.origin:
        shape["o"] = sorted(query.origin)
    return hashlib.sha256(json.dumps(shape, default=str).encode()).hexdigest()[:16]


def encode_cursor(query: ArtifactQuery, last: Artifact) -> str:
    """The cursor of the page after ``last`` in ``query``'s order."""
    assert last.created_at is not None
    body: dict[str, Any] = {
        "q": _query_digest(query),
        "c": format_time(last.created_at),
        "i": last.artifact_id,
        "s": query.created_since,
    }
    if query.metric is not None:
        body["m"] = last.metrics.get(query.metric)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(query: ArtifactQuery, cursor: str) -> ArtifactQuery:
    """``query`` continued after the cursor's position; refuses foreign or broken cursors."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        position = QueryPosition(
            created_at=str(body["c"]),
            artifact_id=str(body["i"]),
            metric_value=None if body.get("m") is None else float(body["m"]),
        )
        since = body.get("s")
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValidationError("not a valid cursor") from exc
    if body.get("q") != _query_digest(query):
        raise ValidationError("this cursor belongs to a different search")
    return replace(query, after=position, created_since=since)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextPosition:
    """Where the next page of a ranked text search starts."""

    query: ArtifactQuery  # the filters, bound to the first page's rows and window
    offset: int
    depth: int  # how many matches the search ranks and pages through


def _encode(body: dict[str, Any]) -> str:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def encode_text_cursor(query: ArtifactQuery, text: str, mode: str, offset: int, depth: int) -> str:
    """The cursor of a text search's page starting at ``offset``.

    A ranked list has no keyset, so the cursor pins the rows the first page saw
    (``recorded_until``) and the window start: later pages rank the same rows the same way,
    and artifacts saved meanwhile never shift or repeat results.
    """
    assert query.recorded_until is not None
    return _encode(
        {
            "q": _query_digest(query, text, mode),
            "o": offset,
            "d": depth,
            "r": query.recorded_until,
            "s": query.created_since,
        }
    )


def decode_text_cursor(query: ArtifactQuery, text: str, mode: str, cursor: str) -> TextPosition:
    """The filters and offset a text search's cursor continues from."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        offset, depth, until = int(body["o"]), int(body["d"]), int(body["r"])
        since = body.get("s")
        digest = body["q"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValidationError("not a valid cursor") from exc
    if digest != _query_digest(query, text, mode):
        raise ValidationError("this cursor belongs to a different search")
    if not 0 <= offset < depth <= 100 * MAX_PAGE:
        raise ValidationError("not a valid cursor")
    if since is not None and not isinstance(since, str):
        raise ValidationError("not a valid cursor")
    return TextPosition(
        query=replace(query, recorded_until=until, created_since=since),
        offset=offset,
        depth=depth,
    )
