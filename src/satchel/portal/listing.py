"""What the artifacts page lists: filters from the URL, pages, and the fuzzy search box.

Every query carries the caller's ``Reader``, so the access filter is inside the index's own
SQL on every path (DESIGN.md invariant 5); nothing here filters access in Python.

- Browsing (no search text) is newest first with keyset paging. Several kinds, and the
  caller's own pending artifacts (which only their creator sees), are separate queries of
  the index, each newest first from the same position, merged: a page is the newest
  ``PAGE`` rows of their union, and its cursor is the last row's position.
- The search box takes the index's lexical search (whole words, words one edit away,
  substrings: a partial id or a name with a typo) for its ``SEARCH_DEPTH`` best
  candidates, then ranks them by a fuzzy score over id, name, type and run (``rapidfuzz``).
  A word that is (nearly) a status, such as ``pending``, filters by that status instead.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, cast
from urllib.parse import urlencode

from rapidfuzz import fuzz, utils

from satchel.errors import ValidationError
from satchel.index.base import ORIGINS, ArtifactQuery, KindListing, Origin, QueryPosition
from satchel.models import Artifact, ArtifactStatus, format_time
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor
from satchel.validation import validate_token

__all__ = [
    "PAGE",
    "SEARCH_DEPTH",
    "WELL_KNOWN_KINDS",
    "Filters",
    "ListPage",
    "list_page",
    "parse_filters",
    "run_page",
    "visible_kinds",
]

PAGE: Final = 50
#: Lexical candidates the fuzzy ranking reorders; results past them are not shown.
SEARCH_DEPTH: Final = 200
#: The kinds seeds/000 names; the type filter always offers them.
WELL_KNOWN_KINDS: Final = ("checkpoint", "metric", "log", "result")
#: Kinds the type filter offers at most, besides the well-known ones.
KIND_LIMIT: Final = 50
MAX_QUERY: Final = 200
#: A user's own uploads in progress listed at most (they are few: each one is a save that
#: has not finished sending its files).
PENDING_SHOWN: Final = 1000
_STATUSES: Final[tuple[ArtifactStatus, ...]] = ("completed", "pending")
_STATUS_SCORE: Final = 85


@dataclass(frozen=True, slots=True, kw_only=True)
class Filters:
    """The list page's filters, as its URL says them."""

    origins: tuple[Origin, ...] = ()
    kinds: tuple[str, ...] = ()
    q: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.origins or self.kinds or self.q)

    def url(self, **extra: str | int | None) -> str:
        """The list page's URL with these filters (and ``extra`` parameters)."""
        params: list[tuple[str, str]] = [("origin", o) for o in self.origins]
        params += [("kind", k) for k in self.kinds]
        if self.q:
            params.append(("q", self.q))
        params += [(k, str(v)) for k, v in extra.items() if v is not None]
        return "/artifacts" + (f"?{urlencode(params)}" if params else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPage:
    """One page of the list, and where the next one starts (None: the last page)."""

    items: list[Artifact] = field(default_factory=list)
    next_url: str | None = None
    searched: bool = False


def parse_filters(origin: Sequence[str], kind: Sequence[str], q: str | None) -> Filters:
    """The filters of a list URL; unknown origins and malformed kinds are refused."""
    unknown = sorted(set(origin) - ORIGINS)
    if unknown:
        raise ValidationError(f"unknown creator filter {unknown[0]!r}")
    origins = tuple(o for o in ("mine", "org", "shared") if o in origin)
    kinds = tuple(dict.fromkeys(validate_token(k, what="type") for k in kind if k))
    text = (q or "").strip()
    if len(text) > MAX_QUERY:
        raise ValidationError(f"a search is at most {MAX_QUERY} characters")
    return Filters(origins=cast(tuple[Origin, ...], origins), kinds=kinds, q=text or None)


def _encode(position: QueryPosition) -> str:
    raw = json.dumps([position.created_at, position.artifact_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(after: str) -> QueryPosition:
    try:
        created, artifact_id = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
        return QueryPosition(created_at=str(created), artifact_id=str(artifact_id))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValidationError("this page's link is not valid; start from the first page") from exc


def _position(artifact: Artifact) -> QueryPosition:
    assert artifact.created_at is not None
    return QueryPosition(
        created_at=format_time(artifact.created_at), artifact_id=artifact.artifact_id
    )


def _own_pending(
    state: ServerState, actor: Actor, filters: Filters, position: QueryPosition | None
) -> list[Artifact]:
    """The caller's uploads in progress that the page's filters pass, from ``position`` on.

    Pending artifacts are their creator's alone (``find_readable`` says the same); they are
    mine and of my organisation, never shared.
    """
    origin = frozenset(filters.origins)
    if origin and not {"mine", "org"} & origin:
        return []
    found = state.uploads.pending_of(actor.user_id, PENDING_SHOWN)
    if filters.kinds:
        found = [a for a in found if a.kind in filters.kinds]
    if position is not None:
        key = (position.created_at, position.artifact_id)
        found = [a for a in found if (_position(a).created_at, a.artifact_id) < key]
    return found


def _browse(
    state: ServerState,
    actor: Actor,
    filters: Filters,
    status: ArtifactStatus | None,
    after: str | None,
) -> ListPage:
    position = None if after is None else _decode(after)
    origin = frozenset(filters.origins)
    rows: list[Artifact] = []
    if status in (None, "completed"):
        for kind in filters.kinds or (None,):
            rows += state.store.query(
                ArtifactQuery(
                    equals={} if kind is None else {"kind": kind},
                    reader=actor.reader,
                    origin=origin,
                    after=position,
                    limit=PAGE + 1,
                )
            )
    if status in (None, "pending"):
        rows += _own_pending(state, actor, filters, position)
    rows.sort(key=lambda a: (_position(a).created_at, a.artifact_id), reverse=True)
    if len(rows) <= PAGE:
        return ListPage(items=rows)
    rows = rows[:PAGE]
    return ListPage(items=rows, next_url=filters.url(after=_encode(_position(rows[-1]))))


def _status_words(text: str) -> tuple[ArtifactStatus | None, str]:
    """The status a search names (``pending``, ``completd``...) and the rest of its text."""
    status: ArtifactStatus | None = None
    rest = []
    for word in text.split():
        match = next((s for s in _STATUSES if fuzz.ratio(word.lower(), s) >= _STATUS_SCORE), None)
        if match is not None and status in (None, match):
            status = match
        else:
            rest.append(word)
    return status, " ".join(rest)


def fuzzy_score(text: str, artifact: Artifact) -> float:
    """How well ``text`` matches the artifact's id, name, type or run (0 to 100)."""
    wanted = utils.default_process(text)
    if not wanted:
        return 0.0
    ident = artifact.artifact_id.lower()
    best = 100.0 if ident.startswith(wanted) else 0.0
    if len(wanted) >= 4:
        best = max(best, fuzz.partial_ratio(wanted, ident))
    for value in (artifact.name, artifact.kind, artifact.run_id, artifact.model_id):
        if value:
            best = max(best, fuzz.WRatio(wanted, utils.default_process(value)))
    return best


def _search(state: ServerState, actor: Actor, filters: Filters, text: str, page: int) -> ListPage:
    kinds = filters.kinds
    equals: dict[str, str | None] = {"kind": kinds[0]} if len(kinds) == 1 else {}
    base = ArtifactQuery(equals=equals, reader=actor.reader, origin=frozenset(filters.origins))
    found = state.searcher.ranked(text, "lexical", base, SEARCH_DEPTH)
    if len(kinds) > 1:
        found = [a for a in found if a.kind in kinds]
    ranked = sorted(found, key=lambda a: -fuzzy_score(text, a))  # stable: ties keep BM25's order
    start = (page - 1) * PAGE
    more = len(ranked) > start + PAGE
    return ListPage(
        items=ranked[start : start + PAGE],
        next_url=filters.url(page=page + 1) if more else None,
        searched=True,
    )


def list_page(
    state: ServerState, actor: Actor, filters: Filters, *, after: str | None, page: int
) -> ListPage:
    """The page of the list that ``filters``, ``after`` (browsing) or ``page`` (search) ask for."""
    status, text = _status_words(filters.q or "")
    if text:
        if status == "pending":
            return ListPage(searched=True)  # the text index holds completed artifacts only
        return _search(state, actor, filters, text, page)
    return _browse(state, actor, filters, status, after)


def visible_kinds(state: ServerState, actor: Actor, selected: Sequence[str]) -> list[str]:
    """The type filter's choices: the well-known kinds, then the other kinds of what the
    caller's organisation holds or was granted (``KindListing``), then any selected kind
    not among them."""
    offered = list(WELL_KNOWN_KINDS)
    index = state.store.index
    if isinstance(index, KindListing):
        found = index.kinds(KIND_LIMIT + len(WELL_KNOWN_KINDS), reader=actor.reader)
        offered += [k for k in found if k not in offered][:KIND_LIMIT]
    offered += [k for k in selected if k not in offered]
    return offered


def run_page(
    state: ServerState, actor: Actor, run_id: str, *, after: str | None, base: str
) -> ListPage:
    """A newest-first page of the artifacts of one run the caller may read."""
    query = ArtifactQuery(
        equals={"run_id": run_id},
        reader=actor.reader,
        after=None if after is None else _decode(after),
        limit=PAGE + 1,
    )
    rows = state.store.query(query)
    if len(rows) <= PAGE:
        return ListPage(items=rows)
    rows = rows[:PAGE]
    return ListPage(
        items=rows, next_url=f"{base}?{urlencode({'after': _encode(_position(rows[-1]))})}"
    )
