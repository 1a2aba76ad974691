"""``GET /api/v1/usage``: a member sees their org's totals and their own row, an org admin
every user of the org, and nobody anything of another org (both backend pairs)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from serverkit import World, create, state_of

X, Y, Z = b"x" * 100, b"y" * 300, b"z" * 50


def _figures(**given: int) -> dict[str, int]:
    names = ("artifacts", "pending", "files", "bytes", "dedup_bytes", "pinned", "pinned_bytes")
    return {name: given.get(name, 0) for name in names}


def _user(world: World, name: str, **given: int) -> dict[str, Any]:
    m = world.members[name]
    return {"user_id": m.user_id, "email": m.email, **_figures(**given)}


async def _usage(world: World, who: str | None, token: str | None = None) -> httpx.Response:
    async with world.client(who, token=token) as http:
        return await http.get("/api/v1/usage")


async def test_members_see_their_row_admins_every_user_none_another_org(world: World) -> None:
    alice = world.member("alice", "a")
    world.member("bob", "a")
    boss = world.member("boss", "a", role="admin")
    world.member("idle", "a")
    world.member("eve", "b")
    async with world.client("alice") as http:
        await create(http, {"x.txt": X})
        await create(http, {"y.txt": X})  # the same bytes again: stored once
        both = await create(http, {"d/1": Y, "d/2": Z}, name="dir")
        pin = await http.post(f"/api/v1/artifacts/{both['artifact_id']}/pin", json={"pinned": True})
        assert pin.status_code == 200, pin.text
        pending = await create(http, {"p.bin": os.urandom(3000)}, inline=False)
        assert pending["status"] == "pending"
    async with world.client("bob") as http:
        await create(http, {"b.txt": Y})  # alice's bytes: the org holds them once
    async with world.client("eve") as http:
        await create(http, {"e.txt": X})  # another org: none of org a's figures

    org_a = {
        "org_id": alice.org_id,
        "name": "org-a",
        **_figures(
            artifacts=4, pending=1, files=5, bytes=850, dedup_bytes=450, pinned=1, pinned_bytes=350
        ),
    }
    alice_row = _user(
        world,
        "alice",
        artifacts=3,
        pending=1,
        files=4,
        bytes=550,
        dedup_bytes=450,
        pinned=1,
        pinned_bytes=350,
    )
    bob_row = _user(world, "bob", artifacts=1, files=1, bytes=300, dedup_bytes=300)

    seen = await _usage(world, "alice")
    assert seen.status_code == 200, seen.text
    assert seen.json() == {"total": None, "orgs": [{**org_a, "users": [alice_row]}]}

    everyone = sorted(
        [alice_row, bob_row, _user(world, "boss"), _user(world, "idle")],
        key=lambda row: row["user_id"],
    )
    admin = await _usage(world, "boss")
    assert admin.json() == {"total": None, "orgs": [{**org_a, "users": everyone}]}

    # A member with nothing saved sees the org's totals and a row of zeros.
    idle = await _usage(world, "idle")
    assert idle.json()["orgs"][0]["users"] == [_user(world, "idle")]
    assert idle.json()["orgs"][0]["bytes"] == 850

    eve = (await _usage(world, "eve")).json()
    assert [o["org_id"] for o in eve["orgs"]] == [world.orgs["b"]]
    assert eve["orgs"][0]["users"] == [
        _user(world, "eve", artifacts=1, files=1, bytes=100, dedup_bytes=100)
    ]
    assert eve["total"] is None

    # An admin's job token is no admin: its own row only.
    _, job = state_of(world.app).tenancy.create_token(boss.user_id, name="job", run_id="r-1")
    as_job = (await _usage(world, None, token=job)).json()
    assert as_job["orgs"][0]["users"] == [_user(world, "boss")]

    for who, token in ((None, None), (None, "sat_not-a-real-token")):
        refused = await _usage(world, who, token=token)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"
