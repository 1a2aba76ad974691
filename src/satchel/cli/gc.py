"""``satchel gc``: collect garbage in a store (docs/cli.md).

Like ``satchel fsck``, it works on the embedded store the options name (a directory, or a
bucket with its index), never through a server: it is the operator's command.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from satchel.cli._errors import reported
from satchel.cli._options import IndexOption, StoreOption
from satchel.cli._output import JsonOption, emit_json, human_bytes
from satchel.config import Settings
from satchel.gc import GcReport, collect_garbage
from satchel.index.uploads import uploads_of
from satchel.store import ArtifactStore
from satchel.validation import validate_duration

__all__ = ["gc_command"]


def gc_command(  # noqa: PLR0917 - a Typer command takes its options as parameters
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
    uploads: Annotated[
        Path | None,
        typer.Option(
            "--uploads",
            help="A server's upload directory to sweep too "
            "(default: SATCHEL_UPLOAD_DIR, else the store home's uploads/).",
        ),
    ] = None,
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
            staged = _sweep_uploads(opened, uploads, period, dry_run=dry_run)
        finally:
            opened.close()
    if as_json:
        emit_json({**report.to_dict(), "staged_uploads": staged[0], "staged_bytes": staged[1]})
    else:
        _print_report(report, staged)


def _sweep_uploads(
    store: ArtifactStore, uploads: Path | None, grace: timedelta, *, dry_run: bool
) -> tuple[int, int]:
    """The staged files a server keeps for uploads in progress, of artifacts no longer
    pending (``satchel.server.staging``)."""
    from satchel.server.config import upload_dir_of  # noqa: PLC0415 - the server's layout
    from satchel.server.staging import Staging  # noqa: PLC0415

    directory = uploads or upload_dir_of(os.environ, store.home)
    if not directory.is_dir():
        return 0, 0
    ledger = uploads_of(store.index)

    def uploading(artifact_id: str) -> bool:
        found = ledger.get_any(artifact_id)
        return found is not None and found.status == "pending"

    staging = Staging(directory.expanduser())
    return staging.sweep(uploading=uploading, older_than=grace, dry_run=dry_run)


def _print_report(report: GcReport, staged: tuple[int, int]) -> None:
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
        f"({human_bytes(report.leftover_bytes)}), {staged[0]:,} staged uploads "
        f"({human_bytes(staged[1])})"
    )
    if report.young_orphans:
        typer.echo(
            f"kept: {report.young_orphans:,} unreferenced blobs younger than the grace period"
        )
    freed = human_bytes(report.bytes_freed + staged[1])
    typer.echo(f"{'would free' if report.dry_run else 'freed'}: {freed}")
