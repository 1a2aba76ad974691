"""Local copies and store-own blob references: what ``as_local_*`` and ``load_*`` need.

``own_blob`` and ``write_archive`` take the embedded ``ArtifactStore``. The copy helpers
take only a work directory and a ``Materialise`` callable (write one verified file at a
path), so the embedded core (reading its store) and the remote core (downloading) build
local trees and unpack archives the same way.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

from satchel.errors import (
    ArtifactNotDirectoryError,
    IntegrityError,
    InvalidURIError,
    NotFoundError,
    ValidationError,
)
from satchel.facade._shared import TAR_MIME, CoreBase, check_paths
from satchel.hashing import Digest
from satchel.ingest import DirEntry, write_tar
from satchel.models import Artifact, ArtifactFile, new_id
from satchel.storage import LocalBlobPaths
from satchel.storage.layout import blob_key, digest_from_key
from satchel.store import ArtifactStore, StoredBlob, local_copy_matches
from satchel.uris import parse_uri
from satchel.validation import validate_file_key

__all__ = [
    "Materialise",
    "extract_archive",
    "local_tree",
    "materialise_tree",
    "own_blob",
    "tree_matches",
    "write_archive",
]

#: Writes a verified copy of one file at a path (temp file, then rename); raises
#: ``IntegrityError`` rather than leave wrong bytes there.
Materialise = Callable[[ArtifactFile, Path], None]


def own_blob(store: ArtifactStore, uri: str | os.PathLike[str]) -> ArtifactFile | None:
    """When ``uri`` names a blob of this store, the record to verify it by; else None.

    Accepted: the store's own blob URLs (what ``blob_uri`` gives: ``file://``, ``memory://``,
    later ``s3://``) and, for a local store, paths to its blob files. A blob the index still
    references but the store lost is damage (``IntegrityError``), not a missing thing.
    """
    blobs = store.blobs
    key: str | None = None
    if isinstance(uri, str):
        zero = Digest(hexdigest="0" * 64)
        prefix = blobs.blob_uri(zero)[: -len(blob_key(zero))]
        if uri.startswith(prefix):
            key = uri[len(prefix) :]
    if key is None and isinstance(blobs, LocalBlobPaths):
        target = parse_uri(uri)
        if target.local_path is not None:
            path = Path(os.path.abspath(target.local_path))
            base = blobs.root / "blobs"
            if base in path.parents:
                key = path.relative_to(base).as_posix()
    if key is None:
        return None
    try:
        digest = digest_from_key(key)
    except ValidationError as exc:
        raise InvalidURIError(f"{uri!s} is inside the store but is not a blob") from exc
    size = blobs.stat(digest)
    if size is None:
        if store.index.blob_referenced(digest.hexdigest):
            raise IntegrityError(
                f"integrity check failed: blob {digest} is referenced by the index but "
                f"missing from the store"
            )
        raise NotFoundError(f"no blob {digest} in this store")
    return ArtifactFile(path=digest.hexdigest, sha256=digest.hexdigest, bytes=size)


def write_archive(store: ArtifactStore, entries: Sequence[DirEntry]) -> StoredBlob:
    """Stream a deterministic tar of ``entries`` (sorted, mtime 0, mode 0644) into a blob."""
    writer = store.blob_writer()
    try:
        write_tar(writer, entries)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def tree_matches(artifact: Artifact, dest: Path, *, chunk_size: int) -> bool:
    """True when ``dest`` holds exactly the artifact's files, each verified."""
    if not dest.is_dir():
        return False
    present = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if not p.is_dir()}
    if present != {f.path for f in artifact.files}:
        return False
    return all(local_copy_matches(f, dest / f.path, chunk_size=chunk_size) for f in artifact.files)


def materialise_tree(
    artifact: Artifact, dest: Path, *, work_dir: Path, materialise: Materialise
) -> None:
    """Write every file, verified, into a fresh tree, then swap it into place at ``dest``."""
    staging = work_dir / f".{new_id()}.tree"
    try:
        for file in artifact.files:
            materialise(file, staging / file.path)
        staging.mkdir(parents=True, exist_ok=True)
        _swap_into_place(work_dir, staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extract_archive(
    file: ArtifactFile, dest: Path, *, work_dir: Path, materialise: Materialise
) -> None:
    """Unpack a verified tar file into ``dest``; members must be plain, valid file keys."""
    archive = work_dir / f".{new_id()}.tar"
    staging = work_dir / f".{new_id()}.tree"
    try:
        materialise(file, archive)
        staging.mkdir(parents=True)
        try:
            with tarfile.open(archive, mode="r:") as tar:
                _check_members(tar.getmembers())
                tar.extractall(staging, filter="data")
        except tarfile.TarError as exc:
            raise ValidationError(
                f"artifact file {file.path!r} is not a tar archive: {exc}"
            ) from exc
        _swap_into_place(work_dir, staging, dest)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def _check_members(members: Sequence[tarfile.TarInfo]) -> None:
    """Members must be plain files under valid file keys, none the folder of another."""
    names = set()
    for member in members:
        validate_file_key(member.name)
        if not member.isfile():
            raise ValidationError(f"archive member {member.name!r} is not a file")
        names.add(member.name)
    for name in names:
        parts = name.split("/")
        for end in range(1, len(parts)):
            if "/".join(parts[:end]) in names:
                raise ValidationError(
                    f"archive member {name!r} is inside {'/'.join(parts[:end])!r}, also a file"
                )


def local_tree(
    artifact: Artifact, dest: Path, *, work_dir: Path, materialise: Materialise, chunk_size: int
) -> None:
    """Make ``dest`` a verified copy of a directory artifact (or of an archive's tree).

    A directory is checked file by file and rewritten when anything differs; an archive is
    unpacked once (a marker next to ``dest`` records it).

    Raises:
        ArtifactNotDirectoryError: the artifact is a plain file.
    """
    check_paths(artifact)
    if artifact.is_dir:
        if not tree_matches(artifact, dest, chunk_size=chunk_size):
            materialise_tree(artifact, dest, work_dir=work_dir, materialise=materialise)
    elif artifact.mime == TAR_MIME:
        marker = work_dir / f".{artifact.artifact_id}.extracted"
        if not (marker.is_file() and dest.is_dir()):
            file = CoreBase.single_file(artifact)
            extract_archive(file, dest, work_dir=work_dir, materialise=materialise)
            marker.write_text(artifact.sha256 or "")
    else:
        raise ArtifactNotDirectoryError(
            f"artifact {artifact.artifact_id} is a file; use as_local_file"
        )


def _swap_into_place(work_dir: Path, staging: Path, dest: Path) -> None:
    old = work_dir / f".{new_id()}.old"
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
