"""Downloads are verified by the client: damaged bytes raise ``IntegrityError`` and never
reach the caller or a local path (DESIGN.md invariant 3, RELIABILITY.md P4).

Two kinds of damage: a blob flipped on the server's disk (the server cuts the stream
short, the client must not take the short body for the file), and a byte flipped in
flight by something between server and client (the server's check passed: only the
client's own check can catch it).
"""

from __future__ import annotations

import os
from pathlib import Path

import obstore as obs
import pytest

from client._proxy import Proxy
from remotekit import RemoteWorld, on_both_pairs
from satchel import IntegrityError
from satchel.hashing import Digest
from satchel.storage.layout import blob_key
from satchel.storage.local import LocalBlobStore
from satchel.storage.s3 import BLOBS, S3BlobStore
from serverkit import state_of

SIZE = 3 * 1024 * 1024 + 17


def _damage_blob(remote: RemoteWorld, sha256: str, at: int = -10) -> None:
    """Flip one byte of a blob where the server keeps it: its disk or its bucket."""
    blobs = state_of(remote.app).store.blobs
    digest = Digest(hexdigest=sha256)
    if isinstance(blobs, S3BlobStore):
        key = BLOBS + blob_key(digest)
        damaged = bytearray(obs.get(blobs.obstore, key).bytes())
        damaged[at] ^= 1
        obs.put(blobs.obstore, key, bytes(damaged))
        return
    assert isinstance(blobs, LocalBlobStore)
    path = blobs.blob_path(digest)
    path.chmod(0o644)
    damaged = bytearray(path.read_bytes())
    damaged[at] ^= 1
    path.write_bytes(bytes(damaged))


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part") or p.name.endswith(".tree")]


@on_both_pairs
async def test_a_blob_damaged_on_the_server_never_reaches_the_caller(remote, tmp_path):
    ctx = remote.context(run_id="r1")
    arts = ctx.sync_artifacts()
    data = os.urandom(SIZE)
    src = tmp_path / "weights.bin"
    src.write_bytes(data)
    a = arts.save_file(src, kind="checkpoint")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "big.bin").write_bytes(data[::-1])
    (tree / "small.txt").write_bytes(b"fine")
    d = arts.ingest_dir(tree)
    # A verified copy first: the damage must not go unnoticed because one exists.
    good_dir = Path(arts.as_local_dir(d))
    assert (good_dir / "sub" / "big.bin").read_bytes() == data[::-1]

    _damage_blob(remote, a.sha256)
    _damage_blob(remote, next(f.sha256 for f in d.files if f.path == "sub/big.bin"))

    with pytest.raises(IntegrityError):
        arts.load_bytes_by_id(a.artifact_id)
    with pytest.raises(IntegrityError):
        arts.load_bytes(a.uri)
    with pytest.raises(IntegrityError):
        arts.as_local_file(a)
    copies = ctx._core.copies_dir
    assert not (copies / a.artifact_id / "weights.bin").exists()
    # A local copy that was changed is downloaded again, and the damage is found then.
    (good_dir / "sub" / "big.bin").write_bytes(b"changed locally")
    with pytest.raises(IntegrityError):
        arts.as_local_dir(d)
    assert (good_dir / "sub" / "big.bin").read_bytes() == b"changed locally"
    assert _leftovers(copies) == []
    # The rest of the tree still downloads.
    assert arts.load_bytes(f"satchel://{d.artifact_id}/small.txt") == b"fine"


@on_both_pairs
async def test_a_byte_damaged_in_flight_is_caught_by_the_client(remote, tmp_path):
    proxy = Proxy(remote.url)
    try:
        ctx = remote.context(run_id="r1", url=proxy.url)
        arts = ctx.sync_artifacts()
        data = os.urandom(SIZE)
        small = arts.save_text("a small one, stored inline on the server")
        src = tmp_path / "data.bin"
        src.write_bytes(data)
        big = arts.save_file(src, kind="blob")
        for artifact, at in ((big, SIZE // 2), (small, 3)):
            proxy.arm("flip", at)
            with pytest.raises(IntegrityError):
                arts.load_bytes_by_id(artifact.artifact_id)
            assert proxy.triggered.is_set()
        proxy.arm("flip", 1000)
        with pytest.raises(IntegrityError):
            arts.as_local_file(big)
        assert not (ctx._core.copies_dir / big.artifact_id / "data.bin").exists()
        assert _leftovers(ctx._core.copies_dir) == []
        # Undamaged, the same downloads succeed.
        proxy.arm("flip", 10 * SIZE)
        assert arts.load_bytes_by_id(big.artifact_id) == data
        assert Path(arts.as_local_file(big)).read_bytes() == data
        assert not proxy.triggered.is_set()
    finally:
        proxy.close()
