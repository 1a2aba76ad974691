"""Grants and signed links (seeds/000 grant/revoke and pre-signed URLs, seeds/001 24 h links)."""

from __future__ import annotations

import os
import time
import urllib.parse
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest

from satchel.server import signing
from satchel.server.signing import LinkClaims, link_path, sign
from serverkit import SECRET, World, create, state_of, upload


async def test_grants_duplicates_and_revoke_on_the_next_request(world: World) -> None:
    world.member("owner", "a")
    friend = world.member("friend", "b")
    partner = world.member("partner", "c")
    async with world.client("owner") as owner, world.client("friend") as f:
        aid = (await create(owner, {"r.txt": b"result"}, kind="result"))["artifact_id"]
        grants = f"/api/v1/artifacts/{aid}/grants"
        assert (await f.get(f"/api/v1/artifacts/{aid}")).status_code == 404
        made = await owner.post(grants, json={"email": friend.email.upper()})
        assert made.status_code == 201
        grant = made.json()
        assert grant["email"] == friend.email and grant["org_id"] is None
        again = await owner.post(grants, json={"email": friend.email})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "conflict"
        to_org = await owner.post(grants, json={"org_id": partner.org_id})
        assert to_org.status_code == 201
        assert (await owner.post(grants, json={"org_id": partner.org_id})).status_code == 409
        both = await owner.post(grants, json={"email": "x@example.com", "org_id": partner.org_id})
        assert both.status_code == 422
        assert (await owner.post(grants, json={})).status_code == 422
        listed = (await owner.get(grants)).json()["items"]
        assert [g["grant_id"] for g in listed] == [grant["grant_id"], to_org.json()["grant_id"]]

        assert (await f.get(f"/api/v1/artifacts/{aid}/files/r.txt")).content == b"result"
        # The grantee may read, not manage.
        assert (await f.get(grants)).status_code == 403
        assert (await f.post(f"/api/v1/artifacts/{aid}/pin", json={})).status_code == 403

        revoked = await owner.delete(f"{grants}/{grant['grant_id']}")
        assert revoked.status_code == 204
        assert (await f.get(f"/api/v1/artifacts/{aid}")).status_code == 404
        assert (await owner.delete(f"{grants}/{grant['grant_id']}")).status_code == 404


async def test_shared_with_me_and_the_creator_filters(world: World) -> None:
    me = world.member("me", "a")
    world.member("teammate", "a")
    world.member("outsider", "b")
    async with (
        world.client("me") as mine,
        world.client("teammate") as team,
        world.client("outsider") as out,
    ):
        own = (await create(mine, {"m.txt": b"mine"}))["artifact_id"]
        ours = (await create(team, {"t.txt": b"team"}))["artifact_id"]
        theirs = (await create(out, {"o.txt": b"outside"}))["artifact_id"]
        hidden = (await create(out, {"h.txt": b"hidden"}))["artifact_id"]
        grant = await out.post(f"/api/v1/artifacts/{theirs}/grants", json={"email": me.email})
        assert grant.status_code == 201

        async def listed(*origins: str) -> set[str]:
            params = [("origin", o) for o in origins]
            page = await mine.get("/api/v1/artifacts", params=params)
            assert page.status_code == 200, page.text
            return {a["artifact_id"] for a in page.json()["items"]}

        assert await listed("mine") == {own}
        assert await listed("org") == {own, ours}
        assert await listed("shared") == {theirs}
        assert await listed("mine", "shared") == {own, theirs}
        assert await listed() == {own, ours, theirs}
        assert hidden not in await listed("mine", "org", "shared")
        search = await mine.post("/api/v1/search", json={"origin": ["shared"]})
        assert {a["artifact_id"] for a in search.json()["items"]} == {theirs}
        bad = await mine.get("/api/v1/artifacts", params={"origin": "everyone"})
        assert bad.status_code == 422


async def _one_file(http: httpx.AsyncClient, size: int = 200_000) -> tuple[str, bytes]:
    data = os.urandom(size)
    created = await create(http, {"data.bin": data}, inline=False, run_id="link-run")
    await upload(http, created["artifact_id"], "data.bin", data)
    return str(created["artifact_id"]), data


async def _follow(world: World, url: str, **kwargs: object) -> httpx.Response:
    """GET a link with no credentials; a redirect to the bucket is followed for real."""
    async with world.client() as anonymous:
        response = await anonymous.get(url, **kwargs)  # type: ignore[arg-type]
    if response.status_code == 307:
        async with httpx.AsyncClient() as bucket:
            return await bucket.get(response.headers["location"])
    return response


async def test_a_link_works_without_credentials_until_it_expires(
    world: World, owner_client: httpx.AsyncClient, server_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aid, data = await _one_file(owner_client)
    made = await owner_client.post(f"/api/v1/artifacts/{aid}/links", json={})
    assert made.status_code == 201
    link = made.json()
    expires = datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - datetime.now(UTC)).total_seconds() - 86400) < 60
    async with world.client() as anonymous:
        first = await anonymous.get(link["url"])
    if server_kind.startswith("s3"):
        assert first.status_code == 307  # after the checks, to a short-lived bucket URL
    else:
        assert first.status_code == 200
        assert first.headers["content-disposition"].startswith("attachment")
    assert (await _follow(world, link["url"])).content == data
    if not server_kind.startswith("s3"):
        part = await _follow(world, link["url"], headers={"Range": "bytes=5-9"})
        assert (part.status_code, part.content) == (206, data[5:10])

    short = await owner_client.post(f"/api/v1/artifacts/{aid}/links", json={"expires_in": 1})
    assert (await _follow(world, short.json()["url"])).content == data
    # Two seconds later by the server's clock (moved, not slept for).
    later = time.time() + 2
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: later))
    expired = await _follow(world, short.json()["url"])
    assert expired.status_code == 403
    assert "expired" in expired.json()["error"]["message"]
    limit = state_of(world.app).settings.link_max_expiry
    too_long = await owner_client.post(
        f"/api/v1/artifacts/{aid}/links", json={"expires_in": limit + 1}
    )
    assert too_long.status_code == 422


async def test_tampering_with_any_part_of_a_link_is_403(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    aid, _ = await _one_file(owner_client)
    other, _ = await _one_file(owner_client)
    url = (await owner_client.post(f"/api/v1/artifacts/{aid}/links", json={})).json()["url"]
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    changed = [
        url.replace(aid, other),
        url.replace("/data.bin?", "/data.bin2?"),
        url.replace(f"e={query['e']}", f"e={int(query['e']) + 1}"),
        url.replace(f"u={query['u']}", "u=01ABCDEFGHJKMNPQRSTVWXYZ00"),
        url.replace(f"s={query['s']}", "s=" + query["s"][::-1]),
        url.replace(f"&s={query['s']}", ""),
    ]
    for bad in changed:
        response = await _follow(world, bad)
        assert response.status_code in (403, 422), bad
        if response.status_code == 403:
            assert response.json()["error"]["code"] == "forbidden"
    # A correctly signed link that expired (the server's clock decides).
    past = LinkClaims(artifact_id=aid, path="data.bin", user_id=query["u"], expires=1000)
    stale = await _follow(world, link_path(past, sign(SECRET.encode(), past)))
    assert stale.status_code == 403


async def test_a_link_dies_with_its_makers_access(world: World) -> None:
    world.member("owner", "a")
    friend = world.member("friend", "b")
    async with world.client("owner") as owner, world.client("friend") as f:
        aid, data = await _one_file(owner)
        grant = await owner.post(f"/api/v1/artifacts/{aid}/grants", json={"email": friend.email})
        url = (await f.post(f"/api/v1/artifacts/{aid}/links", json={})).json()["url"]
        assert (await _follow(world, url)).content == data
        await owner.delete(f"/api/v1/artifacts/{aid}/grants/{grant.json()['grant_id']}")
        assert (await _follow(world, url)).status_code == 404

        own_url = (await owner.post(f"/api/v1/artifacts/{aid}/links", json={})).json()["url"]
        assert (await _follow(world, own_url)).status_code in (200, 206)
        assert (await owner.patch("/api/v1/runs/link-run", json={"status": "done"})).is_success
        assert (await owner.delete(f"/api/v1/artifacts/{aid}")).status_code == 204
        assert (await _follow(world, own_url)).status_code == 404


async def test_small_files_stream_through_links_on_every_store(
    world: World, owner_client: httpx.AsyncClient
) -> None:
    aid = (await create(owner_client, {"n.txt": b"note"}))["artifact_id"]
    url = (await owner_client.post(f"/api/v1/artifacts/{aid}/links", json={})).json()["url"]
    async with world.client() as anonymous:
        response = await anonymous.get(url)
    assert (response.status_code, response.content) == (200, b"note")
    # A link's download is as inert as the API's.
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"n.txt\"; filename*=UTF-8''n.txt"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"


@pytest.mark.parametrize("server_kind", ["local"], indirect=True)
async def test_links_name_the_public_url_when_configured(world: World) -> None:
    state = state_of(world.app)
    object.__setattr__(state.settings, "public_url", "https://artifacts.example.org")
    world.member("owner", "a")
    async with world.client("owner") as owner:
        aid = (await create(owner, {"n.txt": b"note"}))["artifact_id"]
        url = (await owner.post(f"/api/v1/artifacts/{aid}/links", json={})).json()["url"]
    assert url.startswith(f"https://artifacts.example.org/api/v1/links/{aid}/n.txt?")


async def test_an_org_grant_revoked_ends_everything_on_the_next_request(world: World) -> None:
    """Listing, search, best, get, download and the links of every member of the org."""
    world.member("owner", "a")
    partner = world.member("partner", "b")
    world.member("partner_colleague", "b")
    async with world.client("owner") as owner:
        aid, data = await _one_file(owner)
        await owner.post(f"/api/v1/artifacts/{aid}/pin", json={"pinned": True})
        made = await create(owner, {"m.json": b"{}"}, kind="metric", metrics={"acc": 0.5})
        grants = f"/api/v1/artifacts/{aid}/grants"
        to_org = (await owner.post(grants, json={"org_id": partner.org_id})).json()
        metric_grant = await owner.post(
            f"/api/v1/artifacts/{made['artifact_id']}/grants", json={"org_id": partner.org_id}
        )
        links = []
        for who in ("partner", "partner_colleague"):
            async with world.client(who) as http:
                made_link = await http.post(f"/api/v1/artifacts/{aid}/links", json={})
                links.append(made_link.json()["url"])
        for url in links:
            assert (await _follow(world, url)).content == data

        async def sees(who: str) -> dict[str, object]:
            async with world.client(who) as http:
                best = await http.post("/api/v1/best", json={"kind": "metric", "metric": "acc"})
                return {
                    "get": (await http.get(f"/api/v1/artifacts/{aid}")).status_code,
                    "file": (await http.get(f"/api/v1/artifacts/{aid}/files/data.bin")).status_code,
                    "list": len((await http.get("/api/v1/artifacts")).json()["items"]),
                    "shared": len(
                        (await http.get("/api/v1/artifacts", params={"origin": "shared"})).json()[
                            "items"
                        ]
                    ),
                    "search": len((await http.post("/api/v1/search", json={})).json()["items"]),
                    "best": best.json()["artifact"] is not None,
                }

        before = {"get": 200, "file": 200, "list": 2, "shared": 2, "search": 2, "best": True}
        assert await sees("partner_colleague") == before
        assert (await owner.delete(f"{grants}/{to_org['grant_id']}")).status_code == 204
        revoke = f"/api/v1/artifacts/{made['artifact_id']}/grants/"
        assert (await owner.delete(revoke + metric_grant.json()["grant_id"])).status_code == 204
        after = {"get": 404, "file": 404, "list": 0, "shared": 0, "search": 0, "best": False}
        assert await sees("partner") == after
        assert await sees("partner_colleague") == after
        for url in links:
            assert (await _follow(world, url)).status_code == 404


async def test_a_dead_link_says_nothing_about_why(world: World) -> None:
    """A link whose maker lost access answers exactly like a link to a deleted artifact."""
    world.member("owner", "a")
    friend = world.member("friend", "b")
    async with world.client("owner") as owner, world.client("friend") as f:
        answers = []
        for how in ("revoke", "delete"):
            aid, _ = await _one_file(owner)
            grants = f"/api/v1/artifacts/{aid}/grants"
            grant = (await owner.post(grants, json={"email": friend.email})).json()
            url = (await f.post(f"/api/v1/artifacts/{aid}/links", json={})).json()["url"]
            if how == "revoke":
                await owner.delete(f"{grants}/{grant['grant_id']}")
            else:
                await owner.patch("/api/v1/runs/link-run", json={"status": "done"})
                assert (await owner.delete(f"/api/v1/artifacts/{aid}")).status_code == 204
            dead = await _follow(world, url)
            answers.append((dead.status_code, dict(dead.headers), dead.text.replace(aid, "X")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404
