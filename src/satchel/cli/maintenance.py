"""``satchel fsck``: check a store against its index (docs/cli.md).

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
from satchel.errors import ValidationError
from satchel.fsck import FsckReport, fsck, parse_read_subset
from satchel.store import ArtifactStore

__all__ = ["fsck_command"]


def fsck_command(
    read_data: Annotated[
        bool,
        typer.Option("--read-data", help="Also read every blob and check its SHA-256."),
    ] = False,
    read_data_subset: Annotated[
        str | None,
        typer.Option(
            "--read-data-subset",
            metavar="N/M|P%",
            help="Read and check only the N-th of M fixed subsets of the blobs, or a random "
            "P percent; the quick check for the others.",
        ),
    ] = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Check every artifact's files against the stored bytes; exit 1 on damage.

    Example: satchel fsck --read-data
    """
    with reported():
        if read_data and read_data_subset is not None:
            raise ValidationError("--read-data reads every blob: give it or --read-data-subset")
        subset = None if read_data_subset is None else parse_read_subset(read_data_subset)
        settings = Settings.load(store=store, index=index)
        opened = ArtifactStore.open(settings)
        try:
            report = fsck(opened, read_data=read_data, read_subset=subset)
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
    if report.read_subset is not None:
        mode = f"read-data subset {report.read_subset}"
    reading = report.read_data or report.read_subset is not None
    typer.echo(
        f"checked ({mode}): {report.artifacts:,} artifacts, {report.files:,} files, "
        f"{report.blobs_checked:,} distinct blobs"
        + (f", {human_bytes(report.bytes_read)} read" if reading else "")
    )
    damaged = len(report.damaged_artifacts)
    typer.echo(
        f"{'ok' if report.ok else 'DAMAGED'}: {damaged:,} damaged artifacts, "
        f"{len(report.damage):,} damaged files, {len(report.warnings):,} warnings"
    )
