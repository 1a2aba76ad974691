"""Multipart uploads by presigned part URLs (S3 stores): the client PUTs parts straight to
the bucket, the server verifies the joined bytes before the file completes. Real SeaweedFS
and PostgreSQL; the parts are PUT by a plain HTTP client with no credentials at all.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from satchel.errors import NotFoundError
from satchel.server import part_tokens
from satchel.storage.base import PartUpload
from serverkit import SECRET, World, create, state_of

PART = 5 * 1024 * 1024
S3 = pytest.mark.parametrize("server_kind", ["s3+postgres"], indirect=True)


def base(aid: str) -> str:
    return f"/api/v1/artifacts/{aid}/multipart"


async def begin(http: httpx.AsyncClient, aid: str, path: str = "d.bin") -> dict[str, Any]:
    made = await http.post(base(aid), json={"path": path, "part_size": 1})
    assert made.status_code == 201, made.text
    return dict(made.json())


async def put_parts(
    http: httpx.AsyncClient, aid: str, upload: str, data: bytes, numbers: list[int]
) -> None:
    signed = await http.post(f"{base(aid)}/{upload}/parts", json={"numbers": numbers})
    assert signed.status_code == 200, signed.text
    urls = {u["number"]: u["url"] for u in signed.json()["urls"]}
    assert sorted(urls) == sorted(numbers)
    async with httpx.AsyncClient(timeout=60) as bucket:  # no satchel token: S3 alone
        for number, url in urls.items():
            body = data[(number - 1) * PART : number * PART]
            put = await bucket.put(url, content=body)
            assert put.status_code == 200, put.text


async def file_status(http: httpx.AsyncClient, aid: str) -> str:
    return str((await http.get(f"/api/v1/artifacts/{aid}")).json()["files"][0]["status"])


@S3
async def test_parts_put_to_the_bucket_complete_the_file_once_verified(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    data = os.urandom(2 * PART + 777)
    aid = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    assert (await owner_client.get("/api/v1/info")).json()["presigned_multipart"] is True
    made = await begin(owner_client, aid)
    # part_size 1 is rounded up to S3's smallest part.
    assert (made["path"], made["bytes"], made["part_size"], made["parts"]) == (
        "d.bin",
        len(data),
        PART,
        3,
    )
    upload = made["upload"]
    await put_parts(owner_client, aid, upload, data, [1, 2, 3])
    state = (await owner_client.get(f"{base(aid)}/{upload}")).json()
    assert [(p["number"], p["size"]) for p in state["uploaded"]] == [(1, PART), (2, PART), (3, 777)]
    assert state["status"] == "pending"
    assert await file_status(owner_client, aid) == "pending"
    done = await owner_client.post(f"{base(aid)}/{upload}/complete")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == done.json()["artifact_status"] == "completed"
    assert (await owner_client.get(f"/api/v1/artifacts/{aid}/files/d.bin")).content == data
    blobs = state_of(world.app).store.blobs
    assert list(blobs.iter_garbage(older_than=timedelta(0))) == []  # type: ignore[attr-defined]
    again = await owner_client.post(f"{base(aid)}/{upload}/complete")
    assert again.status_code == 409


@S3
async def test_missing_parts_are_named_and_the_upload_goes_on(
    owner_client: httpx.AsyncClient,
) -> None:
    data = os.urandom(2 * PART + 10)
    aid = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    upload = (await begin(owner_client, aid))["upload"]
    await put_parts(owner_client, aid, upload, data, [1, 3])
    state = (await owner_client.get(f"{base(aid)}/{upload}")).json()
    assert [p["number"] for p in state["uploaded"]] == [1, 3]
    early = await owner_client.post(f"{base(aid)}/{upload}/complete")
    assert early.status_code == 409
    assert "parts missing: 2" in early.json()["error"]["message"]
    assert await file_status(owner_client, aid) == "pending"
    await put_parts(owner_client, aid, upload, data, [2])
    done = await owner_client.post(f"{base(aid)}/{upload}/complete")
    assert done.json()["artifact_status"] == "completed"
    assert (await owner_client.get(f"/api/v1/artifacts/{aid}/files/d.bin")).content == data


@S3
async def test_a_tampered_part_fails_completion_and_the_file_stays_pending(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    data = os.urandom(PART + 4096)
    aid = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    upload = (await begin(owner_client, aid))["upload"]
    tampered = bytearray(data)
    tampered[PART + 100] ^= 0x40
    await put_parts(owner_client, aid, upload, bytes(tampered), [1, 2])
    refused = await owner_client.post(f"{base(aid)}/{upload}/complete")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    assert "failed its check" in error["message"] and "stays pending" in error["message"]
    assert await file_status(owner_client, aid) == "pending"
    assert (await owner_client.get(f"/api/v1/artifacts/{aid}/files/d.bin")).status_code == 409
    gone = await owner_client.get(f"{base(aid)}/{upload}")
    assert gone.status_code == 404  # the upload was consumed: nothing is left in the bucket
    blobs = state_of(world.app).store.blobs
    assert list(blobs.iter_garbage(older_than=timedelta(0))) == []  # type: ignore[attr-defined]
    # A new upload of the right bytes completes it.
    fresh = (await begin(owner_client, aid))["upload"]
    await put_parts(owner_client, aid, fresh, data, [1, 2])
    done = await owner_client.post(f"{base(aid)}/{fresh}/complete")
    assert done.json()["artifact_status"] == "completed"


@S3
async def test_an_upload_token_works_for_its_artifact_file_and_user_only(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    data = os.urandom(1000)
    aid = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    upload = (await begin(owner_client, aid))["upload"]
    mine = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    world.member("colleague", "a")
    world.member("stranger", "b")
    async with world.client("colleague") as colleague, world.client("stranger") as stranger:
        theirs = (await create(colleague, {"d.bin": data}, inline=False))["artifact_id"]
        attempts = [
            (colleague, aid),  # the owner's artifact, by a colleague
            (stranger, aid),  # ... by another organisation
            (colleague, theirs),  # the colleague's own artifact, with the owner's token
            (owner_client, mine),  # the owner's other artifact
        ]
        for http, target in attempts:
            url = f"{base(target)}/{upload}"
            answers = [
                await http.get(url),
                await http.post(f"{url}/parts", json={"numbers": [1]}),
                await http.post(f"{url}/complete"),
                await http.delete(url),
            ]
            for answer in answers:
                assert answer.status_code == 404, answer.text
                assert answer.json()["error"]["code"] == "not_found"
    payload, _, signature = upload.partition(".")
    forged = f"{payload}.{signature[:-2]}AA"
    assert (await owner_client.get(f"{base(aid)}/{forged}")).status_code == 404
    # The owner's own upload is untouched by all that.
    await put_parts(owner_client, aid, upload, data, [1])
    done = await owner_client.post(f"{base(aid)}/{upload}/complete")
    assert done.json()["artifact_status"] == "completed"


def test_an_upload_token_expires_and_binds_every_claim() -> None:
    secret = SECRET.encode()
    claims = part_tokens.PartsClaims(
        artifact_id="A1",
        user_id="u1",
        path="dir/model.ckpt",
        upload=PartUpload(token="01TOKEN0000000000000", upload_id="up/1"),
        part_size=PART,
        expires=int(time.time()) + 60,
    )
    token = part_tokens.issue(secret, claims)
    assert part_tokens.verify(secret, token, artifact_id="A1", user_id="u1") == claims
    for artifact_id, user_id in (("A2", "u1"), ("A1", "u2")):
        with pytest.raises(NotFoundError):
            part_tokens.verify(secret, token, artifact_id=artifact_id, user_id=user_id)
    with pytest.raises(NotFoundError, match="expired"):
        part_tokens.verify(secret, token, artifact_id="A1", user_id="u1", now=claims.expires)
    with pytest.raises(NotFoundError):
        part_tokens.verify(b"another secret", token, artifact_id="A1", user_id="u1")
    for bad in ("", ".", "x.y", token + "x", "é." + token.split(".")[1]):
        with pytest.raises(NotFoundError):
            part_tokens.verify(secret, bad, artifact_id="A1", user_id="u1")


@S3
async def test_part_urls_carry_their_expiry_and_an_aborted_upload_is_gone(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    data = os.urandom(PART + 1)
    aid = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    upload = (await begin(owner_client, aid))["upload"]
    signed = await owner_client.post(
        f"{base(aid)}/{upload}/parts", json={"numbers": [2, 1, 2], "expires_in": 90}
    )
    urls = signed.json()["urls"]
    assert [u["number"] for u in urls] == [2, 1]
    query = parse_qs(urlsplit(urls[0]["url"]).query)
    assert query["X-Amz-Expires"] == ["90"] and query["partNumber"] == ["2"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
    beyond = await owner_client.post(f"{base(aid)}/{upload}/parts", json={"numbers": [3]})
    assert beyond.status_code == 422
    too_long = await owner_client.post(
        f"{base(aid)}/{upload}/parts", json={"numbers": [1], "expires_in": 8 * 86400}
    )
    assert too_long.status_code == 422
    await put_parts(owner_client, aid, upload, data, [1])
    assert (await owner_client.delete(f"{base(aid)}/{upload}")).status_code == 204
    assert (await owner_client.get(f"{base(aid)}/{upload}")).status_code == 404
    blobs = state_of(world.app).store.blobs
    assert list(blobs.iter_garbage(older_than=timedelta(0))) == []  # type: ignore[attr-defined]
    assert await file_status(owner_client, aid) == "pending"


async def test_stores_without_part_signing_refuse_and_say_so(
    server_kind: str, owner_client: httpx.AsyncClient
) -> None:
    aid = (await create(owner_client, {"x.bin": b"x"}, inline=False))["artifact_id"]
    info = (await owner_client.get("/api/v1/info")).json()
    made = await owner_client.post(base(aid), json={"path": "x.bin"})
    if server_kind == "local":
        assert info["presigned_multipart"] is False
        assert made.status_code == 422
        assert "does not take multipart uploads" in made.json()["error"]["message"]
    else:
        assert info["presigned_multipart"] is True
        assert made.status_code == 201
        assert made.json()["parts"] == 1
