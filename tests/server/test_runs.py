"""Runs (seeds/001): status, listing, a run's artifacts, delete cascades, 409 while running."""

from __future__ import annotations

import os

import httpx

from satchel.hashing import Digest
from serverkit import World, create, state_of, upload


async def test_run_life(world: World, owner_client: httpx.AsyncClient) -> None:
    made = await owner_client.post("/api/v1/runs", json={"run_id": "exp", "name": "sweep"})
    assert made.status_code == 201
    run = made.json()
    assert (run["status"], run["ended_at"], run["name"]) == ("running", None, "sweep")
    assert (await owner_client.post("/api/v1/runs", json={"run_id": "exp"})).status_code == 200
    child = await owner_client.post(
        "/api/v1/runs", json={"run_id": "exp-0", "parent_run_id": "exp"}
    )
    assert child.json()["parent_run_id"] == "exp"
    world.member("rival", "a")
    async with world.client("rival") as rival:
        assert (await rival.post("/api/v1/runs", json={"run_id": "exp"})).status_code == 409
        assert (await rival.get("/api/v1/runs/exp")).status_code == 200  # same org
        assert (await rival.patch("/api/v1/runs/exp", json={"status": "done"})).status_code == 403
    done = await owner_client.patch("/api/v1/runs/exp", json={"status": "crashed"})
    assert done.json()["status"] == "crashed" and done.json()["ended_at"] is not None
    bad = await owner_client.patch("/api/v1/runs/exp", json={"status": "exploded"})
    assert bad.status_code == 422


async def test_runs_page_newest_first(owner_client: httpx.AsyncClient) -> None:
    for i in range(5):
        await owner_client.post("/api/v1/runs", json={"run_id": f"r{i}"})
    await owner_client.patch("/api/v1/runs/r3", json={"status": "done"})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await owner_client.get("/api/v1/runs", params=params)).json()
        seen += [r["run_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["r4", "r3", "r2", "r1", "r0"]
    done = await owner_client.get("/api/v1/runs", params={"status": "done"})
    assert [r["run_id"] for r in done.json()["items"]] == ["r3"]


async def test_runs_filtered_by_parent_are_one_runs_experiments(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    await owner_client.post("/api/v1/runs", json={"run_id": "sweep"})
    for i in (1, 2):
        child = {"run_id": f"sweep-exp{i}", "parent_run_id": "sweep"}
        assert (await owner_client.post("/api/v1/runs", json=child)).status_code == 201
    await owner_client.post("/api/v1/runs", json={"run_id": "other"})
    page = await owner_client.get("/api/v1/runs", params={"parent_run_id": "sweep"})
    assert [r["run_id"] for r in page.json()["items"]] == ["sweep-exp2", "sweep-exp1"]
    assert (
        await owner_client.get("/api/v1/runs", params={"parent_run_id": "x\x01"})
    ).status_code == 422
    world.member("outsider", "b")
    async with world.client("outsider") as outsider:
        theirs = await outsider.get("/api/v1/runs", params={"parent_run_id": "sweep"})
        assert theirs.json()["items"] == []  # another org's experiments: none


async def test_deleting_refused_while_running_then_cascades(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    data = os.urandom(100_000)
    big = await create(owner_client, {"w.bin": data}, inline=False, run_id="train")
    await upload(owner_client, big["artifact_id"], "w.bin", data)
    small = await create(owner_client, {"log.txt": b"epoch 1"}, run_id="train")
    listed = await owner_client.get("/api/v1/runs/train/artifacts")
    assert {a["artifact_id"] for a in listed.json()["items"]} == {
        big["artifact_id"],
        small["artifact_id"],
    }
    refused = await owner_client.delete(f"/api/v1/artifacts/{small['artifact_id']}")
    assert refused.status_code == 409
    assert "running" in refused.json()["error"]["message"]
    assert (await owner_client.delete("/api/v1/runs/train")).status_code == 409

    await owner_client.patch("/api/v1/runs/train", json={"status": "done"})
    blobs = state_of(world.app).store.blobs
    assert blobs.stat(Digest(hexdigest=big["sha256"])) == len(data)
    assert (await owner_client.delete("/api/v1/runs/train")).status_code == 204
    for artifact in (big, small):
        gone = await owner_client.get(f"/api/v1/artifacts/{artifact['artifact_id']}")
        assert gone.status_code == 404
    assert (await owner_client.get("/api/v1/runs/train")).status_code == 404
    assert blobs.stat(Digest(hexdigest=big["sha256"])) is None


async def test_other_orgs_do_not_see_runs(world: World, owner_client: httpx.AsyncClient) -> None:
    await owner_client.post("/api/v1/runs", json={"run_id": "private"})
    world.member("stranger", "b")
    async with world.client("stranger") as stranger:
        assert (await stranger.get("/api/v1/runs/private")).status_code == 404
        assert (await stranger.get("/api/v1/runs")).json()["items"] == []
        assert (await stranger.delete("/api/v1/runs/private")).status_code == 404


async def test_a_run_holding_another_orgs_artifacts_is_not_deleted(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    # Run ids are global: a second organisation saving into "shared-id" must not lose its
    # artifact when the run's owners delete their run.
    await create(owner_client, {"log.txt": b"epoch 1"}, run_id="shared-id")
    world.member("stranger", "b")
    async with world.client("stranger") as stranger:
        theirs = await create(stranger, {"x.txt": b"epoch 3"}, run_id="shared-id")
        await owner_client.patch("/api/v1/runs/shared-id", json={"status": "done"})
        refused = await owner_client.delete("/api/v1/runs/shared-id")
        assert refused.status_code == 409, refused.text
        kept = await stranger.get(f"/api/v1/artifacts/{theirs['artifact_id']}")
        assert kept.status_code == 200


async def test_lineage_records_uses(owner_client: httpx.AsyncClient) -> None:
    made = await create(owner_client, {"d.csv": b"a,b\n"}, run_id="prep", node_id="n1")
    aid = made["artifact_id"]
    used = await owner_client.post(
        f"/api/v1/artifacts/{aid}/uses", json={"run_id": "train", "node_id": "load"}
    )
    assert used.status_code == 201
    items = (await owner_client.get(f"/api/v1/artifacts/{aid}/lineage")).json()["items"]
    assert [(o["event"], o["run_id"], o["node_id"]) for o in items] == [
        ("produced", "prep", "n1"),
        ("used", "train", "load"),
    ]


async def test_every_status_and_back_to_running(owner_client: httpx.AsyncClient) -> None:
    await owner_client.post("/api/v1/runs", json={"run_id": "states"})
    for status in ("done", "crashed", "failed", "running"):
        patched = await owner_client.patch("/api/v1/runs/states", json={"status": status})
        assert patched.status_code == 200, patched.text
        run = patched.json()
        assert run["status"] == status
        assert (run["ended_at"] is None) == (status == "running")
        listed = await owner_client.get("/api/v1/runs", params={"status": status})
        assert [r["run_id"] for r in listed.json()["items"]] == ["states"]
