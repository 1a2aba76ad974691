"""Retention policies: which completed artifacts ``satchel gc`` may expire, and why.

A policy selects the completed artifacts of its organisation (every organisation for a
store-wide policy, ``org_id`` None) of one ``kind`` and/or one run (with the run's child
runs, its experiments), or all of them. It splits them into groups (``group_by``: all
together, per run, or per name) and, inside each group, an artifact is **kept** when

* it is pinned (seeds/002: "pins the artifact for retention"), or
* it is among the ``keep_last`` newest (by ``created_at``, then ``artifact_id``), or
* it is among the ``keep_best`` by ``metric`` (``metric_mode`` max or min; ties go to the
  newer; an artifact without that metric is never among the best), or
* it is younger than ``ttl_seconds`` (it expires at ``created_at + ttl``);

otherwise the policy **expires** it. The rules combine as a union of keeps, as restic's
``forget`` does, and every selected artifact counts in the ranking, pinned ones included:
``keep_last=3`` keeps the three newest whether or not one of them is pinned, plus any
older pinned one. When several policies select an artifact, it is expired only when every
one of them expires it: keeping wins. Whatever the policies say, an artifact whose run is
still ``running`` is never expired (a delete is refused then), and a pending upload is no
policy's business (``gc`` ages those out itself).

``expired`` plans; ``satchel gc`` executes (deletes what it returns).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from satchel.errors import ConfigError, NotFoundError, ValidationError
from satchel.index.base import Index, MetricOrder, RetentionPolicies, RetentionRow
from satchel.models import format_time, new_id, parse_time, utcnow
from satchel.validation import validate_token

__all__ = [
    "GROUPINGS",
    "MAX_COUNT",
    "MAX_TTL_SECONDS",
    "Expiry",
    "GroupBy",
    "Preview",
    "RetentionPolicy",
    "expired",
    "format_duration",
    "plan",
    "policies_of",
    "preview",
]

GroupBy = Literal["all", "run", "name"]
GROUPINGS: Final[tuple[GroupBy, ...]] = ("all", "run", "name")
#: The largest ``keep_last`` / ``keep_best`` (a 32-bit column on PostgreSQL).
MAX_COUNT: Final = 1_000_000_000
#: The longest time-to-live: a hundred years.
MAX_TTL_SECONDS: Final = 100 * 365 * 86_400
_MODES: Final = ("max", "min")


def _count(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be a whole number, not {value!r}")
    if not 1 <= value <= MAX_COUNT:
        raise ValidationError(f"{what} must be between 1 and {MAX_COUNT:,}, not {value}")
    return value


def _text(value: object, what: str, limit: int = 255) -> str | None:
    return None if value is None else validate_token(value, what=what, limit=limit)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicy:
    """What to keep of a kind and/or a run (see the module's docstring for the rules).

    Args:
        policy_id: a ULID, made when not given.
        org_id: the organisation whose artifacts it selects; None: every artifact of the
            store (a policy made on the embedded store).
        name: a label for people.
        kind: only artifacts of this kind (None: any kind).
        run_id: only artifacts of this run and its child runs (None: any run).
        group_by: ``all`` (one group), ``run`` or ``name``: the groups inside which
            ``keep_last`` and ``keep_best`` count.
        keep_last: keep the N newest of each group.
        keep_best: keep the K best of each group by ``metric``.
        metric: the metric ``keep_best`` ranks by (required with it, refused without).
        metric_mode: ``max`` (the default with a metric) or ``min``.
        ttl_seconds: keep what is younger than this.
        created_by: who made it (a user id; ``local`` on the embedded store).
        created_at: when (now when not given).

    Raises:
        ValidationError: a count below 1, ``keep_best`` without ``metric`` (or a metric
            without ``keep_best``), an unknown ``group_by`` or ``metric_mode``, a ttl below
            one second, or no rule at all (a policy that would expire everything).
    """

    policy_id: str = field(default_factory=new_id)
    org_id: str | None = None
    name: str | None = None
    kind: str | None = None
    run_id: str | None = None
    group_by: GroupBy = "all"
    keep_last: int | None = None
    keep_best: int | None = None
    metric: str | None = None
    metric_mode: MetricOrder | None = None
    ttl_seconds: int | None = None
    created_by: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        _text(self.policy_id, "policy_id", 64)
        _text(self.name, "name")
        _text(self.kind, "kind")
        _text(self.run_id, "run_id", 64)
        _text(self.metric, "metric")
        if self.group_by not in GROUPINGS:
            raise ValidationError(f"group_by must be one of all, run, name; not {self.group_by!r}")
        _count(self.keep_last, "keep_last")
        _count(self.keep_best, "keep_best")
        if self.metric_mode is not None and self.metric_mode not in _MODES:
            raise ValidationError(f"metric_mode must be max or min, not {self.metric_mode!r}")
        if self.keep_best is not None and self.metric is None:
            raise ValidationError("keep_best needs the metric to rank by")
        if self.metric is not None and self.keep_best is None:
            raise ValidationError("a metric is only used by keep_best: give keep_best too")
        if self.metric_mode is not None and self.metric is None:
            raise ValidationError("metric_mode needs a metric (and keep_best)")
        if self.metric is not None and self.metric_mode is None:
            object.__setattr__(self, "metric_mode", "max")
        ttl = self.ttl_seconds
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
            raise ValidationError(f"ttl_seconds must be a whole number, not {ttl!r}")
        if ttl is not None and not 1 <= ttl <= MAX_TTL_SECONDS:
            raise ValidationError(
                f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS:,} (100 years), not {ttl}"
            )
        if self.keep_last is None and self.keep_best is None and ttl is None:
            raise ValidationError(
                "a policy needs at least one of keep_last, keep_best or ttl: "
                "without any it would expire everything it selects"
            )
        if self.created_at.tzinfo is None:
            raise ValidationError("created_at must be timezone-aware")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, ``created_at`` in RFC 3339."""
        return {
            "policy_id": self.policy_id,
            "org_id": self.org_id,
            "name": self.name,
            "kind": self.kind,
            "run_id": self.run_id,
            "group_by": self.group_by,
            "keep_last": self.keep_last,
            "keep_best": self.keep_best,
            "metric": self.metric,
            "metric_mode": self.metric_mode,
            "ttl_seconds": self.ttl_seconds,
            "created_by": self.created_by,
            "created_at": format_time(self.created_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetentionPolicy:
        """The inverse of ``to_dict`` (validated again)."""
        fields: dict[str, Any] = {k: data[k] for k in _FIELDS if k in data}
        if isinstance(fields.get("created_at"), str):
            fields["created_at"] = parse_time(fields["created_at"])
        return cls(**fields)

    def describe(self) -> str:
        """The rules in words: ``keep the last 3 per run, pinned ones and ...``."""
        per = {"all": "", "run": " per run", "name": " per name"}[self.group_by]
        kept = []
        if self.keep_last is not None:
            kept.append(f"the last {self.keep_last}{per}")
        if self.keep_best is not None:
            kept.append(f"the best {self.keep_best}{per} by {self.metric} ({self.metric_mode})")
        if self.ttl_seconds is not None:
            kept.append(f"what is younger than {format_duration(self.ttl_seconds)}")
        kept.append("pinned ones")
        return "keep " + ", ".join(kept[:-1]) + " and " + kept[-1]

    def selection(self) -> str:
        """What it selects, in words: ``checkpoint artifacts of run r1``."""
        what = f"{self.kind} artifacts" if self.kind is not None else "artifacts of any kind"
        return what + (f" of run {self.run_id} (and its child runs)" if self.run_id else "")


_FIELDS: Final = tuple(RetentionPolicy.__dataclass_fields__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Expiry:
    """An artifact a policy expires: ``reason`` is for a person (``older than 30d``).

    ``name``, ``run_id`` and ``created_at`` are the artifact's, to show it.
    """

    artifact_id: str
    policy_id: str
    reason: str
    name: str | None = None
    run_id: str | None = None
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact_id": self.artifact_id,
            "policy_id": self.policy_id,
            "reason": self.reason,
            "name": self.name,
            "run_id": self.run_id,
            "created_at": None if self.created_at is None else format_time(self.created_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, policy_id: str | None = None) -> Expiry:
        """The inverse of ``to_dict`` (``policy_id`` when ``data`` has none)."""
        when = data.get("created_at")
        return cls(
            artifact_id=data["artifact_id"],
            policy_id=data.get("policy_id") or policy_id or "",
            reason=data["reason"],
            name=data.get("name"),
            run_id=data.get("run_id"),
            created_at=None if when is None else parse_time(when),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    """A policy's dry run: what it alone would expire ``as_of`` then (``count`` in all,
    ``items`` perhaps only the first of them), oldest first."""

    policy: RetentionPolicy
    as_of: datetime
    count: int
    items: list[Expiry]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "as_of": format_time(self.as_of),
            "count": self.count,
            "items": [
                {k: v for k, v in e.to_dict().items() if k != "policy_id"} for e in self.items
            ],
        }


def format_duration(seconds: int) -> str:
    """``2592000`` -> ``30d``: the largest of d, h, m, s that divides it."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def policies_of(index: Index) -> RetentionPolicies:
    """The index's retention policies (every SQL index keeps them).

    Raises:
        ConfigError: an index without the ability.
    """
    if not isinstance(index, RetentionPolicies):
        raise ConfigError(f"the index at {index.url} keeps no retention policies")
    return index


# -- planning -------------------------------------------------------------------------------


def _group_key(policy: RetentionPolicy) -> Callable[[RetentionRow], str | None]:
    if policy.group_by == "run":
        return lambda r: r.run_id
    if policy.group_by == "name":
        return lambda r: r.name
    return lambda r: None


def _within(policy: RetentionPolicy, row: RetentionRow) -> str:
    if policy.group_by == "run":
        return f" of run {row.run_id}" if row.run_id is not None else " without a run"
    if policy.group_by == "name":
        return f" named {row.name!r}" if row.name is not None else " without a name"
    return ""


def plan(policy: RetentionPolicy, rows: Iterable[RetentionRow], *, now: datetime) -> dict[str, str]:
    """What one policy expires among the rows it selects: ``artifact_id -> reason``.

    Pure: pinned rows are kept, rows of running runs are not spared here (``expired``
    does that, after every policy had its say).
    """
    groups: dict[str | None, list[RetentionRow]] = {}
    key = _group_key(policy)
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    cutoff = (
        None
        if policy.ttl_seconds is None
        else format_time(now - timedelta(seconds=policy.ttl_seconds))
    )
    found: dict[str, str] = {}
    for members in groups.values():
        # One reason per group (two: with or without the metric), not one per row.
        reasons = {m: _reason(policy, members[0], has_metric=m) for m in (True, False)}
        keep: set[str] = set()
        if policy.keep_last is not None:
            newest = heapq.nlargest(
                policy.keep_last, members, key=lambda r: (r.created_at, r.artifact_id)
            )
            keep.update(r.artifact_id for r in newest)
        if policy.keep_best is not None:
            sign = 1.0 if policy.metric_mode == "max" else -1.0
            scored = [r for r in members if r.metric is not None]
            best = heapq.nlargest(
                policy.keep_best,
                scored,
                key=lambda r: (sign * r.metric, r.created_at, r.artifact_id),  # type: ignore[operator]
            )
            keep.update(r.artifact_id for r in best)
        for row in members:
            if row.pinned or row.artifact_id in keep:
                continue
            if cutoff is not None and row.created_at > cutoff:
                continue
            found[row.artifact_id] = reasons[row.metric is not None]
    return found


def _reason(policy: RetentionPolicy, row: RetentionRow, *, has_metric: bool) -> str:
    """Why ``policy`` expires an artifact of ``row``'s group (with the metric or not)."""
    parts = []
    within = _within(policy, row)
    if policy.keep_last is not None:
        parts.append(f"not among the last {policy.keep_last}{within}")
    if policy.keep_best is not None:
        if not has_metric:
            parts.append(f"no {policy.metric} metric")
        else:
            parts.append(
                f"not among the best {policy.keep_best}{within} "
                f"by {policy.metric} ({policy.metric_mode})"
            )
    if policy.ttl_seconds is not None:
        parts.append(f"older than {format_duration(policy.ttl_seconds)}")
    return "; ".join(parts)


def expired(
    index: Index,
    *,
    now: datetime,
    policies: Sequence[RetentionPolicy] | None = None,
) -> list[Expiry]:
    """The completed artifacts the policies expire as of ``now``, oldest first.

    Args:
        index: the store's index.
        now: the time ``ttl`` counts back from (timezone-aware).
        policies: these policies instead of the store's (e.g. one, for a dry run).

    An artifact several policies select is expired only when each of them expires it
    (its ``policy_id`` and ``reason`` are the first one's, in the order given: the store's
    are oldest first). Never a pinned artifact, never one whose run is still running,
    never a pending one.
    """
    if now.tzinfo is None:
        raise ValidationError("now must be timezone-aware")
    source = policies_of(index)
    chosen = source.list_policies() if policies is None else list(policies)
    verdicts: dict[str, tuple[RetentionPolicy, str, RetentionRow]] = {}
    kept: set[str] = set()
    for policy in chosen:
        rows = source.retention_rows(policy)
        expiring = plan(policy, rows, now=now)
        for row in rows:
            aid = row.artifact_id
            reason = expiring.get(aid)
            if reason is None:
                kept.add(aid)
                verdicts.pop(aid, None)
            elif aid not in kept and aid not in verdicts and not row.running:
                verdicts[aid] = (policy, reason, row)
    ordered = sorted(verdicts.values(), key=lambda v: (v[2].created_at, v[2].artifact_id))
    return [
        Expiry(
            artifact_id=row.artifact_id,
            policy_id=policy.policy_id,
            reason=reason,
            name=row.name,
            run_id=row.run_id,
            # Stored times are fixed-width RFC 3339 with ``Z``: no need for ``parse_time``.
            created_at=datetime.fromisoformat(row.created_at),
        )
        for policy, reason, row in ordered
    ]


def preview(
    index: Index, policy_id: str, *, now: datetime, org_id: str | None = None
) -> list[Expiry]:
    """The dry run of one stored policy: what it alone would expire as of ``now``.

    Args:
        org_id: the caller's organisation: a policy of another one (or a store-wide one)
            is then not found.

    Raises:
        NotFoundError: no such policy (for ``org_id``).
    """
    policy = policies_of(index).get_policy(policy_id)
    if policy is None or (org_id is not None and policy.org_id != org_id):
        raise NotFoundError(f"no retention policy with id {policy_id!r}")
    return expired(index, now=now, policies=[policy])
