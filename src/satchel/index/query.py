"""Turn an ``ArtifactQuery`` into one SQL statement (both dialects).

Label filters compare typed values: a string matches only a string label, a number only a
number label (3 matches 3 and 3.0), a boolean only a boolean. Nothing uses ``LIKE``, so
``%`` and ``_`` are ordinary characters.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select

from satchel.errors import ValidationError
from satchel.index.base import EQUALITY_COLUMNS, ArtifactQuery, LabelValue, QueryPosition
from satchel.index.positions import ARTIFACT_POSITION
from satchel.index.schema import artifact_labels, artifact_metrics, artifact_tags, artifacts
from satchel.models import format_time, parse_time

__all__ = [
    "FIRST_WALK",
    "MAX_WALK",
    "NARROW",
    "ROWID",
    "build_select",
    "filter_conditions",
    "label_row",
    "next_walk",
    "ranking_edge",
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


def _label_condition(key: str, value: LabelValue, owner: Any) -> Any:
    typed = label_row("", key, value)
    value_clause = (
        artifact_labels.c.vstr == typed["vstr"]
        if typed["vtype"] == "s"
        else artifact_labels.c.vnum == typed["vnum"]
    )
    return exists().where(
        artifact_labels.c.artifact_id == owner,
        artifact_labels.c.key == key,
        artifact_labels.c.vtype == typed["vtype"],
        value_clause,
    )


def _after(query: ArtifactQuery, ranked: bool) -> Any:
    """Rows strictly after ``query.after`` in the query's order (keyset paging)."""
    pos = query.after
    assert pos is not None
    # A ranked query orders by the metric row's copies (the columns its index holds).
    table = artifact_metrics if ranked else artifacts
    created, aid = table.c.created_at, table.c.artifact_id
    newer_first = or_(
        created < pos.created_at, and_(created == pos.created_at, aid < pos.artifact_id)
    )
    if not ranked:
        return newer_first
    if pos.metric_value is None:
        raise ValidationError("the cursor does not belong to a metric-ranked search")
    value = artifact_metrics.c.value
    beyond = value < pos.metric_value if query.metric_order == "max" else value > pos.metric_value
    return or_(beyond, and_(value == pos.metric_value, newer_first))


def filter_conditions(query: ArtifactQuery, owner: Any = None) -> list[Any]:
    """The WHERE conditions of a query's filters (no order, no paging, no metric join).

    ``owner`` is the artifact id column the tag and label lookups follow, by default the
    artifact row's. A ranking walk passes the metric row's (the same id): SQLite then
    looks up tags and labels before it reads the artifact row, and most rows end there.
    """
    owner = artifacts.c.artifact_id if owner is None else owner
    conditions: list[Any] = []
    for column_name, value in query.equals.items():
        if column_name not in EQUALITY_COLUMNS:
            raise ValidationError(f"cannot filter on {column_name!r}")
        column = artifacts.c[column_name]
        conditions.append(column.is_(None) if value is None else column == value)
    if not query.include_pending:
        conditions.append(artifacts.c.status == "completed")
    conditions.extend(
        exists().where(artifact_tags.c.artifact_id == owner, artifact_tags.c.tag == tag)
        for tag in query.tags_all
    )
    conditions.extend(_label_condition(key, value, owner) for key, value in query.labels.items())
    conditions.extend(
        exists().where(
            artifact_metrics.c.artifact_id == artifacts.c.artifact_id,
            artifact_metrics.c.name == name,
        )
        for name in query.has_metrics
    )
    if query.recorded_until is not None:
        conditions.append(query.recorded_until >= ROWID)
    if query.created_since is not None:
        # Stored times are fixed-width text; normalise so "…17Z" or "+01:00" compare as times.
        since = format_time(parse_time(query.created_since))
        conditions.append(artifacts.c.created_at >= since)
    return conditions


#: Equality filters that narrow a query to few artifacts, found through their own index
#: (``ix_artifacts_run`` and the like); such a query never walks a metric's ranking.
NARROW: Final = frozenset({"run_id", "node_id", "graph_id"})
#: How many rows of a metric's ranking a ranked query reads first, and at most after that
#: (estimated from the share of the first stretch the filters passed) before it sorts.
FIRST_WALK: Final = 2000
MAX_WALK: Final = 64000


def _ranked(query: ArtifactQuery) -> bool:
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
    return _ranked(query) and query.limit is not None and not NARROW & query.equals.keys()


def next_walk(walked: int, passed: int, missing: int) -> int | None:
    """How many more ranking rows to read for ``missing`` rows, having read ``walked`` of
    which ``passed`` passed the filters; None: sort instead."""
    if passed == 0:
        return None
    # Half again the estimate: the walk stops at a full page anyway, so reading too far is
    # free, while stopping short costs another round.
    needed = missing * walked * 3 // (passed * 2) + 1
    return needed if needed <= MAX_WALK else None


def _metric_conditions(query: ArtifactQuery, *, kind: bool = True) -> list[Any]:
    """Conditions on the metric row alone: name, kind (its copy), the cursor."""
    conditions = [artifact_metrics.c.name == query.metric]
    if kind and "kind" in query.equals:
        # Said of the metric row too, so that ix_artifact_metrics_rank (name, kind, value,
        # created_at, artifact_id) serves the filter and the order: no sort.
        value = query.equals["kind"]
        column = artifact_metrics.c.kind
        conditions.append(column.is_(None) if value is None else column == value)
    if query.after is not None:
        conditions.append(_after(query, ranked=True))
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
    query: ArtifactQuery, *, until: QueryPosition | None = None, sort: bool = False
) -> Select[Any]:
    """SELECT the artifact rows a query asks for, ordered and limited.

    Args:
        query: the filters, order and limit.
        until: for a metric-ranked query, only rows up to this one of the ranking (a
            bounded walk, see ``ranking_walks``).
        sort: for a metric-ranked query, find the rows through the filters and sort them
            rather than read the ranking in order (for filters that pass few rows).
    """
    statement: Select[Any]
    if _ranked(query):
        m = artifact_metrics.c
        conditions = filter_conditions(query, None if sort else m.artifact_id)
        # Sorting: no kind on the metric row, or the planner reads the whole kind off the
        # ranking index in random order instead of off ix_artifacts_kind in table order.
        conditions.extend(_metric_conditions(query, kind=not sort))
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
        conditions = filter_conditions(query)
        if query.after is not None:
            conditions.append(_after(query, ranked=False))
        statement = (
            select(artifacts)
            .where(*conditions)
            .order_by(artifacts.c.created_at.desc(), artifacts.c.artifact_id.desc())
        )
    if query.limit is not None:
        if query.limit < 0:
            raise ValidationError(f"limit must not be negative, got {query.limit}")
        statement = statement.limit(query.limit)
    return statement
