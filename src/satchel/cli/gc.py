"""``satchel gc``: collect garbage in a store (docs/cli.md).

Like ``satchel fsck``, it works on the embedded store the options name (a directory, or a
bucket with its index), never through a server: it is the operator's command.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from satchel.cli._errors import reported
from satchel.cli._options import IndexOption, StoreOption
from satchel.cli._output import JsonOption, emit_json, human_bytes
from satchel.config import Settings
from satchel.gc import GcReport, collect_garbage
from satchel.store import ArtifactStore
from satchel.validation import validate_duration

__all__ = ["gc_command"]


def gc_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print what would be removed.")
    ] = False,
    grace: Annotated[
        str,
        typer.Option(
            "--grace",
            help="Keep what was written or updated more recently than this (24h, 30m, 0).",
        ),
    ] = "24h",
    as_json: JsonOption = False,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Remove expired artifacts, abandoned uploads, unreferenced blobs and leftovers.

    Example: satchel gc --dry-run
    """
    with reported():
        period = timedelta(0) if grace.strip() == "0" else validate_duration(grace, what="--grace")
        settings = Settings.load(store=store, index=index)
        opened = ArtifactStore.open(settings)
        try:
            report = collect_garbage(opened, grace=period, dry_run=dry_run)
        finally:
            opened.close()
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)


def _print_report(report: GcReport) -> None:
    verb = "would remove" if report.dry_run else "removed"
    for item in report.expired:
        typer.echo(f"expired: {item.artifact_id} {item.name or ''} ({item.reason})")
    for artifact_id in report.abandoned:
        typer.echo(f"abandoned upload: {artifact_id}")
    artifacts = len(report.expired) + len(report.abandoned)
    typer.echo(
        f"{verb}: {artifacts:,} artifacts ({len(report.expired):,} expired, "
        f"{len(report.abandoned):,} abandoned uploads), {report.blobs_removed:,} blobs "
        f"({human_bytes(report.blob_bytes)}), {report.leftovers_removed:,} leftovers of writes "
        f"({human_bytes(report.leftover_bytes)})"
    )
    if report.young_orphans:
        typer.echo(
            f"kept: {report.young_orphans:,} unreferenced blobs younger than the grace period"
        )
    freed = human_bytes(report.bytes_freed)
    typer.echo(f"{'would free' if report.dry_run else 'freed'}: {freed}")
