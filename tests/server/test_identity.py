"""Tokens over HTTP: revoked or expired is 401 on the next request; job tokens write into
their run only and manage nothing else (seeds/000, docs/api.md "Job tokens")."""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
import sqlalchemy as sa

from satchel.index.schema import tokens
from satchel.models import format_time, parse_time, utcnow
from serverkit import World, create, file_entry, state_of, upload


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_token_is_401_on_the_very_next_request(world: World) -> None:
    world.member("owner", "a")
    async with world.client("owner") as owner:
        made = await owner.post("/api/v1/tokens", json={"name": "laptop"})
        assert made.status_code == 201
        spare = made.json()
        async with world.client(token=spare["token"]) as laptop:
            assert (await laptop.get("/api/v1/me")).status_code == 200
            revoked = await owner.delete(f"/api/v1/tokens/{spare['token_id']}")
            assert revoked.status_code == 204
            _refused(await laptop.get("/api/v1/me"))
            _refused(await laptop.get("/api/v1/artifacts"))
        listed = (await owner.get("/api/v1/tokens")).json()["items"]
        gone = [t["revoked_at"] is not None for t in listed if t["token_id"] == spare["token_id"]]
        assert gone == [True]
        # A token revoking itself (a logout) works, and is the last thing it does.
        async with world.client("owner") as again:
            me = await again.get("/api/v1/tokens")
            own = [t for t in me.json()["items"] if t["name"] == "test"]
            assert (await again.delete(f"/api/v1/tokens/{own[0]['token_id']}")).status_code == 204
            _refused(await again.get("/api/v1/me"))


async def test_an_expired_token_is_401(world: World) -> None:
    world.member("owner", "a")
    async with world.client("owner") as owner:
        made = await owner.post("/api/v1/tokens", json={"name": "short", "expires_in": 3600})
        assert made.status_code == 201
        token = made.json()
    assert token["expires_at"] is not None
    async with world.client(token=token["token"]) as short:
        assert (await short.get("/api/v1/me")).status_code == 200
        # The clock moves on: its expiry is now in the past (written, not slept for).
        index = state_of(world.app).store.index
        with index.write_transaction() as conn:  # type: ignore[attr-defined]
            conn.execute(
                sa.update(tokens)
                .where(tokens.c.token_id == token["token_id"])
                .values(expires_at=format_time(utcnow() - timedelta(seconds=1)))
            )
        _refused(await short.get("/api/v1/me"))
        _refused(await short.post("/api/v1/search", json={}))


async def test_a_login_token_expires_after_the_login_ttl(world: World) -> None:
    state = state_of(world.app)
    user = state.tenancy.create_user(
        email="ttl@example.com", org_id=world.org("a"), password="a long passphrase"
    )
    async with world.client() as anonymous:
        login = await anonymous.post(
            "/api/v1/auth/login", json={"email": user.email, "password": "a long passphrase"}
        )
    assert login.status_code == 201
    ttl = (utcnow() + timedelta(seconds=state.settings.login_ttl)).timestamp()
    expires = login.json()["expires_at"]
    assert abs(parse_time(expires).timestamp() - ttl) < 60


async def test_a_job_token_writes_into_its_run_and_manages_nothing_else(world: World) -> None:
    boss = world.member("boss", "a", role="admin")
    state = state_of(world.app)
    async with world.client("boss") as http:
        assert (await http.post("/api/v1/runs", json={"run_id": "job-run"})).is_success
        assert (await http.post("/api/v1/runs", json={"run_id": "elsewhere"})).is_success
        outside = await create(http, {"o.txt": b"outside"}, run_id="elsewhere")
        data = os.urandom(2000)
        outside_pending = await create(http, {"p.bin": data}, inline=False, run_id="elsewhere")
        spare = (await http.post("/api/v1/tokens", json={"name": "spare"})).json()
    _, job = state.tenancy.create_token(boss.user_id, name="job", run_id="job-run")
    oid = outside["artifact_id"]
    async with world.client(token=job) as job_http:
        inside = await create(job_http, {"i.txt": b"inside"})
        iid = inside["artifact_id"]
        assert inside["run_id"] == "job-run"
        # Reads are its user's.
        assert (await job_http.get(f"/api/v1/artifacts/{oid}")).status_code == 200
        refused = {
            "pin": await job_http.post(f"/api/v1/artifacts/{oid}/pin", json={"pinned": True}),
            "grant": await job_http.post(
                f"/api/v1/artifacts/{oid}/grants", json={"email": "x@example.com"}
            ),
            "grants": await job_http.get(f"/api/v1/artifacts/{oid}/grants"),
            "delete": await job_http.delete(f"/api/v1/artifacts/{oid}"),
            "upload": await job_http.put(
                f"/api/v1/artifacts/{outside_pending['artifact_id']}/uploads/p.bin",
                params={"offset": 0},
                content=data,
            ),
            "patch run": await job_http.patch("/api/v1/runs/elsewhere", json={"status": "done"}),
            "new run": await job_http.post("/api/v1/runs", json={"run_id": "another"}),
            "delete run": await job_http.delete("/api/v1/runs/job-run"),
            "create": await job_http.post(
                "/api/v1/artifacts",
                json={"run_id": "elsewhere", "files": [file_entry("b", b"b", inline=True)]},
            ),
            "use": await job_http.post(
                f"/api/v1/artifacts/{oid}/uses", json={"run_id": "elsewhere", "node_id": "n"}
            ),
            "token": await job_http.post("/api/v1/tokens", json={"name": "more"}),
            "tokens": await job_http.get("/api/v1/tokens"),
            "revoke token": await job_http.delete(f"/api/v1/tokens/{spare['token_id']}"),
            "add user": await job_http.post(
                f"/api/v1/orgs/{boss.org_id}/users", json={"email": "new@example.com"}
            ),
            "users": await job_http.get(f"/api/v1/orgs/{boss.org_id}/users"),
        }
        statuses = {what: r.status_code for what, r in refused.items()}
        assert statuses == dict.fromkeys(refused, 403)
        # Nothing happened.
        async with world.client("boss") as http:
            grants = await http.get(f"/api/v1/artifacts/{oid}/grants")
            assert grants.json()["items"] == []
            got = await http.get(f"/api/v1/artifacts/{oid}")
            assert got.json()["pinned"] is False
            lineage = await http.get(f"/api/v1/artifacts/{oid}/lineage")
            assert [o["event"] for o in lineage.json()["items"]] == ["produced"]
            assert (await http.get("/api/v1/runs/elsewhere")).json()["status"] == "running"
            users = await http.get(f"/api/v1/orgs/{boss.org_id}/users")
            assert len(users.json()["items"]) == 1
            assert (await http.get("/api/v1/me")).status_code == 200
        # Its own run's artifacts it manages, and it records uses by its own run.
        assert (
            await job_http.post(f"/api/v1/artifacts/{iid}/pin", json={"pinned": True})
        ).status_code == 200
        grant = await job_http.post(
            f"/api/v1/artifacts/{iid}/grants", json={"email": "y@example.com"}
        )
        assert grant.status_code == 201
        used = await job_http.post(f"/api/v1/artifacts/{oid}/uses", json={"node_id": "load"})
        assert used.status_code == 201
        assert used.json()["run_id"] == "job-run"
        assert (
            await job_http.patch("/api/v1/runs/job-run", json={"status": "done"})
        ).status_code == 200
        assert (await job_http.delete(f"/api/v1/artifacts/{iid}")).status_code == 204
    async with world.client("boss") as http:
        await upload(http, outside_pending["artifact_id"], "p.bin", data)
