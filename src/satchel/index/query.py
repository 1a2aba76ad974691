"""Turn an ``ArtifactQuery`` into one SQL statement (both dialects).

Label filters compare typed values: a string matches only a string label, a number only a
number label (3 matches 3 and 3.0), a boolean only a boolean. Nothing uses ``LIKE``, so
``%`` and ``_`` are ordinary characters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, exists, or_, select

from satchel.errors import ValidationError
from satchel.index.base import EQUALITY_COLUMNS, ArtifactQuery, LabelValue
from satchel.index.schema import artifact_labels, artifact_metrics, artifact_tags, artifacts
from satchel.models import format_time, parse_time

__all__ = ["build_select", "filter_conditions", "label_row"]


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


def _label_condition(key: str, value: LabelValue) -> Any:
    typed = label_row("", key, value)
    value_clause = (
        artifact_labels.c.vstr == typed["vstr"]
        if typed["vtype"] == "s"
        else artifact_labels.c.vnum == typed["vnum"]
    )
    return exists().where(
        artifact_labels.c.artifact_id == artifacts.c.artifact_id,
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


def filter_conditions(query: ArtifactQuery) -> list[Any]:
    """The WHERE conditions of a query's filters (no order, no paging, no metric join)."""
    conditions: list[Any] = []
    for column_name, value in query.equals.items():
        if column_name not in EQUALITY_COLUMNS:
            raise ValidationError(f"cannot filter on {column_name!r}")
        column = artifacts.c[column_name]
        conditions.append(column.is_(None) if value is None else column == value)
    if not query.include_pending:
        conditions.append(artifacts.c.status == "completed")
    conditions.extend(
        exists().where(
            artifact_tags.c.artifact_id == artifacts.c.artifact_id, artifact_tags.c.tag == tag
        )
        for tag in query.tags_all
    )
    conditions.extend(_label_condition(key, value) for key, value in query.labels.items())
    conditions.extend(
        exists().where(
            artifact_metrics.c.artifact_id == artifacts.c.artifact_id,
            artifact_metrics.c.name == name,
        )
        for name in query.has_metrics
    )
    if query.created_since is not None:
        # Stored times are fixed-width text; normalise so "…17Z" or "+01:00" compare as times.
        since = format_time(parse_time(query.created_since))
        conditions.append(artifacts.c.created_at >= since)
    return conditions


def build_select(query: ArtifactQuery) -> Select[Any]:
    """SELECT the artifact rows a query asks for, ordered and limited."""
    conditions = filter_conditions(query)
    ranked = query.metric is not None and query.metric_order is not None
    if query.after is not None:
        conditions.append(_after(query, ranked))

    statement: Select[Any]
    if ranked:
        metric_value = artifact_metrics.c.value
        if "kind" in query.equals:
            # Said of the metric row too, so that ix_artifact_metrics_rank (name, kind,
            # value, created_at, artifact_id) serves the filter and the order: no sort.
            kind = query.equals["kind"]
            column = artifact_metrics.c.kind
            conditions.append(column.is_(None) if kind is None else column == kind)
        statement = (
            select(artifacts)
            .join(
                artifact_metrics,
                and_(
                    artifact_metrics.c.artifact_id == artifacts.c.artifact_id,
                    artifact_metrics.c.name == query.metric,
                ),
            )
            .where(*conditions)
            .order_by(
                metric_value.desc() if query.metric_order == "max" else metric_value.asc(),
                artifact_metrics.c.created_at.desc(),
                artifact_metrics.c.artifact_id.desc(),
            )
        )
    else:
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
