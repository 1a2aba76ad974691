"""Turn an ``ArtifactQuery`` into one SQL statement (both dialects).

Label filters compare typed values: a string matches only a string label, a number only a
number label (3 matches 3 and 3.0), a boolean only a boolean. Nothing uses ``LIKE``, so
``%`` and ``_`` are ordinary characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    exists,
    intersect,
    or_,
    select,
    union_all,
)

from satchel.errors import ValidationError
from satchel.index.base import (
    EQUALITY_COLUMNS,
    ORIGINS,
    ArtifactQuery,
    LabelValue,
    Origin,
    QueryPosition,
    Reader,
)
from satchel.index.positions import ARTIFACT_POSITION
from satchel.index.schema import (
    artifact_labels,
    artifact_metrics,
    artifact_tags,
    artifacts,
    grants,
)
from satchel.models import format_time, parse_time

__all__ = [
    "FETCH_WALKS",
    "FIRST_WALK",
    "MAX_WALK",
    "NARROW",
    "ROWID",
    "SCOPE_COLUMNS",
    "Driver",
    "build_select",
    "driven_ids",
    "driven_ranking",
    "driver_candidates",
    "driver_rows",
    "filter_conditions",
    "is_ranked",
    "label_row",
    "next_walk",
    "ranked_rows",
    "ranking_edge",
    "readable",
    "reader_rows",
    "walks_ranking",
]

#: The order artifact rows were recorded in: SQLite's rowid, PostgreSQL's ``seq`` (``positions``).
ROWID: ColumnElement[int] = ARTIFACT_POSITION


def label_row(artifact_id: str, key: str, value: LabelValue) -> dict[str, Any]:
    """The typed row that stores one label."""
    if isinstance(value, bool):
        return {
            "artifact_id": artifact_id,
            "key": key,
            "vtype": "b",
            "vstr": None,
            "vnum": 1.0 if value else 0.0,
        }
    if isinstance(value, int | float):
        return {
            "artifact_id": artifact_id,
            "key": key,
            "vtype": "n",
            "vstr": None,
            "vnum": float(value),
        }
    return {"artifact_id": artifact_id, "key": key, "vtype": "s", "vstr": value, "vnum": None}


def _label_match(key: str, value: LabelValue) -> list[Any]:
    """Conditions on a label row that holds ``key = value`` (typed)."""
    typed = label_row("", key, value)
    if typed["vtype"] == "s":
        # Only string labels have a vstr: no type check needed, and none wanted, since
        # ix_artifact_labels_str (key, vstr, kind, artifact_id) then answers on its own.
        return [artifact_labels.c.key == key, artifact_labels.c.vstr == typed["vstr"]]
    return [
        artifact_labels.c.key == key,
        artifact_labels.c.vnum == typed["vnum"],
        artifact_labels.c.vtype == typed["vtype"],
    ]


def _label_condition(key: str, value: LabelValue, owner: Any) -> Any:
    return exists().where(artifact_labels.c.artifact_id == owner, *_label_match(key, value))


#: A filter whose own index can list the artifacts it passes: ("label", key), ("tag", tag),
#: ("column", name) for a scope column with an index of its own, or ("reader", "") for
#: the access filter (``reader_rows``).
Driver = tuple[Literal["label", "tag", "column", "reader"], str]

#: Scope columns whose index (``ix_artifacts_<scope>``) is a way in of its own.
SCOPE_COLUMNS: Final = ("session_id", "user_id", "org_id")


def driver_candidates(query: ArtifactQuery) -> list[Driver]:
    """The query's filters that could drive it (see ``driver_rows``)."""
    found: list[Driver] = [("label", key) for key in query.labels]
    found.extend(("tag", tag) for tag in query.tags_all)
    if query.reader is not None:
        found.append(("reader", ""))
    found.extend(
        ("column", name)
        for name in SCOPE_COLUMNS
        if name in query.equals and query.equals[name] is not None
    )
    return found


def driver_rows(query: ArtifactQuery, driver: Driver) -> Select[Any]:
    """The ids of the artifacts one filter passes, read off that filter's index alone.

    Label and tag rows carry their artifact's kind (migration 0005), so with a ``kind``
    filter this is the range of ``(key, value, kind)`` in the index: the artifacts both
    filters pass, without reading an artifact row.
    """
    source, name = driver
    if source == "reader":
        return reader_rows(query)
    if source == "column":  # counted only: a scope's own index is the planner's to pick
        return select(artifacts.c.artifact_id).where(artifacts.c[name] == query.equals[name])
    if source == "label":
        table, conditions = artifact_labels, _label_match(name, query.labels[name])
    else:
        table, conditions = artifact_tags, [artifact_tags.c.tag == name]
    if "kind" in query.equals:
        kind = query.equals["kind"]
        conditions.append(table.c.kind.is_(None) if kind is None else table.c.kind == kind)
    return select(table.c.artifact_id).where(*conditions)


def reader_rows(query: ArtifactQuery) -> Select[Any]:
    """The ids of the artifacts the query's reader may read (of its origins, and of the
    kind when it has one), off the indexes that list them: the reader's own
    (``ix_artifacts_user``), its org's (``ix_artifacts_org``), and its grants
    (``ix_grants_email``, ``ix_grants_org``). An artifact may be listed more than once.

    A reader who may read few artifacts of a large index (a partner shown what was shared
    with it) then starts from those, where reading newest first would pass them all by.
    """
    reader = query.reader
    assert reader is not None
    origin = query.origin or ORIGINS
    a = artifacts.c
    kind: list[Any] = []
    org_kind: list[Any] = []
    if "kind" in query.equals:
        # Through no index: the kind's own would pass half the table where the reader's
        # passes a few rows (the planner's statistics cannot tell a small org from a big one).
        value = query.equals["kind"]
        kind.append(a.kind.is_(None) if value is None else _unindexed(a.kind) == value)
        # The org's rows of a kind are one range of ix_artifacts_org_kind (migration 0007).
        org_kind.append(a.kind.is_(None) if value is None else a.kind == value)
    parts: list[Select[Any]] = []
    # The org's part first: it is the largest and, with a kind, read off its own index, so
    # a count capped below it (``drive.choose``) ends there without reading the user's rows.
    if "org" in origin:
        parts.append(select(a.artifact_id).where(a.org_id == reader.org_id, *org_kind))
    if "mine" in origin:
        parts.append(select(a.artifact_id).where(a.user_id == reader.user_id, *kind))
    if "shared" in origin:
        for recipient in (
            grants.c.recipient_email == reader.email.lower(),
            grants.c.recipient_org_id == reader.org_id,
        ):
            granted = select(grants.c.artifact_id.label("artifact_id")).where(recipient)
            if kind:
                granted = granted.join(artifacts, a.artifact_id == grants.c.artifact_id).where(
                    *kind
                )
            parts.append(granted)
    ids = union_all(*parts).subquery("readable_ids")
    return select(ids.c.artifact_id).select_from(ids)


def _after(query: ArtifactQuery, ranked: bool, *, driven: bool = False) -> Any:
    """Rows strictly after ``query.after`` in the query's order (keyset paging); through no
    index when ``driven`` (see ``_unindexed``)."""
    pos = query.after
    assert pos is not None
    # A ranked query orders by the metric row's copies (the columns its index holds).
    table = artifact_metrics if ranked else artifacts
    created: ColumnElement[Any] = table.c.created_at
    aid: ColumnElement[Any] = table.c.artifact_id
    if driven:
        created, aid = _unindexed(created), _unindexed(aid)
    newer_first = or_(
        created < pos.created_at, and_(created == pos.created_at, aid < pos.artifact_id)
    )
    if not ranked:
        return newer_first
    if pos.metric_value is None:
        raise ValidationError("the cursor does not belong to a metric-ranked search")
    value = artifact_metrics.c.value
    if query.metric_order == "max":
        beyond, reach = value < pos.metric_value, value <= pos.metric_value
    else:
        beyond, reach = value > pos.metric_value, value >= pos.metric_value
    # ``reach`` alone bounds the ranking index's range (as in ``_until``): without it the
    # planner answers the OR with a MULTI-INDEX OR, reading the whole stretch into a temp
    # B-tree and sorting it, ten times the cost of walking it in order.
    return and_(reach, or_(beyond, and_(value == pos.metric_value, newer_first)))


def driven_ids(
    query: ArtifactQuery, drivers: Sequence[Driver]
) -> Select[Any] | CompoundSelect[Any]:
    """The ids every one of ``drivers`` passes: one filter's index entries, or the
    INTERSECT of several (each a range of index entries, so a few milliseconds for tens of
    thousands, where reading as many artifact rows takes a hundred)."""
    parts = [driver_rows(query, d) for d in drivers]
    return parts[0] if len(parts) == 1 else intersect(*parts)


def _unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column || ''``: the same value and test, but through no index (SQLite's ``+col``).

    A driven sort (``driver_rows``) says its other conditions this way, so that the planner
    starts from the driver, the smallest way in as counted, and never from a scope's or
    the metric's index, which its statistics cannot tell apart from a small one.
    """
    return column.concat("")


def readable(
    reader: Reader,
    origin: frozenset[Origin] = frozenset(),
    *,
    owner: Any = None,
    driven: bool = False,
) -> ColumnElement[bool]:
    """The access filter (DESIGN.md): the artifacts ``reader`` may read, of ``origin``.

    Readable: created by the reader, of the reader's org, or named by a grant to the
    reader's email or org. ``origin`` narrows that to a union of "mine" (created by the
    reader), "org" (of the reader's org) and "shared" (of another org, granted to the
    reader); empty means all three. ``owner`` is the artifact id column the grant lookup
    follows (see ``filter_conditions``); ``driven`` says the row's columns through no
    index, as a driven sort says its other conditions (``_unindexed``).
    """
    unknown = set(origin) - ORIGINS
    if unknown:
        raise ValidationError(f"unknown origin {sorted(unknown)!r}; use any of {sorted(ORIGINS)!r}")
    owner = artifacts.c.artifact_id if owner is None else owner
    user: ColumnElement[Any] = artifacts.c.user_id
    org: ColumnElement[Any] = artifacts.c.org_id
    if driven:
        user, org = _unindexed(user), _unindexed(org)
    # The per-artifact probe of uq_grants_email / uq_grants_org (artifact_id first).
    granted = exists().where(
        grants.c.artifact_id == owner,
        or_(
            grants.c.recipient_email == reader.email.lower(),
            grants.c.recipient_org_id == reader.org_id,
        ),
    )
    mine = user == reader.user_id
    ours = org == reader.org_id
    if not origin:
        return or_(mine, ours, granted)
    shared = and_(granted, or_(org.is_(None), org != reader.org_id))
    parts = {"mine": mine, "org": ours, "shared": shared}
    return or_(*(parts[name] for name in sorted(origin)))


def filter_conditions(
    query: ArtifactQuery,
    owner: Any = None,
    drivers: Sequence[Driver] = (),
    driven: Sequence[str] | None = None,
) -> list[Any]:
    """The WHERE conditions of a query's filters (no order, no paging, no metric join).

    ``owner`` is the artifact id column the tag and label lookups follow, by default the
    artifact row's. A ranking walk passes the metric row's (the same id): SQLite then
    looks up tags and labels before it reads the artifact row, and most rows end there.
    ``drivers`` names the filters (and, with them, the kind) said as ``artifact_id IN
    (driven_ids)`` rather than looked up a row at a time: the planner then starts there.
    ``driven``, when given, is what ``driven_ids`` found already: the ids themselves.
    """
    owner = artifacts.c.artifact_id if owner is None else owner
    conditions: list[Any] = []
    for column_name, value in query.equals.items():
        if column_name not in EQUALITY_COLUMNS:
            raise ValidationError(f"cannot filter on {column_name!r}")
        if column_name == "kind" and drivers:
            continue  # the drivers' rows are of the kind; their index is the way in
        column: ColumnElement[Any] = artifacts.c[column_name]
        if drivers:
            column = _unindexed(column)
        conditions.append(column.is_(None) if value is None else column == value)
    if not query.include_pending:
        conditions.append(artifacts.c.status == "completed")
    if drivers:
        ids = driven_ids(query, drivers) if driven is None else list(driven)
        conditions.append(artifacts.c.artifact_id.in_(ids))
    conditions.extend(
        exists().where(artifact_tags.c.artifact_id == owner, artifact_tags.c.tag == tag)
        for tag in query.tags_all
        if ("tag", tag) not in drivers
    )
    conditions.extend(
        _label_condition(key, value, owner)
        for key, value in query.labels.items()
        if ("label", key) not in drivers
    )
    conditions.extend(
        exists().where(
            artifact_metrics.c.artifact_id == artifacts.c.artifact_id,
            artifact_metrics.c.name == name,
        )
        for name in query.has_metrics
    )
    if query.reader is not None:
        conditions.append(readable(query.reader, query.origin, owner=owner, driven=bool(drivers)))
    elif query.origin:
        raise ValidationError("an origin filter needs a reader (whose artifacts are 'mine'?)")
    if query.recorded_until is not None:
        conditions.append(query.recorded_until >= ROWID)
    if query.created_since is not None:
        # Stored times are fixed-width text; normalise so "…17Z" or "+01:00" compare as times.
        since = format_time(parse_time(query.created_since))
        created = artifacts.c.created_at
        conditions.append((_unindexed(created) if drivers else created) >= since)
    return conditions


#: Equality filters that narrow a query to few artifacts, found through their own index
#: (``ix_artifacts_run`` and the like); such a query never walks a metric's ranking.
NARROW: Final = frozenset({"run_id", "node_id", "graph_id"})
#: How many rows of a metric's ranking a ranked query reads first, and at most after that
#: (estimated from the share of the first stretch the filters passed) before it sorts.
FIRST_WALK: Final = 1000
MAX_WALK: Final = 64000
#: What reading one artifact for a sort costs, in walked rows (measured at 1M artifacts).
FETCH_WALKS: Final = 4


def is_ranked(query: ArtifactQuery) -> bool:
    return query.metric is not None and query.metric_order is not None


def walks_ranking(query: ArtifactQuery) -> bool:
    """Whether a ranked query reads its metric's ranking in order, a bounded stretch at a time.

    Reading the ranking (``ix_artifact_metrics_rank``) in order and filtering as it goes
    finds the first page after about ``limit / share`` rows, ``share`` being the part of
    the kind the filters pass: milliseconds for a label or two, a whole kind in random
    order when the filters pass a few in ten thousand. So the walk reads ``FIRST_WALK``
    rows, then as many more as the share it saw says the page needs (up to ``MAX_WALK``),
    and sorts what the filters pass beyond when that is not enough (``next_walk``). A
    narrow query (one run, graph or node) is left to the planner, which finds the run's
    rows through their own index and sorts them.
    """
    return is_ranked(query) and query.limit is not None and not NARROW & query.equals.keys()


def next_walk(walked: int, passed: int, missing: int, sort_rows: int = MAX_WALK) -> int | None:
    """How many more ranking rows to read for ``missing`` rows, having read ``walked`` of
    which ``passed`` passed the filters; None: sort instead.

    ``sort_rows`` is what sorting would read instead: the artifacts its drivers pass
    (``drive.choose``). Reading one costs about ``FETCH_WALKS`` walked rows (a whole
    artifact row and its metric row, where a walked row is a few index probes).
    """
    if passed == 0:
        return None
    # Half again the estimate: the walk stops at a full page anyway, so reading too far is
    # free, while stopping short costs another round.
    needed = missing * walked * 3 // (passed * 2) + 1
    return needed if needed <= min(MAX_WALK, FETCH_WALKS * sort_rows) else None


def _metric_conditions(
    query: ArtifactQuery, *, kind: bool = True, driven: bool = False
) -> list[Any]:
    """Conditions on the metric row alone: name, kind (its copy), the cursor.

    ``driven``: the name through no index, so a driven sort finds the metric row by its
    primary key from the driver's ids rather than walking the metric's whole ranking.
    """
    name = artifact_metrics.c.name
    conditions = [(_unindexed(name) if driven else name) == query.metric]
    if kind and "kind" in query.equals:
        # Said of the metric row too, so that ix_artifact_metrics_rank (name, kind, value,
        # created_at, artifact_id) serves the filter and the order: no sort.
        value = query.equals["kind"]
        column = artifact_metrics.c.kind
        conditions.append(column.is_(None) if value is None else column == value)
    if query.after is not None:
        conditions.append(_after(query, ranked=True, driven=driven))
    return conditions


def _until(query: ArtifactQuery, edge: QueryPosition) -> Any:
    """Metric rows up to and including ``edge`` in the ranking's order."""
    m = artifact_metrics.c
    assert edge.metric_value is not None
    if query.metric_order == "max":
        better, reach = m.value > edge.metric_value, m.value >= edge.metric_value
    else:
        better, reach = m.value < edge.metric_value, m.value <= edge.metric_value
    tied = and_(
        m.value == edge.metric_value,
        or_(
            m.created_at > edge.created_at,
            and_(m.created_at == edge.created_at, m.artifact_id >= edge.artifact_id),
        ),
    )
    # ``reach`` alone is a range the index scan stops at; the rest settles ties exactly.
    return and_(reach, or_(better, tied))


def _rank_order(query: ArtifactQuery, value: Any, created: Any, aid: Any) -> list[Any]:
    """Metric value (max: descending, min: ascending), then newest first."""
    return [
        value.desc() if query.metric_order == "max" else value.asc(),
        created.desc(),
        aid.desc(),
    ]


def ranking_edge(query: ArtifactQuery, walk: int) -> Select[Any]:
    """The ``walk``-th metric row of a ranked query's ranking past its cursor (one row of
    value, created_at, artifact_id; none when the ranking is shorter): read off the
    covering ranking index, without touching the artifacts."""
    m = artifact_metrics.c
    return (
        select(m.value, m.created_at, m.artifact_id)
        .where(*_metric_conditions(query))
        .order_by(*_rank_order(query, m.value, m.created_at, m.artifact_id))
        .offset(walk - 1)
        .limit(1)
    )


def build_select(
    query: ArtifactQuery,
    *,
    until: QueryPosition | None = None,
    sort: bool = False,
    drivers: Sequence[Driver] = (),
    driven: Sequence[str] | None = None,
) -> Select[Any]:
    """SELECT the artifact rows a query asks for, ordered and limited.

    Args:
        query: the filters, order and limit.
        until: for a metric-ranked query, only rows up to this one of the ranking (a
            bounded walk, see ``ranking_walks``).
        sort: for a metric-ranked query, find the rows through the filters and sort them
            rather than read the ranking in order (for filters that pass few rows).
        drivers: the filters whose own indexes list the candidates (``driven_ids``), for
            a sorted query; without them, the planner picks an index of the artifact row.
        driven: the ids the drivers pass, when already read (``filter_conditions``).
    """
    statement: Select[Any]
    if is_ranked(query):
        m = artifact_metrics.c
        conditions = (
            filter_conditions(query, drivers=drivers, driven=driven)
            if sort
            else filter_conditions(query, m.artifact_id)
        )
        # Sorting: no kind on the metric row, or the planner reads the whole kind off the
        # ranking index in random order instead of off ix_artifacts_kind in table order.
        conditions.extend(_metric_conditions(query, kind=not sort, driven=bool(drivers)))
        if until is not None:
            conditions.append(_until(query, until))
        # "+ 0" keeps the ranking index out of the ORDER BY: the planner then finds the
        # rows through the filters' indexes and sorts them.
        value = m.value + 0 if sort else m.value
        statement = (
            select(artifacts)
            .join(artifact_metrics, m.artifact_id == artifacts.c.artifact_id)
            .where(*conditions)
            .order_by(*_rank_order(query, value, m.created_at, m.artifact_id))
        )
    else:
        conditions = filter_conditions(query, drivers=drivers, driven=driven)
        if query.after is not None:
            conditions.append(_after(query, ranked=False, driven=bool(drivers)))
        created = artifacts.c.created_at
        statement = (
            select(artifacts)
            .where(*conditions)
            # Driven: sorted, not read in order off ix_artifacts_created checking each row.
            .order_by(
                (_unindexed(created) if drivers else created).desc(),
                artifacts.c.artifact_id.desc(),
            )
        )
    if query.limit is not None:
        if query.limit < 0:
            raise ValidationError(f"limit must not be negative, got {query.limit}")
        statement = statement.limit(query.limit)
    return statement


def driven_ranking(
    query: ArtifactQuery, drivers: Sequence[Driver], driven: Sequence[str] | None
) -> Select[Any]:
    """The ids its drivers pass, in a ranked query's order past its cursor: sorted off
    their metric rows alone (one primary-key probe each), no artifact row read.

    A driven sort then reads artifact rows for the head of this order only, a page or two
    (``ranked_rows``), where sorting whole rows read every one the drivers pass.
    """
    m = artifact_metrics.c
    ids = driven_ids(query, drivers) if driven is None else list(driven)
    # The name through no index: the ids' primary keys are the way in, not the ranking.
    conditions = [m.artifact_id.in_(ids), _unindexed(m.name) == query.metric]
    if query.after is not None:
        conditions.append(_after(query, ranked=True, driven=True))
    return (
        select(m.artifact_id)
        .where(*conditions)
        .order_by(*_rank_order(query, m.value, m.created_at, m.artifact_id))
    )


def ranked_rows(query: ArtifactQuery, drivers: Sequence[Driver], ids: Sequence[str]) -> Select[Any]:
    """The artifact rows of ``ids`` (a stretch of ``driven_ranking``) that pass every
    other filter, in no order: the caller keeps the ranking's."""
    return select(artifacts).where(*filter_conditions(query, drivers=drivers, driven=ids))
