"""``satchel artifacts get`` and ``where``: a run's or an experiment's artifacts, as Grid's
``grid artifacts`` (seeds/001) downloads them and shows where they are stored.

A run's artifacts go to ``DIR/<run>/<path>``, each experiment's (a child run,
``<run>-expN``) to ``DIR/<run>/<run>-expN/<path>``. ``<path>`` is an artifact's
``capture_path`` label (``satchel run`` captures each file as its own artifact, one per
version: the newest ``capture_version`` wins), else ``<artifact name or id>/<file path>``
for an artifact saved otherwise. Every path is checked before anything is written, so no
artifact can make the download write outside ``DIR``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from satchel.cli._common import (
    IndexOption,
    ServerOption,
    StoreOption,
    TokenOption,
    connected,
    safe_path,
)
from satchel.cli._output import JsonOption, console, emit_json, human_bytes, note, table
from satchel.cli._session import Session
from satchel.cli.artifacts import artifacts_app, download_files
from satchel.errors import ValidationError
from satchel.models import Artifact, Run
from satchel.validation import validate_file_key

__all__ = ["Placed", "plan"]

CAPTURE_PATH = "capture_path"
CAPTURE_VERSION = "capture_version"
RunsArg = Annotated[
    list[str],
    typer.Argument(
        help="Runs or experiments (<run>-expN).",
        metavar="RUN_OR_EXPERIMENT",
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class Placed:
    """One file to download: which artifact's file, and where under the download dir."""

    artifact: Artifact
    file_path: str
    relative: str  # under DIR/<run>[/<experiment>]


def _natural(run_id: str) -> list[Any]:
    """``r-exp2`` before ``r-exp10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", run_id)]


def _version(a: Artifact) -> tuple[float, str]:
    value = a.labels.get(CAPTURE_VERSION)
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
    return (number, a.created_at.isoformat() if a.created_at else "")


def plan(artifacts: list[Artifact], pattern: re.Pattern[str] | None) -> list[Placed]:
    """Where each artifact's files go under a run's directory, newest capture versions
    only, filtered by ``pattern`` (searched in the relative path)."""
    newest: dict[str, Artifact] = {}
    others: list[Artifact] = []
    for a in artifacts:
        captured = a.labels.get(CAPTURE_PATH)
        if isinstance(captured, str):
            if captured not in newest or _version(a) > _version(newest[captured]):
                newest[captured] = a
        else:
            others.append(a)
    placed: list[Placed] = []
    for captured, a in sorted(newest.items()):
        if len(a.files) == 1 and not a.is_dir:
            placed.append(Placed(a, a.files[0].path, captured))
        else:
            placed.extend(Placed(a, f.path, f"{captured}/{f.path}") for f in a.files)
    taken: set[str] = set(newest)
    for a in sorted(others, key=lambda x: x.artifact_id):
        folder = a.name or a.artifact_id
        try:
            validate_file_key(folder)
        except ValidationError:
            folder = a.artifact_id
        if folder in taken:
            folder = a.artifact_id  # two artifacts of one name: the second goes by its id
        taken.add(folder)
        placed.extend(Placed(a, f.path, f"{folder}/{f.path}") for f in a.files)
    if pattern is not None:
        placed = [p for p in placed if pattern.search(p.relative)]
    return placed


def _segment(run_id: str) -> str:
    """A run id as one directory name (validated: it becomes a path under DIR)."""
    validate_file_key(run_id)
    if "/" in run_id:
        raise ValidationError(f"run id {run_id!r} cannot be a directory name")
    return run_id


def _groups(s: Session, names: list[str]) -> list[tuple[str, Run]]:
    """(directory under DIR, run) for each run named and each of its experiments."""
    groups: list[tuple[str, Run]] = []
    for name in names:
        run = s.ops.run(name)
        if run.parent_run_id is not None:  # an experiment: DIR/<parent>/<experiment>
            groups.append((f"{_segment(run.parent_run_id)}/{_segment(run.run_id)}", run))
            continue
        groups.append((_segment(run.run_id), run))
        for child in sorted(s.ops.children(run.run_id), key=lambda r: _natural(r.run_id)):
            groups.append((f"{run.run_id}/{_segment(child.run_id)}", child))
    return groups


@artifacts_app.command("get")
def get(
    *,
    runs: RunsArg,
    download_dir: Annotated[
        Path, typer.Option("--download-dir", "-d", help="Where to download.")
    ] = Path("satchel_artifacts"),
    match: Annotated[
        str | None,
        typer.Option("--match", "-m", help="Only files whose path (under the run) matches."),
    ] = None,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Download the artifacts of runs or experiments to DIR/<run>/<run>-expN/<path>.

    Example: satchel artifacts get my-run-000 my-run-001-exp2 -m 'checkpoints/.*\\.ckpt$'
    """
    with connected(server, token, store, index) as s:
        try:
            pattern = None if match is None else re.compile(match)
        except re.error as exc:
            raise ValidationError(f"-m is not a regular expression: {exc}") from exc
        # One download per artifact (a directory artifact is copied locally once).
        work: dict[tuple[Path, str], tuple[Artifact, dict[str, str]]] = {}
        for folder, run in _groups(s, runs):
            base = safe_path(download_dir, folder)
            for p in plan(s.ops.run_artifacts(run.run_id), pattern):
                entry = work.setdefault((base, p.artifact.artifact_id), (p.artifact, {}))
                entry[1][p.file_path] = p.relative
        sizes = {
            key: sum(f.bytes or 0 for f in a.files if f.path in wanted)
            for key, (a, wanted) in work.items()
        }
        total = sum(sizes.values())
        written: list[dict[str, Any]] = []
        out = console(err=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=out,
            disable=not out.is_terminal,
        ) as progress:
            task = progress.add_task("downloading", total=total)
            for (base, _), (a, wanted) in work.items():
                progress.update(task, description=(a.name or a.artifact_id)[-40:])
                for dest in download_files(s, a, base, wanted):
                    written.append({"artifact_id": a.artifact_id, "path": str(dest)})
                progress.advance(task, sizes[(base, a.artifact_id)])
        if as_json:
            emit_json(written)
        else:
            for item in written:
                typer.echo(item["path"])
            note(f"{len(written)} file(s), {human_bytes(total)} in {download_dir}")


@artifacts_app.command("where")
def where(
    *,
    runs: RunsArg,
    files: Annotated[
        bool, typer.Option("--files", help="One row per file, with its own location.")
    ] = False,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Show where each experiment's artifacts are stored (Grid's --bucket_path).

    Example: satchel artifacts where my-run-000
    """
    with connected(server, token, store, index) as s:
        rows: list[dict[str, Any]] = []
        location = s.ops.location()
        for _, run in _groups(s, runs):
            found = s.ops.run_artifacts(run.run_id)
            if files:
                rows.extend(
                    {
                        "experiment": run.run_id,
                        "artifact_id": a.artifact_id,
                        "path": f.path,
                        "location": s.ops.file_location(a, f),
                    }
                    for a in found
                    for f in a.files
                )
                continue
            rows.append(
                {
                    "experiment": run.run_id,
                    "location": location,
                    "artifacts": len(found),
                    "files": sum(len(a.files) for a in found),
                    "bytes": sum(a.bytes or 0 for a in found),
                }
            )
        if as_json:
            emit_json(rows)
        elif files:
            table(
                ("EXPERIMENT", "ARTIFACT_ID", "PATH", "LOCATION"),
                [[r["experiment"], r["artifact_id"], r["path"], r["location"]] for r in rows],
            )
        else:
            table(
                ("EXPERIMENT", "LOCATION", "ARTIFACTS", "FILES", "SIZE"),
                [
                    [
                        r["experiment"],
                        r["location"],
                        str(r["artifacts"]),
                        str(r["files"]),
                        human_bytes(r["bytes"]),
                    ]
                    for r in rows
                ],
            )
