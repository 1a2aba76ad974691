"""``satchel fsck`` and ``satchel gc``: check a store, and collect its garbage (docs/cli.md).

Both work on the embedded store the options name (a directory, or a bucket with its
index), never through a server.
"""

from __future__ import annotations

from typing import Annotated

import typer

from satchel.cli._errors import EXIT_ERROR, reported
from satchel.cli._options import IndexOption, StoreOption
from satchel.cli._output import JsonOption, emit_json, human_bytes
from satchel.config import Settings
from satchel.fsck import FsckReport, fsck
from satchel.gc import GcPlan, execute_gc, plan_gc
from satchel.store import ArtifactStore
from satchel.validation import validate_duration

__all__ = ["fsck_command", "gc_command"]


def fsck_command(
    read_data: Annotated[
        bool,
        typer.Option("--read-data", help="Also read every blob and check its SHA-256."),
    ] = False,
    as_json: JsonOption = False,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Check every artifact's files against the stored bytes; exit 1 on damage.

    Example: satchel fsck --read-data
    """
    with reported():
        settings = Settings.load(store=store, index=index)
        opened = ArtifactStore.open(settings)
        try:
            report = fsck(opened, read_data=read_data)
        finally:
            opened.close()
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


def _print_report(report: FsckReport) -> None:
    for d in report.damage:
        typer.echo(f"damaged: {d.artifact_id} {d.path}: {d.problem}: {d.detail}")
    for w in report.warnings:
        size = "" if w.size is None else f" ({human_bytes(w.size)})"
        typer.echo(f"warning: {w.kind} {w.key}{size}: {w.detail}")
    mode = "read-data" if report.read_data else "quick"
    typer.echo(
        f"checked ({mode}): {report.artifacts:,} artifacts, {report.files:,} files, "
        f"{report.blobs_checked:,} distinct blobs"
        + (f", {human_bytes(report.bytes_read)} read" if report.read_data else "")
    )
    damaged = len(report.damaged_artifacts)
    typer.echo(
        f"{'ok' if report.ok else 'DAMAGED'}: {damaged:,} damaged artifacts, "
        f"{len(report.damage):,} damaged files, {len(report.warnings):,} warnings"
    )


def gc_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and change nothing.")
    ] = False,
    grace: Annotated[
        str,
        typer.Option("--grace", help="Only collect what is older than this: 30m, 24h, 7d..."),
    ] = "24h",
    as_json: JsonOption = False,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Remove unreferenced blobs, leftovers of writes and stale pending artifacts.

    Example: satchel gc --dry-run --grace 7d
    """
    with reported():
        span = validate_duration(grace, what="--grace")
        settings = Settings.load(store=store, index=index)
        opened = ArtifactStore.open(settings)
        try:
            plan = plan_gc(opened, grace=span)
            result = None if dry_run else execute_gc(opened, plan)
        finally:
            opened.close()
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "plan": plan.to_dict(),
                "result": None if result is None else result.to_dict(),
            }
        )
        return
    _print_plan(plan, grace)
    if result is None:
        typer.echo("dry run: nothing was changed")
        return
    for reason in result.kept:
        typer.echo(f"kept: {reason}")
    typer.echo(
        f"freed: {result.blobs_removed:,} blobs, {result.garbage_removed:,} leftovers, "
        f"{result.pending_removed:,} pending artifacts, {human_bytes(result.bytes_freed)}"
    )


def _print_plan(plan: GcPlan, grace: str) -> None:
    for b in plan.orphan_blobs:
        typer.echo(f"orphan blob: {b.sha256} ({human_bytes(b.size)})")
    for g in plan.garbage:
        typer.echo(f"leftover: {g.kind} {g.key} ({human_bytes(g.size)})")
    for p in plan.pending:
        typer.echo(f"pending artifact: {p.artifact_id} ({human_bytes(p.bytes)})")
    typer.echo(
        f"plan (older than {grace}): {len(plan.orphan_blobs):,} orphan blobs, "
        f"{len(plan.garbage):,} leftovers, {len(plan.pending):,} pending artifacts, "
        f"{human_bytes(plan.bytes)}"
    )
