"""Local copies and store-own blob references: what ``as_local_*`` and ``load_*`` need.

Every function takes the ``ArtifactStore``; none knows about contexts or facades.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path

from satchel.errors import IntegrityError, InvalidURIError, NotFoundError, ValidationError
from satchel.hashing import Digest
from satchel.ingest import DirEntry
from satchel.models import Artifact, ArtifactFile, new_id
from satchel.storage import LocalBlobPaths
from satchel.storage.layout import blob_key, digest_from_key
from satchel.store import ArtifactStore, StoredBlob
from satchel.uris import parse_uri
from satchel.validation import validate_file_key

__all__ = [
    "extract_archive",
    "materialise_tree",
    "own_blob",
    "tree_matches",
    "write_archive",
]


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
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for entry in entries:
                info = tarfile.TarInfo(entry.key)
                info.size = entry.source.stat().st_size
                info.mode = 0o644
                info.mtime = 0
                with entry.source.open("rb") as fh:
                    tar.addfile(info, fh)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def tree_matches(store: ArtifactStore, artifact: Artifact, dest: Path) -> bool:
    """True when ``dest`` holds exactly the artifact's files, each verified."""
    if not dest.is_dir():
        return False
    present = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if not p.is_dir()}
    if present != {f.path for f in artifact.files}:
        return False
    return all(store.local_copy_matches(f, dest / f.path) for f in artifact.files)


def materialise_tree(store: ArtifactStore, artifact: Artifact, dest: Path) -> None:
    """Write every file, verified, into a fresh tree, then swap it into place at ``dest``."""
    staging = store.local_dir / f".{new_id()}.tree"
    try:
        for file in artifact.files:
            store.materialise(
                file,
                staging / file.path,
                what=f"artifact {artifact.artifact_id} file {file.path!r}",
            )
        staging.mkdir(parents=True, exist_ok=True)
        _swap_into_place(store, staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extract_archive(
    store: ArtifactStore, artifact: Artifact, file: ArtifactFile, dest: Path
) -> None:
    """Unpack a verified tar artifact into ``dest``; members must be plain, valid file keys."""
    archive = store.local_dir / f".{new_id()}.tar"
    staging = store.local_dir / f".{new_id()}.tree"
    try:
        store.materialise(file, archive, what=f"artifact {artifact.artifact_id}")
        staging.mkdir(parents=True)
        with tarfile.open(archive, mode="r:") as tar:
            for member in tar.getmembers():
                validate_file_key(member.name)
                if not member.isfile():
                    raise ValidationError(f"archive member {member.name!r} is not a file")
            tar.extractall(staging, filter="data")
        _swap_into_place(store, staging, dest)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def _swap_into_place(store: ArtifactStore, staging: Path, dest: Path) -> None:
    old = store.local_dir / f".{new_id()}.old"
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
