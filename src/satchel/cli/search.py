"""``satchel search`` and ``satchel best``: the SDK's search and best, from a shell."""

from __future__ import annotations

from typing import Annotated

import typer

from satchel.cli._common import (
    IndexOption,
    LimitOption,
    MineOption,
    OrgOption,
    ServerOption,
    SharedOption,
    StoreOption,
    TokenOption,
    connected,
    origins,
    parse_labels,
)
from satchel.cli._output import ARTIFACT_HEADER, JsonOption, artifact_row, emit_json, table
from satchel.cli._session import SearchRequest
from satchel.cli.artifacts import list_artifacts
from satchel.errors import NotFoundError, ValidationError

__all__ = ["best", "search"]

_MODES = ("lexical", "semantic", "hybrid")
KindsOption = Annotated[
    list[str] | None, typer.Option("--type", "-t", help="Only this type (repeatable).")
]
RunOption = Annotated[str | None, typer.Option("--run", "-r", help="Only this run's.")]
LabelOption = Annotated[
    list[str] | None, typer.Option("--label", help="Label k=v that must match (repeatable).")
]
TagOption = Annotated[list[str] | None, typer.Option("--tag", help="A tag it must have.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="Only created in the last 30m, 2h, 7d...")
]


def search(
    *,
    query: Annotated[str, typer.Argument(help="What to look for.", show_default=False)],
    mode: Annotated[
        str, typer.Option("--mode", help="lexical (words, typos), semantic or hybrid.")
    ] = "lexical",
    kinds: KindsOption = None,
    run: RunOption = None,
    label: LabelOption = None,
    tag: TagOption = None,
    since: SinceOption = None,
    mine: MineOption = False,
    org: OrgOption = False,
    shared: SharedOption = False,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Search the artifacts you may read by text, best match first.

    Example: satchel search "resnet checkpoint" --mode hybrid --type checkpoint --limit 5
    """
    with connected(server, token, store, index) as s:
        if mode not in _MODES:
            raise ValidationError(f"--mode is one of {', '.join(_MODES)}, not {mode!r}")
        request = SearchRequest(
            query=query,
            mode=mode,
            run_id=run,
            labels=parse_labels(label or []),
            tags=tuple(tag or ()),
            time_window=since,
            origin=origins(mine, org, shared),
            limit=limit,
        )
        found = list_artifacts(s, request, kinds or [])
        if as_json:
            emit_json([a.to_dict() for a in found])
        else:
            table(ARTIFACT_HEADER, [artifact_row(a) for a in found])


def best(
    *,
    kind: Annotated[str, typer.Option("--kind", "-k", help="The artifacts' type.")],
    metric: Annotated[str, typer.Option("--metric", help="The metric to rank by.")],
    highest: Annotated[
        bool, typer.Option("--max/--min", help="Highest (default) or lowest value wins.")
    ] = True,
    run: RunOption = None,
    label: LabelOption = None,
    tag: TagOption = None,
    mine: MineOption = False,
    org: OrgOption = False,
    shared: SharedOption = False,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Show the artifact of a type with the best value of a metric.

    Example: satchel best --kind checkpoint --metric val_loss --min
    """
    with connected(server, token, store, index) as s:
        request = SearchRequest(
            kind=kind,
            metric=metric,
            metric_mode="max" if highest else "min",
            run_id=run,
            labels=parse_labels(label or []),
            tags=tuple(tag or ()),
            origin=origins(mine, org, shared),
            limit=1,
        )
        found = s.ops.search(request).items
        if not found:
            raise NotFoundError(f"no artifact of type {kind!r} has the metric {metric!r}")
        if as_json:
            emit_json(found[0].to_dict())
        else:
            table(
                (*ARTIFACT_HEADER, metric.upper()),
                [[*artifact_row(found[0]), str(found[0].metrics.get(metric))]],
            )
