"""Downloads: Range, safe headers, and verification that never serves damaged bytes."""

from __future__ import annotations

import os
import urllib.parse

import httpx
import pytest

from satchel.errors import IntegrityError
from satchel.hashing import Digest
from satchel.index.schema import inline_blobs
from satchel.server.downloads import DownloadAbortedError
from satchel.storage.local import LocalBlobStore
from satchel.storage.s3 import S3BlobStore
from serverkit import World, create, state_of, upload

DATA = os.urandom(3 * 1024 * 1024 + 123)  # crosses several 1 MiB chunks


async def _big(http: httpx.AsyncClient, name: str = "blob.bin") -> str:
    created = await create(http, {name: DATA}, inline=False)
    await upload(http, created["artifact_id"], urllib.parse.quote(name), DATA)
    return str(created["artifact_id"])


@pytest.mark.parametrize(
    ("header", "status", "want"),
    [
        ("bytes=0-9", 206, (0, 9)),
        ("bytes=1048570-1048580", 206, (1048570, 1048580)),
        ("bytes=-10", 206, (len(DATA) - 10, len(DATA) - 1)),
        ("bytes=3145000-", 206, (3145000, len(DATA) - 1)),
        ("bytes=10-99999999", 206, (10, len(DATA) - 1)),
        ("bytes=0-1,5-6", 200, None),  # several ranges: the whole file
        ("items=0-1", 200, None),
        ("bytes=9-1", 200, None),
    ],
)
async def test_range_requests(
    owner_client: httpx.AsyncClient, header: str, status: int, want: tuple[int, int] | None
) -> None:
    aid = await _big(owner_client)
    response = await owner_client.get(
        f"/api/v1/artifacts/{aid}/files/blob.bin", headers={"Range": header}
    )
    assert response.status_code == status
    if want is None:
        assert response.content == DATA
        return
    first, last = want
    assert response.content == DATA[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert int(response.headers["content-length"]) == last - first + 1


async def test_an_unsatisfiable_range_is_416(owner_client: httpx.AsyncClient) -> None:
    aid = await _big(owner_client)
    response = await owner_client.get(
        f"/api/v1/artifacts/{aid}/files/blob.bin", headers={"Range": f"bytes={len(DATA)}-"}
    )
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


async def test_downloads_are_inert_attachments(owner_client: httpx.AsyncClient) -> None:
    name = "résumé <script>.html"
    created = await create(owner_client, {name: b"<script>alert(1)</script>"})
    url = f"/api/v1/artifacts/{created['artifact_id']}/files/{urllib.parse.quote(name)}"
    response = await owner_client.get(url)
    assert response.status_code == 200
    headers = response.headers
    disposition = headers["content-disposition"]
    assert disposition.startswith('attachment; filename="r_sum_ <script>.html"')
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%3Cscript%3E.html" in disposition
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert headers["etag"] == f'"{created["sha256"]}"'
    assert headers["x-satchel-sha256"] == created["sha256"]
    assert headers["accept-ranges"] == "bytes"


def _corrupt(world: World, sha256: str) -> None:
    blobs = state_of(world.app).store.blobs
    digest = Digest(hexdigest=sha256)
    if isinstance(blobs, LocalBlobStore):
        path = blobs.blob_path(digest)
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        assert isinstance(blobs, S3BlobStore)
        damaged = bytearray(DATA)
        damaged[len(damaged) // 2] ^= 0xFF
        blobs.put_small(digest, bytes(damaged), replace=True)


@pytest.mark.parametrize("range_header", [None, "bytes=0-99"])
async def test_a_damaged_blob_is_never_served(
    world: World, owner_client: httpx.AsyncClient, range_header: str | None
) -> None:
    aid = await _big(owner_client)
    sha = (await owner_client.get(f"/api/v1/artifacts/{aid}")).json()["sha256"]
    _corrupt(world, sha)
    headers = {"Range": range_header} if range_header else {}
    received = bytearray()
    # In process the stream's failure reaches the client as the exception itself (over a
    # socket it is a connection closed before Content-Length: test_live_server.py).
    with pytest.raises(DownloadAbortedError) as aborted:
        async with owner_client.stream(
            "GET", f"/api/v1/artifacts/{aid}/files/blob.bin", headers=headers
        ) as response:
            async for piece in response.aiter_bytes():
                received += piece
    assert len(received) < (100 if range_header else len(DATA))
    assert isinstance(aborted.value.__cause__, IntegrityError)


async def test_a_damaged_small_file_is_a_clean_500(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    created = await create(owner_client, {"s.txt": b"small and inline"})
    state = state_of(world.app)
    with state.store.index.write_transaction() as conn:  # type: ignore[attr-defined]
        conn.execute(inline_blobs.update().values(data=b"SMALL and inline"))
    response = await owner_client.get(f"/api/v1/artifacts/{created['artifact_id']}/files/s.txt")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "integrity_error"
