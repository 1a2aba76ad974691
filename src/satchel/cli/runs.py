"""``satchel runs``: list, show and delete runs (a Grid experiment is a run with a parent)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from satchel.cli._common import (
    IndexOption,
    ServerOption,
    StoreOption,
    TokenOption,
    connected,
)
from satchel.cli._output import JsonOption, emit_json, human_bytes, table, when
from satchel.errors import ValidationError
from satchel.models import Run, RunStatus, format_time

__all__ = ["runs_app"]

runs_app = typer.Typer(
    name="runs", help="Runs and their experiments: list, show, delete.", no_args_is_help=True
)
RunArg = Annotated[str, typer.Argument(help="The run's id.", metavar="RUN", show_default=False)]
_STATUSES = ("running", "done", "crashed", "failed")


def run_dict(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "name": run.name,
        "parent_run_id": run.parent_run_id,
        "org_id": run.org_id,
        "user_id": run.user_id,
        "session_id": run.session_id,
        "status": run.status,
        "started_at": format_time(run.started_at) if run.started_at else None,
        "ended_at": format_time(run.ended_at) if run.ended_at else None,
    }


def _rows(runs: list[Run]) -> list[list[str]]:
    return [
        [
            r.run_id,
            r.name or "-",
            r.parent_run_id or "-",
            r.status,
            when(r.started_at),
            when(r.ended_at),
        ]
        for r in runs
    ]


_HEADER = ("RUN_ID", "NAME", "PARENT", "STATUS", "STARTED", "ENDED")


@runs_app.command("list")
def list_(
    *,
    status: Annotated[
        str | None, typer.Option("--status", help="running, done, crashed or failed.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """List runs, newest started first.

    Example: satchel runs list --status running
    """
    with connected(server, token, store, index) as s:
        if status is not None and status not in _STATUSES:
            raise ValidationError(f"--status is one of {', '.join(_STATUSES)}, not {status!r}")
        chosen: RunStatus | None = status  # type: ignore[assignment] # checked above
        found = s.ops.runs(status=chosen, limit=limit)
        if as_json:
            emit_json([run_dict(r) for r in found])
        else:
            table(_HEADER, _rows(found))


@runs_app.command("show")
def show(
    *,
    run_id: RunArg,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Show a run: its status, its experiments and how many artifacts each holds.

    Example: satchel runs show my-run-000
    """
    with connected(server, token, store, index) as s:
        run = s.ops.run(run_id)
        children = s.ops.children(run_id)
        counts = {r.run_id: s.ops.run_artifacts(r.run_id) for r in (run, *children)}
        if as_json:
            out = run_dict(run)
            out["experiments"] = [run_dict(c) for c in children]
            out["artifacts"] = {k: len(v) for k, v in counts.items()}
            emit_json(out)
            return
        table(_HEADER, _rows([run, *children]), title=f"run {run.run_id}")
        table(
            ("RUN_ID", "ARTIFACTS", "SIZE"),
            [
                [k, str(len(v)), human_bytes(sum(a.bytes or 0 for a in v))]
                for k, v in counts.items()
            ],
        )


@runs_app.command("delete")
def delete(
    *,
    run_id: RunArg,
    force: Annotated[bool, typer.Option("--force", help="Do not ask for confirmation.")] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Delete a run, its experiments and all their artifacts (asks first unless --force).

    Example: satchel runs delete my-run-000 --force
    """
    with connected(server, token, store, index) as s:
        run = s.ops.run(run_id)
        if not force:
            children = s.ops.children(run_id)
            typer.confirm(
                f"Delete run {run.run_id} ({run.status}), {len(children)} experiment(s) "
                "and all their artifacts?",
                abort=True,
                err=True,
            )
        s.ops.delete_run(run_id)
        typer.echo(f"run {run_id} deleted")
