"""``satchel artifacts``: list, show, upload, download, share, link, pin and delete.

Each command opens its target (``_session.open_session``: the embedded store, or a server
with ``--server``), makes one or two library calls and prints the answer: a Rich table, or
JSON with ``--json``. ``get`` and ``where`` (whole runs and experiments) are in
``cli/fetch.py``; ``grant``, ``revoke``, ``grants`` and ``link`` in ``cli/sharing.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

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
    copy_into,
    origins,
    parse_labels,
    parse_metrics,
    safe_path,
)
from satchel.cli._output import (
    ARTIFACT_HEADER,
    GRANT_HEADER,
    JsonOption,
    artifact_row,
    console,
    emit_json,
    grant_dict,
    grant_rows,
    human_bytes,
    note,
    table,
)
from satchel.cli._session import SearchRequest, Session
from satchel.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
    ValidationError,
)
from satchel.models import Artifact
from satchel.tenancy.base import Grant

__all__ = ["artifacts_app"]

artifacts_app = typer.Typer(
    name="artifacts",
    help="Artifacts: list, show, upload, download, share, link, pin and delete.",
    no_args_is_help=True,
)

IdArg = Annotated[str, typer.Argument(help="The artifact's id.", metavar="ID", show_default=False)]
IdOpt = Annotated[str, typer.Option("--id", "-i", help="The artifact's id.", show_default=False)]
#: The label that names an upload, so that running the same upload again reuses it.
UPLOAD_KEY = "upload_key"


# -- list and show ------------------------------------------------------------------------


@artifacts_app.command("list")
def list_(
    *,
    kinds: Annotated[
        list[str] | None, typer.Option("--type", "-t", help="Only this type (repeatable).")
    ] = None,
    mine: MineOption = False,
    org: OrgOption = False,
    shared: SharedOption = False,
    run: Annotated[str | None, typer.Option("--run", "-r", help="Only this run's.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Only matches of this text.")
    ] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """List the artifacts you may read, newest first (or best match first with --search).

    Example: satchel artifacts list --type checkpoint --type metric --mine --limit 20
    """
    with connected(server, token, store, index) as s:
        found = list_artifacts(
            s,
            SearchRequest(query=search, run_id=run, origin=origins(mine, org, shared), limit=limit),
            kinds or [],
        )
        if as_json:
            emit_json([a.to_dict() for a in found])
        else:
            table(ARTIFACT_HEADER, [artifact_row(a) for a in found])


def list_artifacts(s: Session, request: SearchRequest, kinds: list[str]) -> list[Artifact]:
    """One search per type (the API filters one kind at a time), merged newest first."""
    if len(kinds) <= 1:
        kind = kinds[0] if kinds else None
        return s.ops.search(replace(request, kind=kind)).items
    found: list[Artifact] = []
    for kind in dict.fromkeys(kinds):
        found.extend(s.ops.search(replace(request, kind=kind)).items)
    if request.query is None:  # text results keep each kind's ranking, kind after kind
        found.sort(key=lambda a: (str(a.created_at), a.artifact_id), reverse=True)
    return found[: request.limit]


@artifacts_app.command("show")
def show(
    *,
    artifact_id: IdArg,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Show an artifact: its metadata, its files with their status, and its grants when
    you manage it.

    Example: satchel artifacts show 01JD3Q5W8YVZ4M2K7N9P0RSTUV
    """
    with connected(server, token, store, index) as s:
        a = s.require(artifact_id)
        grants: list[Grant] | None
        try:
            grants = s.ops.grants(artifact_id)
        except PermissionDeniedError:
            grants = None  # readable, not managed by the caller: grants are not theirs to see
        if as_json:
            out = a.to_dict()
            out["grants"] = None if grants is None else [grant_dict(g) for g in grants]
            emit_json(out)
            return
        fields = a.to_dict()
        rows = [
            [key, json.dumps(value) if isinstance(value, dict | list) else str(value)]
            for key, value in fields.items()
            if key != "files" and value not in (None, [], {})
        ]
        table(("FIELD", "VALUE"), rows, title=f"artifact {a.artifact_id}")
        table(
            ("PATH", "STATUS", "SIZE", "SHA256", "MIME"),
            [[f.path, f.status, human_bytes(f.bytes), f.sha256, f.mime or "-"] for f in a.files],
            title="files",
        )
        if grants is not None:
            table(GRANT_HEADER, grant_rows(grants), title="grants")


# -- upload and download ------------------------------------------------------------------


@artifacts_app.command("upload")
def upload(
    *,
    name: Annotated[str, typer.Option("--name", "-n", help="The artifact's name.")],
    kind: Annotated[
        str, typer.Option("--type", "-t", help="checkpoint, metric, log, result, model...")
    ],
    files: Annotated[
        list[Path],
        typer.Option("--file", "-f", help="A file to upload (repeatable: a directory artifact)."),
    ],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            "-k",
            help="The upload's key: an upload with a key already used reuses its artifact "
            "(default: derived from name, type, files and metadata).",
        ),
    ] = None,
    metadata: Annotated[
        str | None, typer.Option("--metadata", "-m", help="Labels as a JSON object.")
    ] = None,
    model_id: Annotated[str | None, typer.Option("--model-id", help="The model's id.")] = None,
    model_version: Annotated[
        str | None, typer.Option("--model-version", help="The model's version.")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="A label k=v (repeatable).")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="A metric k=number (repeatable).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    run: Annotated[
        str | None, typer.Option("--run", "-r", help="The run it belongs to (default: a new one).")
    ] = None,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Upload files as one artifact (one file: a file artifact; several: a directory).

    Running the same upload again (same key) prints the artifact it made instead of
    uploading again; an interrupted upload to a server resumes.

    Example: satchel artifacts upload -n resnet -t checkpoint -f model.ckpt --metric acc=0.91
    """
    fields = {"run_id": run} if run is not None else {}
    with connected(server, token, store, index, **fields) as s:
        labels = parse_labels(label or [], metadata)
        metrics = parse_metrics(metric or [])
        tags = sorted(set(tag or []))
        for f in files:
            if not f.is_file():
                raise NotFoundError(f"no such file: {f}" if not f.exists() else f"not a file: {f}")
        if len(files) > 1 and (model_id is not None or model_version is not None):
            raise ValidationError(
                "--model-id and --model-version go on a single-file upload "
                "(a directory artifact takes them as labels: --label model_id=...)"
            )
        names = [f.name for f in files]
        if len(set(names)) != len(names):
            raise ValidationError(f"two files of the same name: {sorted(names)}")
        described: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "labels": labels,
            "metrics": metrics,
            "tags": tags,
            "model": [model_id, model_version],
            "run": run,
            "files": sorted((f.name, _sha256(f)) for f in files),
        }
        upload_key = (
            key
            or "auto-"
            + hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:32]
        )
        previous = _previous_upload(s, upload_key, described)
        if previous is not None:
            note(f"already uploaded (key {upload_key}): reusing {previous.artifact_id}")
            _print_artifact(previous, as_json)
            return
        labels = {**labels, UPLOAD_KEY: upload_key}
        with console(err=True).status(f"uploading {len(files)} file(s)"):
            if len(files) == 1:
                made = s.arts.save_file(
                    files[0],
                    kind=kind,
                    name=name,
                    labels=labels,
                    metrics=metrics,
                    tags=tags,
                    model_id=model_id,
                    model_version=model_version,
                )
            else:
                staged = Path(s.arts.stage_dir("_upload"))
                for f in files:
                    copy_into(f, staged / f.name)
                made = s.arts.ingest_dir(
                    staged, kind=kind, name=name, labels=labels, metrics=metrics, tags=tags
                )
        note(f"uploaded {made.artifact_id} ({len(made.files)} file(s), {human_bytes(made.bytes)})")
        _print_artifact(made, as_json)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}", exc.errno) from exc
    return digest.hexdigest()


def _previous_upload(s: Session, upload_key: str, described: dict[str, Any]) -> Artifact | None:
    """The artifact an upload with this key made before, if any (a conflict when the same
    key was used for other files)."""
    page = s.ops.search(SearchRequest(labels={UPLOAD_KEY: upload_key}, origin=("mine",), limit=10))
    for found in page.items:
        same = (
            found.name == described["name"]
            and found.kind == described["kind"]
            and sorted(f.sha256 for f in found.files) == sorted(d for _, d in described["files"])
        )
        if same:
            return found
        raise ConflictError(
            f"the upload key {upload_key!r} already names artifact {found.artifact_id} "
            "with another name, type or files: choose another --key"
        )
    return None


def _print_artifact(a: Artifact, as_json: bool) -> None:
    if as_json:
        emit_json(a.to_dict())
    else:
        typer.echo(a.artifact_id)


@artifacts_app.command("download")
def download(
    *,
    artifact_id: IdArg,
    path: Annotated[Path, typer.Option("--path", "-p", help="Directory to download into.")] = Path(
        "."
    ),
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Download an artifact's files to DIR/<artifact_id>/<file path>, verified.

    Example: satchel artifacts download 01JD3Q5W8YVZ4M2K7N9P0RSTUV -p ./models
    """
    with connected(server, token, store, index) as s:
        a = s.require(artifact_id)
        root = safe_path(path, a.artifact_id)  # DIR/<id> must not be a link leading away
        written = download_files(s, a, root, {f.path: f.path for f in a.files})
        for dest in written:
            typer.echo(str(dest))


def download_files(s: Session, a: Artifact, root: Path, wanted: dict[str, str]) -> list[Path]:
    """Verified copies of ``a``'s files: file path -> where under ``root`` (validated, so
    nothing is written outside ``root``)."""
    targets = {p: safe_path(root, rel) for p, rel in wanted.items()}
    if not targets:
        return []
    if a.is_dir:
        local = Path(s.arts.as_local_dir(a))
        sources = {p: local.joinpath(*p.split("/")) for p in targets}
    else:
        sources = {a.files[0].path: Path(s.arts.as_local_file(a))}
    for p, dest in targets.items():
        copy_into(sources[p], dest)
    return list(targets.values())


# -- pin and delete -----------------------------------------------------------------------


def _pin(artifact_id: str, pinned: bool, target: tuple[Any, ...]) -> None:
    with connected(*target) as s:
        s.arts.pin(artifact_id, pinned)
        typer.echo(f"{artifact_id} {'pinned' if pinned else 'unpinned'}")


@artifacts_app.command("pin")
def pin(
    artifact_id: IdArg,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Pin an artifact for retention.

    Example: satchel artifacts pin 01JD3Q5W8YVZ4M2K7N9P0RSTUV
    """
    _pin(artifact_id, True, (server, token, store, index))


@artifacts_app.command("unpin")
def unpin(
    artifact_id: IdArg,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Unpin an artifact.

    Example: satchel artifacts unpin 01JD3Q5W8YVZ4M2K7N9P0RSTUV
    """
    _pin(artifact_id, False, (server, token, store, index))


@artifacts_app.command("delete")
def delete(
    *,
    artifact_id: IdArg,
    force: Annotated[bool, typer.Option("--force", help="Do not ask for confirmation.")] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Delete an artifact, its files, grants and links (asks first unless --force).

    Example: satchel artifacts delete 01JD3Q5W8YVZ4M2K7N9P0RSTUV --force
    """
    with connected(server, token, store, index) as s:
        a = s.require(artifact_id)
        if not force:
            typer.confirm(
                f"Delete {a.artifact_id} ({a.name}, {len(a.files)} file(s), "
                f"{human_bytes(a.bytes)})?",
                abort=True,
                err=True,
            )
        s.ops.delete_artifact(artifact_id)
        typer.echo(f"{artifact_id} deleted")
