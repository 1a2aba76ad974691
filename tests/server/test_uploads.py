"""Two-phase uploads (seeds/000): pending files, chunks, verification, dedup, retries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from serverkit import World, create, file_entry, state_of, upload


async def test_a_file_uploaded_in_chunks_completes_only_when_verified(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    data = os.urandom(300_000)
    created = await create(owner_client, {"model.ckpt": data}, inline=False, kind="checkpoint")
    aid = created["artifact_id"]
    assert created["status"] == "pending"
    assert [f["status"] for f in created["files"]] == ["pending"]
    assert created["user_id"] == world.members["owner"].user_id

    world.member("colleague", "a")
    async with world.client("colleague") as colleague:
        # Pending: visible to its creator only, and nowhere in listings.
        assert (await colleague.get(f"/api/v1/artifacts/{aid}")).status_code == 404
        assert (await colleague.get("/api/v1/artifacts")).json()["items"] == []
        assert (await owner_client.get("/api/v1/artifacts")).json()["items"] == []
        files = f"/api/v1/artifacts/{aid}/files/model.ckpt"
        assert (await owner_client.get(files)).json()["error"]["code"] == "conflict"

        state = await upload(owner_client, aid, "model.ckpt", data[:100_000], chunk=40_000)
        assert (state["received"], state["status"]) == (100_000, "pending")
        got = await owner_client.get(f"/api/v1/artifacts/{aid}/uploads/model.ckpt")
        assert got.json() == {
            "path": "model.ckpt",
            "bytes": 300_000,
            "received": 100_000,
            "status": "pending",
            "artifact_status": "pending",
        }
        rest = await owner_client.put(
            f"/api/v1/artifacts/{aid}/uploads/model.ckpt",
            params={"offset": 100_000},
            content=data[100_000:],
        )
        assert rest.json()["status"] == rest.json()["artifact_status"] == "completed"
        seen = await colleague.get(f"/api/v1/artifacts/{aid}")
        assert seen.status_code == 200 and seen.json()["status"] == "completed"
        assert (await colleague.get(files)).content == data


async def test_an_offset_past_what_arrived_is_refused_and_a_smaller_one_rewinds(
    owner_client: httpx.AsyncClient,
) -> None:
    data = os.urandom(50_000)
    aid = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    url = f"/api/v1/artifacts/{aid}/uploads/d.bin"
    await upload(owner_client, aid, "d.bin", data[:20_000])
    ahead = await owner_client.put(url, params={"offset": 30_000}, content=data[30_000:])
    assert ahead.status_code == 409
    assert "offset 20000" in ahead.json()["error"]["message"]
    # Rewind: send the last 5,000 bytes again (different bytes first, then the right ones).
    wrong = await owner_client.put(url, params={"offset": 15_000}, content=b"x" * 5_000)
    assert wrong.json()["received"] == 20_000
    again = await owner_client.put(url, params={"offset": 15_000}, content=data[15_000:])
    assert again.json()["status"] == "completed"
    assert (await owner_client.get(f"/api/v1/artifacts/{aid}/files/d.bin")).content == data


async def test_a_sha256_mismatch_leaves_the_file_pending(owner_client: httpx.AsyncClient) -> None:
    data = os.urandom(40_000)
    aid = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    url = f"/api/v1/artifacts/{aid}/uploads/d.bin"
    bad = await owner_client.put(url, params={"offset": 0}, content=os.urandom(40_000))
    assert bad.status_code == 409
    message = bad.json()["error"]["message"]
    assert "failed its check" in message and "stays pending" in message
    state = (await owner_client.get(url)).json()
    assert (state["received"], state["status"]) == (0, "pending")
    good = await owner_client.put(url, params={"offset": 0}, content=data)
    assert good.json()["status"] == "completed"


async def test_more_bytes_than_declared_are_refused(owner_client: httpx.AsyncClient) -> None:
    aid = (await create(owner_client, {"d.bin": b"12345"}, inline=False))["artifact_id"]
    url = f"/api/v1/artifacts/{aid}/uploads/d.bin"
    too_many = await owner_client.put(url, params={"offset": 0}, content=b"1234567")
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "too_large"
    assert (await owner_client.get(url)).json()["received"] == 0


async def test_small_files_travel_inline_and_complete_in_one_request(
    owner_client: httpx.AsyncClient,
) -> None:
    files = {f"logs/{i:04d}.txt": f"line {i}\n".encode() * 20 for i in range(200)}
    created = await create(owner_client, files, name="logs", kind="log")
    assert created["status"] == "completed"
    assert created["mime"] == "inode/directory" and len(created["files"]) == 200
    got = await owner_client.get(f"/api/v1/artifacts/{created['artifact_id']}/files/logs/0007.txt")
    assert got.content == files["logs/0007.txt"]


async def test_inline_content_must_match_its_declaration(owner_client: httpx.AsyncClient) -> None:
    entry = file_entry("a.txt", b"declared", inline=True)
    entry["content"] = "b3RoZXI="  # "other"
    response = await owner_client.post("/api/v1/artifacts", json={"files": [entry]})
    assert response.status_code == 409
    assert (await owner_client.get("/api/v1/artifacts")).json()["items"] == []


async def test_contents_route_completes_many_pending_files(owner_client: httpx.AsyncClient) -> None:
    files = {f"f{i}.txt": os.urandom(100) for i in range(30)}
    created = await create(owner_client, files, inline=False)
    aid = created["artifact_id"]
    assert created["status"] == "pending"
    first = [
        {"path": p, "content": base64.b64encode(d).decode()} for p, d in list(files.items())[:20]
    ]
    part = await owner_client.post(f"/api/v1/artifacts/{aid}/contents", json={"files": first})
    assert part.json()["status"] == "pending"
    rest = [
        {"path": p, "content": base64.b64encode(d).decode()} for p, d in list(files.items())[20:]
    ]
    done = await owner_client.post(f"/api/v1/artifacts/{aid}/contents", json={"files": rest})
    assert done.json()["status"] == "completed"
    assert {f["status"] for f in done.json()["files"]} == {"completed"}


async def test_content_the_org_holds_is_not_sent_again(world: World) -> None:
    world.member("owner", "a")
    world.member("colleague", "a")
    world.member("stranger", "b")
    data = os.urandom(70_000)
    async with world.client("owner") as owner, world.client("colleague") as colleague:
        first = await create(owner, {"w.bin": data}, inline=False)
        # Pending bytes are not "held": a second artifact must still send them.
        second = await create(colleague, {"w.bin": data}, inline=False)
        assert second["status"] == "pending"
        await upload(owner, first["artifact_id"], "w.bin", data)
        third = await create(colleague, {"copy.bin": data}, inline=False)
        assert third["status"] == "completed"
        assert (
            await colleague.get(f"/api/v1/artifacts/{third['artifact_id']}/files/copy.bin")
        ).content == data
    async with world.client("stranger") as stranger:
        # Another org must send the bytes itself: a digest alone gives no access.
        other = await create(stranger, {"w.bin": data}, inline=False)
        assert other["status"] == "pending"


async def test_a_retry_with_the_same_artifact_id_gets_the_same_artifact(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    data = os.urandom(20_000)
    aid = "01JRETRYRETRYRETRYRETRY000"
    body = {
        "artifact_id": aid,
        "name": "ckpt",
        "run_id": "r-retry",
        "files": [file_entry("c.bin", data)],
    }
    first = await owner_client.post("/api/v1/artifacts", json=body)
    again = await owner_client.post("/api/v1/artifacts", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["artifact_id"] == aid
    await upload(owner_client, aid, "c.bin", data[:5000])
    resumed = await owner_client.post("/api/v1/artifacts", json=body)
    assert resumed.status_code == 200
    state = await owner_client.get(f"/api/v1/artifacts/{aid}/uploads/c.bin")
    assert state.json()["received"] == 5000
    changed = await owner_client.post("/api/v1/artifacts", json={**body, "name": "other"})
    assert changed.status_code == 409
    world.member("thief", "a")
    async with world.client("thief") as thief:
        assert (await thief.post("/api/v1/artifacts", json=body)).status_code == 409
    # Without an id, two identical creates are two artifacts (like two SDK saves).
    plain = {"files": [file_entry("x.txt", b"same", inline=True)]}
    one = await owner_client.post("/api/v1/artifacts", json=plain)
    two = await owner_client.post("/api/v1/artifacts", json=plain)
    assert one.json()["artifact_id"] != two.json()["artifact_id"]


async def _until_locked(world: World, artifact_id: str, path: str) -> None:
    """Wait (up to 30 s) until an upload of ``path`` holds its part file's lock, read off
    ``/proc/locks`` so that waiting never takes the lock itself."""
    part = state_of(world.app).staging.part_path(artifact_id, path)
    for _ in range(300):
        if part.exists():
            held = Path("/proc/locks").read_text(encoding="ascii")
            if f":{part.stat().st_ino} " in held:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no upload of {path!r} took its lock")


async def test_one_upload_of_a_file_at_a_time(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    data = os.urandom(64 * 1024)
    aid = (await create(owner_client, {"c.bin": data}, inline=False))["artifact_id"]
    url = f"/api/v1/artifacts/{aid}/uploads/c.bin"
    release = asyncio.Event()

    async def slow() -> object:
        yield data[:1000]
        await release.wait()
        yield data[1000:2000]

    first = asyncio.create_task(owner_client.put(url, params={"offset": 0}, content=slow()))
    # The first upload holds the lock once its request reached the handler (a fixed sleep
    # was too short on a loaded machine with PostgreSQL behind the server).
    await _until_locked(world, aid, "c.bin")
    second = await owner_client.put(url, params={"offset": 0}, content=data)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "busy"
    release.set()
    assert (await first).json()["received"] == 2000


async def test_request_bodies_have_a_limit(world: World, owner_client: httpx.AsyncClient) -> None:
    limit = state_of(world.app).settings.body_max
    huge = {"files": [file_entry("a", b"a")], "labels": {"pad": "x" * 4000}, "tags": []}
    huge["tags"] = [f"t{i}-" + "y" * 200 for i in range(limit // 200)]
    response = await owner_client.post("/api/v1/artifacts", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"

    async def chunked() -> object:
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = await owner_client.post(
        "/api/v1/search", content=chunked(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_hostile_file_keys_are_refused(owner_client: httpx.AsyncClient) -> None:
    for key in ("../escape", "/abs", "a/../../b", "a\\b", "nul\x00", "a//b", "."):
        body = {"files": [file_entry(key, b"x", inline=True)]}
        response = await owner_client.post("/api/v1/artifacts", json=body)
        assert response.status_code == 422, key
        assert response.json()["error"]["code"] == "invalid_file_key", key


async def test_job_tokens_write_into_their_run_only(world: World) -> None:
    owner = world.member("owner", "a")
    tenancy = state_of(world.app).tenancy
    _, job = tenancy.create_token(owner.user_id, name="job", run_id="job-run")
    async with world.client(token=job) as http:
        made = await create(http, {"a.txt": b"from the job"})
        assert made["run_id"] == "job-run"
        elsewhere = await http.post(
            "/api/v1/artifacts",
            json={"run_id": "another", "files": [file_entry("b.txt", b"b", inline=True)]},
        )
        assert elsewhere.status_code == 403
        assert (
            await http.patch("/api/v1/runs/job-run", json={"status": "done"})
        ).status_code == 200
        assert (await http.post("/api/v1/tokens", json={"name": "x"})).status_code == 403
        assert (await http.delete("/api/v1/runs/job-run")).status_code == 403


async def test_digest_of_the_upload_matches(owner_client: httpx.AsyncClient) -> None:
    data = b"z" * 100_001
    created = await create(owner_client, {"z.bin": data}, inline=False)
    await upload(owner_client, created["artifact_id"], "z.bin", data, chunk=33_333)
    got = await owner_client.get(f"/api/v1/artifacts/{created['artifact_id']}")
    assert got.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert got.json()["bytes"] == len(data)


@pytest.mark.parametrize("server_kind", ["s3+postgres"], indirect=True)
async def test_presigned_uploads_go_straight_to_the_bucket(owner_client: httpx.AsyncClient) -> None:
    data = os.urandom(300_000)
    aid = (await create(owner_client, {"d.bin": data}, inline=False))["artifact_id"]
    info = (await owner_client.get("/api/v1/info")).json()
    assert info["presigned_uploads"] is True

    async def presigned() -> dict[str, str]:
        made = await owner_client.post(f"/api/v1/artifacts/{aid}/presign", json={"path": "d.bin"})
        assert made.status_code == 201
        return dict(made.json())

    adopt = f"/api/v1/artifacts/{aid}/adopt"
    never = await presigned()
    missing = await owner_client.post(adopt, json={"path": "d.bin", "token": never["token"]})
    assert missing.status_code == 404
    wrong = await presigned()
    async with httpx.AsyncClient() as bucket:
        assert (await bucket.put(wrong["url"], content=os.urandom(300_000))).is_success
    refused = await owner_client.post(adopt, json={"path": "d.bin", "token": wrong["token"]})
    assert refused.status_code == 409
    assert "stays pending" in refused.json()["error"]["message"]
    right = await presigned()
    async with httpx.AsyncClient() as bucket:
        assert (await bucket.put(right["url"], content=data)).is_success
    done = await owner_client.post(adopt, json={"path": "d.bin", "token": right["token"]})
    assert done.json()["artifact_status"] == "completed"
    assert (await owner_client.get(f"/api/v1/artifacts/{aid}/files/d.bin")).content == data
    bogus = await owner_client.post(adopt, json={"path": "d.bin", "token": "../../etc"})
    assert bogus.status_code in (409, 422)
