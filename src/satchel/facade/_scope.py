"""Scope levels: which artifacts ``list`` (and search) see from a context.

``run`` ⊂ ``session`` ⊂ ``user`` ⊂ ``org``: each keeps the artifacts whose field equals the
context's, and whose wider fields equal the context's where the context sets them.
``scope`` keeps the artifacts carrying the context's scope labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from satchel.errors import ValidationError
from satchel.index import ArtifactQuery
from satchel.index.base import Reader
from satchel.validation import validate_labels, validate_limit, validate_tags, validate_token

__all__ = ["SCOPE_LEVELS", "ContextInfo", "ScopeLevel", "same_label", "scope_query"]

ScopeLevel = Literal["run", "session", "user", "org", "scope"]
_WIDER: Final = {
    "run": ("session_id", "user_id", "org_id"),
    "session": ("user_id", "org_id"),
    "user": ("org_id",),
    "org": (),
}
SCOPE_LEVELS: Final = ("run", "session", "user", "org", "scope")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextInfo:
    """The execution context stamped on every artifact a facade saves."""

    run_id: str
    graph_id: str | None = None
    node_id: str | None = None
    tool_name: str | None = None
    tool_version: str | None = None
    org_id: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    app_id: str | None = None
    session_id: str | None = None
    scope: Mapping[str, Any] = field(default_factory=dict)
    #: Whose reading this facade serves (a server request's actor): every read then finds
    #: only what the reader may read, and an unreadable artifact is "not found". None: the
    #: embedded SDK, one local actor with full rights over its own home.
    reader: Reader | None = None


def same_label(a: Any, b: Any) -> bool:
    """Label equality with types: True is not 1, 3 is 3.0, "3" is not 3."""
    return (
        isinstance(a, bool) == isinstance(b, bool)
        and isinstance(a, str) == isinstance(b, str)
        and a == b
    )


def scope_query(
    ctx: ContextInfo,
    *,
    level: str | None,
    include_graph: bool = False,
    include_node: bool = False,
    tags: Iterable[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    kind: str | None = None,
    limit: int | None = None,
    extra_scope_labels: Mapping[str, Any] | None = None,
    created_since: str | None = None,
    metric: str | None = None,
    metric_mode: str | None = None,
) -> ArtifactQuery | None:
    """The structured query for a scope level plus filters; None when nothing can match.

    ``extra_scope_labels`` narrow further, like filters. ``metric`` ranks by that metric
    (``metric_mode`` "max", the default, or "min") and leaves out artifacts without it.
    """
    if level is None:
        level = "run"
    equals: dict[str, str | None] = {}
    labels = validate_labels(filters)
    if level in _WIDER:
        # A level's own field, and every wider field the context sets: run ⊂ session ⊂
        # user ⊂ org holds even when a run or session id is reused in another user or org.
        own = f"{level}_id"
        equals[own] = getattr(ctx, own)
        for wider in _WIDER[level]:
            if getattr(ctx, wider) is not None:
                equals[wider] = getattr(ctx, wider)
    elif level == "scope":
        if not ctx.scope:
            raise ValidationError(
                "level='scope' needs scope labels on the context (Context(scope={...}))"
            )
        for key, value in ctx.scope.items():
            if key in labels and not same_label(labels[key], value):
                return None  # a filter contradicting the scope: nothing can match
            labels[key] = value
    else:
        raise ValidationError(f"unknown scope level {level!r}; use one of {SCOPE_LEVELS}")
    for key, value in validate_labels(extra_scope_labels).items():
        if key in labels and not same_label(labels[key], value):
            return None
        labels[key] = value
    if (include_graph or include_node) and ctx.graph_id is not None:
        equals["graph_id"] = ctx.graph_id
    if include_node and ctx.node_id is not None:
        equals["node_id"] = ctx.node_id
    if kind is not None:
        equals["kind"] = validate_token(kind, what="kind")
    if limit is not None:
        limit = validate_limit(limit)
    if metric_mode is not None and metric_mode not in ("max", "min"):
        raise ValidationError(f"metric_mode must be 'max' or 'min', not {metric_mode!r}")
    if metric is None and metric_mode is not None:
        raise ValidationError("metric_mode needs a metric to rank by")
    if metric is not None:
        validate_token(metric, what="metric")
    return ArtifactQuery(
        equals=equals,
        tags_all=tuple(validate_tags(tags)),
        labels=labels,
        limit=limit,
        created_since=created_since,
        metric=metric,
        metric_order=None if metric is None else ("min" if metric_mode == "min" else "max"),
        reader=ctx.reader,
    )
