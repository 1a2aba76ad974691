"""Writes straight to an ``ArtifactStore``, below the facade, for the collection tests."""

from __future__ import annotations

from datetime import UTC, datetime

from satchel.hashing import digest_bytes
from satchel.index import ArtifactWrite
from satchel.models import Artifact, ArtifactFile, new_id


def file_write(data: bytes, *, name: str = "raced") -> tuple[Artifact, ArtifactWrite]:
    """A completed one-file artifact of ``data`` (no run), and the write that commits it;
    the blob must be stored first (``store.put_bytes(data)``)."""
    digest = digest_bytes(data)
    now = datetime.now(UTC)
    artifact = Artifact(
        artifact_id=new_id(),
        name=name,
        sha256=digest.hexdigest,
        bytes=len(data),
        created_at=now,
        updated_at=now,
        files=[ArtifactFile(path=f"{name}.bin", sha256=digest.hexdigest, bytes=len(data))],
    )
    return artifact, ArtifactWrite(artifact=artifact)
