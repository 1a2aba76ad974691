"""``satchel retention add|list|remove|preview``: what ``satchel gc`` may remove.

Embedded, a policy is store-wide (it covers every artifact of the store); with a server, it
is the caller's organisation's and only its admins add or remove one (docs/cli.md,
Retention).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from satchel.cli._common import IndexOption, ServerOption, StoreOption, TokenOption, connected
from satchel.cli._output import JsonOption, emit_json, note, table, when
from satchel.errors import ValidationError
from satchel.retention import GROUPINGS, Preview, RetentionPolicy
from satchel.validation import validate_duration

__all__ = ["retention_app"]

retention_app = typer.Typer(
    name="retention",
    help="Retention policies: what `satchel gc` may remove (pinned artifacts always stay).",
    no_args_is_help=True,
)
PolicyArg = Annotated[
    str, typer.Argument(help="The policy's id.", metavar="POLICY_ID", show_default=False)
]


def policy_dict(policy: RetentionPolicy) -> dict[str, Any]:
    return {**policy.to_dict(), "description": policy.describe()}


def _rules(policy: RetentionPolicy) -> str:
    return policy.describe().removeprefix("keep ")


@retention_app.command("add")
def add(
    *,
    kind: Annotated[
        str | None, typer.Option("--kind", "-t", help="Only artifacts of this type.")
    ] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", "-r", help="Only artifacts of this run and its experiments."),
    ] = None,
    group_by: Annotated[
        str,
        typer.Option("--group-by", help="Count --keep-last/--keep-best in: all, run or name."),
    ] = "all",
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", help="Keep the N newest of each group.")
    ] = None,
    keep_best: Annotated[
        int | None, typer.Option("--keep-best", help="Keep the K best of each group by --metric.")
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", "-m", help="The metric --keep-best ranks by.")
    ] = None,
    lowest: Annotated[bool, typer.Option("--min", help="The lowest --metric is best.")] = False,
    highest: Annotated[
        bool, typer.Option("--max", help="The highest --metric is best (the default).")
    ] = False,
    ttl: Annotated[
        str | None, typer.Option("--ttl", help="Keep what is younger: 45s, 90m, 12h, 30d, 4w.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="A label for people.")] = None,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Add a retention policy; prints its id. Rules keep (pins always do); the rest expires.

    Example: satchel retention add --kind checkpoint --group-by run --keep-last 3 --ttl 30d
    """
    with connected(server, token, store, index) as s:
        if lowest and highest:
            raise ValidationError("give --min or --max, not both")
        if group_by not in GROUPINGS:
            raise ValidationError(f"--group-by is one of all, run, name; not {group_by!r}")
        mode = "min" if lowest else "max" if highest else None
        seconds = None if ttl is None else int(validate_duration(ttl, what="--ttl").total_seconds())
        spec: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "run_id": run,
            "group_by": group_by,
            "keep_last": keep_last,
            "keep_best": keep_best,
            "metric": metric,
            "metric_mode": mode,
            "ttl_seconds": seconds,
        }
        RetentionPolicy(**spec)  # refuse a bad policy before asking a server
        made = s.ops.add_retention(spec)
        if as_json:
            emit_json(policy_dict(made))
        else:
            note(f"{made.selection()}: {made.describe()}")
            typer.echo(made.policy_id)


@retention_app.command("list")
def list_(
    *,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """List the retention policies (with a server: your organisation's), oldest first.

    Example: satchel retention list --json
    """
    with connected(server, token, store, index) as s:
        found = s.ops.retention_policies()
        if as_json:
            emit_json([policy_dict(p) for p in found])
            return
        table(
            ("POLICY_ID", "NAME", "TYPE", "RUN", "GROUP", "RULES", "CREATED"),
            [
                [
                    p.policy_id,
                    p.name or "-",
                    p.kind or "*",
                    p.run_id or "*",
                    p.group_by,
                    _rules(p),
                    when(p.created_at),
                ]
                for p in found
            ],
        )


@retention_app.command("remove")
def remove(
    policy_id: PolicyArg,
    *,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Remove a retention policy (what it expired and gc did not remove yet stays).

    Example: satchel retention remove 01JD3Q5W8YVZ4M2K7N9P0RSTUV
    """
    with connected(server, token, store, index) as s:
        s.ops.remove_retention(policy_id)
        typer.echo(f"retention policy {policy_id} removed")


@retention_app.command("preview")
def preview(
    policy_id: PolicyArg,
    *,
    limit: Annotated[
        int, typer.Option("--limit", "-l", min=1, max=10_000, help="Show at most N.")
    ] = 1000,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Dry run: what this policy alone would remove now, oldest first, and why.

    Example: satchel retention preview 01JD3Q5W8YVZ4M2K7N9P0RSTUV
    """
    with connected(server, token, store, index) as s:
        found = s.ops.preview_retention(policy_id, limit)
        if as_json:
            emit_json({**found.to_dict(), "policy": policy_dict(found.policy)})
            return
        table(
            ("ARTIFACT_ID", "NAME", "RUN", "CREATED", "REASON"),
            [
                [e.artifact_id, e.name or "-", e.run_id or "-", when(e.created_at), e.reason]
                for e in found.items
            ],
        )
        note(_summary(found))


def _summary(found: Preview) -> str:
    policy = found.policy
    said = (
        f"policy {policy.policy_id} ({policy.selection()}: {policy.describe()}) would remove "
        f"{found.count:,} artifact{'s' if found.count != 1 else ''} as of {when(found.as_of)} "
        "UTC; dry run, nothing was removed"
    )
    if found.count > len(found.items):
        said += f" (the oldest {len(found.items):,} shown: --limit for more)"
    return said
