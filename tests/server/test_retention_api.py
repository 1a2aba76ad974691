"""``/api/v1/retention`` on both backend pairs: org admins add and remove policies, any
member of the org lists them and previews one (the dry run), another org sees nothing."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from satchel.retention import RetentionPolicy, policies_of
from serverkit import World, create, state_of


async def _checkpoints(http: httpx.AsyncClient, run_id: str, count: int) -> list[str]:
    """``count`` checkpoints of a finished run, oldest first."""
    assert (await http.post("/api/v1/runs", json={"run_id": run_id})).status_code == 201
    made = [
        (await create(http, {"w.pt": f"{run_id} {n}".encode()}, run_id=run_id, kind="checkpoint"))[
            "artifact_id"
        ]
        for n in range(count)
    ]
    done = await http.patch(f"/api/v1/runs/{run_id}", json={"status": "done"})
    assert done.status_code == 200, done.text
    return made


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_admins_manage_policies_members_preview_and_other_orgs_see_nothing(
    world: World, app: FastAPI
) -> None:
    admin = world.member("admin", "a", role="admin")
    world.member("member", "a")
    world.member("other", "b", role="admin")
    async with (
        world.client("admin") as boss,
        world.client("member") as member,
        world.client("other") as other,
    ):
        ours = await _checkpoints(member, "train", 4)
        theirs = await _checkpoints(other, "theirs", 3)
        pinned = await member.post(f"/api/v1/artifacts/{ours[1]}/pin", json={"pinned": True})
        assert pinned.status_code == 200
        body: dict[str, Any] = {"name": "ckpts", "kind": "checkpoint", "group_by": "run"}
        made = await boss.post("/api/v1/retention", json={**body, "keep_last": 2})
        assert made.status_code == 201, made.text
        policy = made.json()
        assert policy["org_id"] == admin.org_id and policy["created_by"] == admin.user_id
        assert policy["description"] == "keep the last 2 per run and pinned ones"
        assert policy["ttl_seconds"] is None and policy["created_at"].endswith("Z")
        pid = policy["policy_id"]

        # refusals: members may not add or remove; other orgs do not see it
        assert _error(await member.post("/api/v1/retention", json={"keep_last": 1})) == (
            403,
            "forbidden",
        )
        assert _error(await member.delete(f"/api/v1/retention/{pid}")) == (403, "forbidden")
        assert _error(await other.delete(f"/api/v1/retention/{pid}")) == (404, "not_found")
        assert _error(await other.get(f"/api/v1/retention/{pid}/preview")) == (404, "not_found")
        assert (await other.get("/api/v1/retention")).json() == {"items": [], "next_cursor": None}
        listed = (await member.get("/api/v1/retention")).json()["items"]
        assert listed == [policy]

        # the dry run: the oldest checkpoint of the run goes; the pinned one and the last two
        # stay; the other org's checkpoints are not this policy's
        seen = await member.get(f"/api/v1/retention/{pid}/preview")
        assert seen.status_code == 200, seen.text
        dry = seen.json()
        assert dry["policy"] == policy and dry["count"] == 1 and dry["as_of"].endswith("Z")
        assert [(e["artifact_id"], e["run_id"], e["reason"]) for e in dry["items"]] == [
            (ours[0], "train", "not among the last 2 of run train")
        ]
        assert (await member.get(f"/api/v1/artifacts/{ours[0]}")).status_code == 200  # kept
        assert theirs  # made, and untouched by org a's policy

        wider = await boss.post("/api/v1/retention", json={"keep_last": 1})
        page = await boss.get(
            f"/api/v1/retention/{wider.json()['policy_id']}/preview", params={"limit": 1}
        )
        assert page.json()["count"] == 2 and len(page.json()["items"]) == 1
        assert page.json()["items"][0]["artifact_id"] == ours[0]  # oldest first

        assert (await boss.delete(f"/api/v1/retention/{pid}")).status_code == 204
        assert _error(await boss.delete(f"/api/v1/retention/{pid}")) == (404, "not_found")
        assert _error(await member.get(f"/api/v1/retention/{pid}/preview")) == (404, "not_found")


async def test_a_policy_is_checked_before_it_is_kept(world: World, app: FastAPI) -> None:
    world.member("admin", "a", role="admin")
    world.member("stranger", "b")
    async with world.client("admin") as boss, world.client("stranger") as stranger:
        assert (await stranger.post("/api/v1/runs", json={"run_id": "hidden"})).is_success
        for body, code in [
            ({}, "validation_error"),  # keeps nothing
            ({"keep_best": 2}, "validation_error"),  # no metric
            ({"keep_last": 1, "metric": "acc"}, "validation_error"),  # metric without keep_best
            ({"keep_last": 0}, "validation_error"),
            ({"ttl_seconds": -5}, "validation_error"),
            ({"keep_last": 1, "group_by": "kind"}, "validation_error"),
            ({"keep_last": 1, "color": "red"}, "validation_error"),  # unknown field
            ({"keep_last": 1, "kind": "a\x00b"}, "invalid_metadata"),
            ({"keep_last": 1, "run_id": "hidden"}, "not_found"),  # another org's run
        ]:
            answer = await boss.post("/api/v1/retention", json=body)
            assert answer.status_code in (404, 422), (body, answer.text)
            assert answer.json()["error"]["code"] == code, (body, answer.text)
        made = await boss.post(
            "/api/v1/retention",
            json={"keep_best": 3, "metric": "loss", "metric_mode": "min", "ttl_seconds": 86400},
        )
        assert made.status_code == 201, made.text
        assert made.json()["description"] == (
            "keep the best 3 by loss (min), what is younger than 1d and pinned ones"
        )
        # A store-wide policy (made with the CLI on the server's store) is no org's.
        wide = RetentionPolicy(ttl_seconds=60)
        policies_of(state_of(app).store.index).add_policy(wide)
        listed = (await boss.get("/api/v1/retention")).json()["items"]
        assert [p["policy_id"] for p in listed] == [made.json()["policy_id"]]
        assert _error(await boss.get(f"/api/v1/retention/{wide.policy_id}/preview")) == (
            404,
            "not_found",
        )
        assert _error(await boss.delete(f"/api/v1/retention/{wide.policy_id}")) == (
            404,
            "not_found",
        )
