"""Saves over HTTP beyond what the facade suites reach: many small files batched under the
server's body limit, a file too big to travel inline, and a writer's stream larger than
what it keeps in memory (spooled to the staging directory, then uploaded in chunks)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from remotekit import on_both_pairs, remote_world

CHUNK = 256 * 1024


class Boom(Exception):
    pass


@pytest.mark.parametrize("pair", ["remote", "remote-s3pg"])
async def test_small_files_travel_in_batches_under_the_body_limit(
    pair, remote_mounts, tmp_path, request
):
    files = {f"part-{i:03d}/data.bin": os.urandom(1024 + i) for i in range(200)}
    # Inline-sized, but not within a 64 KiB body: chunks, to a path that needs escaping.
    files["odd names/50% & #1?.bin"] = os.urandom(100 * 1024)
    files["empty.txt"] = b""
    tree = tmp_path / "tree"
    for key, data in files.items():
        (tree / key).parent.mkdir(parents=True, exist_ok=True)
        (tree / key).write_bytes(data)
    # The smallest body limit a server takes: the 200 KiB of content cannot go at once.
    seaweed = request.getfixturevalue("seaweed") if pair == "remote-s3pg" else None
    with remote_world(*remote_mounts, tmp_path, seaweed=seaweed, body_max=64 * 1024) as remote:
        arts = remote.context(run_id="r1", upload_chunk=CHUNK).artifacts()
        a = await arts.ingest_dir(tree)
        assert a.status == "completed"
        assert {f.path: (f.sha256, f.bytes) for f in a.files} == {
            key: (hashlib.sha256(data).hexdigest(), len(data)) for key, data in files.items()
        }
        local = Path(await arts.as_local_dir(a))
        assert {
            p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()
        } == files


@on_both_pairs
async def test_a_long_writer_stream_is_spooled_and_uploaded_in_chunks(remote, tmp_path):
    ctx = remote.context(run_id="r1", upload_chunk=CHUNK)
    arts = ctx.artifacts()
    staging = ctx._core.staging_dir
    piece = os.urandom(64 * 1024)
    async with arts.writer(kind="log", planned_ext=".log") as w:
        for i in range(48):  # 3 MiB: past the 1 MiB the writer keeps in memory
            await w.write(piece[i:] + piece[:i])
            if i == 40:
                assert list(staging.glob(".*.spool")), "the stream is spooled to disk"
    expected = b"".join(piece[i:] + piece[:i] for i in range(48))
    assert w.artifact.bytes == len(expected)
    assert w.artifact.sha256 == hashlib.sha256(expected).hexdigest()
    assert await arts.load_bytes_by_id(w.artifact.artifact_id) == expected
    assert list(staging.glob(".*.spool")) == []

    with pytest.raises(Boom):
        async with arts.writer(kind="log") as w2:
            await w2.write(os.urandom(3 * 1024 * 1024))
            raise Boom
    assert w2.artifact is None
    assert list(staging.glob(".*.spool")) == []
    assert [a.artifact_id for a in await arts.list()] == [w.artifact.artifact_id]
