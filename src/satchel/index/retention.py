"""Retention policies in SQL, and the rows one policy selects: statements for ``SqlIndex``.

Planning reads one statement per policy with only the columns it needs: the completed
artifacts of the policy's org, kind and run family (the run and its descendants, by a
recursive CTE over ``runs.parent_run_id``), each with whether its run is still running and
its value of the policy's metric (a primary-key probe into ``artifact_metrics``). Grouping
and ranking happen in Python (``satchel.retention.plan``): one pass over the rows.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Row, and_, literal, select

from satchel.errors import ConflictError
from satchel.index.base import RetentionRow
from satchel.index.rows import storable
from satchel.index.schema import artifact_metrics, artifacts, retention_policies, runs
from satchel.models import parse_time
from satchel.retention import RetentionPolicy

__all__ = ["delete_policy", "get_policy", "insert_policy", "list_policies", "retention_rows"]

_P = retention_policies.c


def _policy_of(row: Row[Any]) -> RetentionPolicy:
    return RetentionPolicy(
        policy_id=row.policy_id,
        org_id=row.org_id,
        name=row.name,
        kind=row.kind,
        run_id=row.run_id,
        group_by=row.group_by,
        keep_last=row.keep_last,
        keep_best=row.keep_best,
        metric=row.metric,
        metric_mode=row.metric_mode,
        ttl_seconds=row.ttl_seconds,
        created_by=row.created_by,
        created_at=parse_time(row.created_at),
    )


def insert_policy(conn: Connection, policy: RetentionPolicy) -> None:
    """Record ``policy`` (inside a write transaction).

    Raises:
        ConflictError: its id is taken.
    """
    taken = conn.execute(select(_P.policy_id).where(_P.policy_id == policy.policy_id)).first()
    if taken is not None:
        raise ConflictError(f"a retention policy with id {policy.policy_id!r} exists")
    conn.execute(retention_policies.insert(), [policy.to_dict()])


def list_policies(conn: Connection, org_id: str | None) -> list[RetentionPolicy]:
    statement = select(retention_policies).order_by(_P.created_at, _P.policy_id)
    if org_id is not None:
        statement = statement.where(_P.org_id == org_id)
    return [_policy_of(row) for row in conn.execute(statement)]


def get_policy(conn: Connection, policy_id: str) -> RetentionPolicy | None:
    if not storable(policy_id):
        return None
    row = conn.execute(select(retention_policies).where(_P.policy_id == policy_id)).first()
    return None if row is None else _policy_of(row)


def delete_policy(conn: Connection, policy_id: str) -> bool:
    if not storable(policy_id):
        return False
    result = conn.execute(retention_policies.delete().where(_P.policy_id == policy_id))
    return bool(result.rowcount)


def retention_rows(conn: Connection, policy: RetentionPolicy) -> list[RetentionRow]:
    """Every completed artifact ``policy`` selects, with what ``plan`` needs."""
    a = artifacts.c
    metric = artifact_metrics.c.value if policy.metric is not None else literal(None).label("value")
    statement = select(
        a.artifact_id,
        a.created_at,
        a.run_id,
        a.name,
        a.pinned,
        (runs.c.status == "running").label("running"),
        metric,
    ).select_from(artifacts.outerjoin(runs, runs.c.run_id == a.run_id))
    if policy.metric is not None:
        statement = statement.outerjoin(
            artifact_metrics,
            and_(
                artifact_metrics.c.artifact_id == a.artifact_id,
                artifact_metrics.c.name == policy.metric,
            ),
        )
    conditions = [a.status == "completed"]
    if policy.org_id is not None:
        conditions.append(a.org_id == policy.org_id)
    if policy.kind is not None:
        conditions.append(a.kind == policy.kind)
    if policy.run_id is not None:
        family = select(literal(policy.run_id, runs.c.run_id.type).label("run_id")).cte(
            "family", recursive=True
        )
        family = family.union(select(runs.c.run_id).where(runs.c.parent_run_id == family.c.run_id))
        conditions.append(a.run_id.in_(select(family.c.run_id)))
    rows = conn.execute(statement.where(*conditions)).all()
    return [
        RetentionRow(
            artifact_id=r[0],
            created_at=r[1],
            run_id=r[2],
            name=r[3],
            pinned=bool(r[4]),
            running=bool(r[5]),
            metric=cast(float | None, r[6]),
        )
        for r in rows
    ]
