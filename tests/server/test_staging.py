"""Staged uploads: the SHA-256 computed as chunks arrive, and when it may not be trusted.

A process keeps the hash state of the uploads it wrote last, so the chunk that completes a
file needs no second read. Replicas share the staging directory, so a chunk written by
another process (or a rewind) in between must make the state unusable: otherwise a client
could have bytes published under a digest they do not have.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from satchel.errors import ConflictError
from satchel.server.errors import ApiError
from satchel.server.staging import PIECE, Staging

AID = "01ARTIFACT"
PATH = "weights.bin"


async def _body(data: bytes, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_chunks_of_one_process_are_hashed_as_they_arrive(tmp_path: Path) -> None:
    staging = Staging(tmp_path)
    data = os.urandom(3 * PIECE + 12_345)  # pieces, and a tail shorter than one
    cuts = [0, PIECE // 2, 2 * PIECE + 1, len(data)]
    for start, end in itertools.pairwise(cuts):
        received = await staging.write_chunk(
            AID, PATH, offset=start, size=len(data), body=_body(data[start:end])
        )
        assert received.received == end
        digest = staging.digest(AID, PATH)
        assert digest is not None
        assert digest.hexdigest == _sha(data[:end])
    assert staging.part_path(AID, PATH).read_bytes() == data


async def test_a_chunk_written_by_another_process_voids_the_state(tmp_path: Path) -> None:
    first, second = Staging(tmp_path), Staging(tmp_path)  # two replicas, one directory
    data = os.urandom(3 * PIECE)
    third = len(data) // 3
    await first.write_chunk(AID, PATH, offset=0, size=len(data), body=_body(data[:third]))
    await second.write_chunk(
        AID, PATH, offset=third, size=len(data), body=_body(data[third : 2 * third])
    )
    assert second.digest(AID, PATH) is None, "the second saw only part of the bytes"
    await first.write_chunk(
        AID, PATH, offset=2 * third, size=len(data), body=_body(data[2 * third :])
    )
    assert first.digest(AID, PATH) is None, "its state misses the middle third"
    assert first.part_path(AID, PATH).read_bytes() == data


async def test_bytes_rewritten_elsewhere_are_never_vouched_for(tmp_path: Path) -> None:
    """A client rewinds through another replica and sends other bytes of the same length:
    the first replica's state (of the original bytes) must not describe the file."""
    first, second = Staging(tmp_path), Staging(tmp_path)
    good = os.urandom(2 * PIECE)
    bad = bytes(PIECE) + good[PIECE:]
    await first.write_chunk(AID, PATH, offset=0, size=len(good), body=_body(good[:PIECE]))
    await second.write_chunk(AID, PATH, offset=0, size=len(good), body=_body(bad[:PIECE]))
    await first.write_chunk(AID, PATH, offset=PIECE, size=len(good), body=_body(good[PIECE:]))
    assert first.digest(AID, PATH) is None
    assert first.part_path(AID, PATH).read_bytes() == bad


async def test_a_rewind_in_the_same_process_hashes_the_new_bytes(tmp_path: Path) -> None:
    staging = Staging(tmp_path)
    data = os.urandom(2 * PIECE)
    other = os.urandom(PIECE)
    await staging.write_chunk(AID, PATH, offset=0, size=len(data), body=_body(other))
    await staging.write_chunk(AID, PATH, offset=0, size=len(data), body=_body(data))
    digest = staging.digest(AID, PATH)
    assert digest is not None
    assert digest.hexdigest == _sha(data)


async def test_a_refused_chunk_keeps_the_state_of_the_bytes_before_it(tmp_path: Path) -> None:
    staging = Staging(tmp_path)
    data = os.urandom(PIECE + 10)
    await staging.write_chunk(AID, PATH, offset=0, size=len(data), body=_body(data[:PIECE]))
    with pytest.raises(ApiError):  # more bytes than the file has: nothing of it is kept
        await staging.write_chunk(
            AID, PATH, offset=PIECE, size=len(data), body=_body(data[PIECE:] + bytes(PIECE))
        )
    assert staging.received(AID, PATH) == PIECE
    await staging.write_chunk(AID, PATH, offset=PIECE, size=len(data), body=_body(data[PIECE:]))
    digest = staging.digest(AID, PATH)
    assert digest is not None
    assert digest.hexdigest == _sha(data)


async def test_an_offset_past_the_acknowledged_bytes_is_refused(tmp_path: Path) -> None:
    staging = Staging(tmp_path)
    data = os.urandom(PIECE)
    with pytest.raises(ConflictError, match="from offset 0"):
        await staging.write_chunk(AID, PATH, offset=10, size=len(data), body=_body(data))


async def test_an_ack_from_an_older_server_still_counts(tmp_path: Path) -> None:
    """Before the writer mark, ``.ack`` held the position alone (8 bytes)."""
    staging = Staging(tmp_path)
    data = os.urandom(PIECE)
    part = staging.part_path(AID, PATH)
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    part.with_suffix(".ack").write_bytes((1000).to_bytes(8, "big"))
    assert staging.received(AID, PATH) == 1000
    await staging.write_chunk(AID, PATH, offset=1000, size=len(data), body=_body(data[1000:]))
    assert staging.digest(AID, PATH) is None, "the first 1,000 bytes were never hashed here"
    assert part.read_bytes() == data
