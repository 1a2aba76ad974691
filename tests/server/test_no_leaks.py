"""What an outsider learns from the server about what it may not read: nothing (P7).

An artifact the caller may not read, a pending artifact of someone else and a run of another
organisation must answer exactly like ones that do not exist, on every route: the same
status, error code, message (but for the id itself) and headers. Listings, searches, best,
run listings and their pages must not show, skip or count them either.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from test_access_matrix import CASES, Targets

from satchel.server.signing import LinkClaims, link_path, sign
from serverkit import SECRET, World, create, route_table, upload

#: Same length as a ULID, so that no Content-Length can tell the two apart.
MISSING = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
MISSING_RUN = "r-missing-1"  # as long as "r-theirs-12"


def _artifact_routes() -> list[tuple[str, str]]:
    routes = sorted(k for k in route_table() if k[1].startswith("/api/v1/artifacts/{artifact_id}"))
    assert len(routes) >= 20  # the generator found the routes, not nothing
    return routes


def _request(path: str, artifact_id: str, file: str, t: Targets) -> str:
    return path.format(
        artifact_id=artifact_id,
        path=file,
        grant_id=t.grant_id,
        upload=t.multipart_token or "x.y",
    )


def _answer(
    response: httpx.Response, real: str, missing: str = MISSING
) -> tuple[int, dict[str, str], str]:
    """What the caller sees, with the real id written as the missing one."""
    headers = {k: v.replace(real, missing) for k, v in response.headers.items()}
    body = response.text.replace(real, missing)
    return response.status_code, headers, body


async def _world(world: World, http: httpx.AsyncClient) -> Targets:
    m = world.members
    t = Targets()
    done = await create(http, {"f.txt": b"secret content"}, name="secret.txt", run_id="r-own")
    t.artifact_id = done["artifact_id"]
    t.grant_id = (
        await http.post(f"/api/v1/artifacts/{t.artifact_id}/grants", json={"email": "x@y.org"})
    ).json()["grant_id"]
    t.pending_data = os.urandom(3000)
    pending = await create(http, {"p.bin": t.pending_data}, inline=False, run_id="r-own")
    t.pending_id = pending["artifact_id"]
    # The grantee is named by a grant on the pending artifact: still nothing until complete.
    grant = await http.post(
        f"/api/v1/artifacts/{t.pending_id}/grants", json={"email": m["grantee"].email}
    )
    assert grant.status_code == 201
    return t


async def test_every_artifact_route_answers_a_forbidden_id_like_a_missing_one(
    world: World,
) -> None:
    world.member("owner", "a")
    world.member("member", "a")
    world.member("other", "b")
    world.member("grantee", "c")
    async with world.client("owner") as owner:
        t = await _world(world, owner)
    # Who must not see what: another org sees neither; a colleague and a grantee do not
    # see the pending artifact (visible to others only once every file is complete).
    probes = [
        ("other", t.artifact_id, "f.txt"),
        ("other", t.pending_id, "p.bin"),
        ("member", t.pending_id, "p.bin"),
        ("grantee", t.pending_id, "p.bin"),
    ]
    routes = _artifact_routes()
    compared = 0
    for method, path in routes:
        case = CASES[(method, path)]
        body = case.body(t) if callable(case.body) else case.body
        content = case.content(t) if case.content else None
        for who, real, file in probes:
            answers = []
            async with world.client(who) as http:
                for artifact_id in (real, MISSING):
                    response = await http.request(
                        method,
                        _request(path, artifact_id, file, t),
                        json=body,
                        content=content,
                        params=case.query or None,
                    )
                    answers.append(_answer(response, real))
            assert answers[0] == answers[1], (method, path, who, real == t.pending_id)
            assert answers[0][0] in (403, 404, 422), (method, path, who, answers[0])
            compared += 1
    assert compared == len(probes) * len(routes)


async def test_a_run_of_another_org_answers_like_a_missing_one(world: World) -> None:
    world.member("owner", "a")
    world.member("other", "b")
    async with world.client("owner") as owner:
        assert (await owner.post("/api/v1/runs", json={"run_id": "r-theirs-12"})).is_success
        await create(owner, {"f.txt": b"in the run"}, run_id="r-theirs-12")
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/v1/runs/{}", None),
        ("PATCH", "/api/v1/runs/{}", {"status": "done"}),
        ("DELETE", "/api/v1/runs/{}", None),
        ("GET", "/api/v1/runs/{}/artifacts", None),
        ("POST", "/api/v1/runs", {"run_id": "child-of-it", "parent_run_id": "{}"}),
    ]
    async with world.client("other") as other:
        for method, path, body in requests:
            answers = []
            for run_id in ("r-theirs-12", MISSING_RUN):
                filled = None
                if body is not None:
                    filled = {k: v.format(run_id) for k, v in body.items()}
                response = await other.request(method, path.format(run_id), json=filled)
                answers.append(_answer(response, "r-theirs-12", MISSING_RUN))
            assert answers[0] == answers[1], (method, path)
            assert answers[0][0] == 404, (method, path, answers[0])
        listed = await other.get("/api/v1/runs")
        assert listed.json() == {"items": [], "next_cursor": None}
        found = await other.post("/api/v1/search", json={"equals": {"run_id": "r-theirs-12"}})
        assert found.json() == {"items": [], "next_cursor": None}


async def _pages(http: httpx.AsyncClient, method: str, url: str, limit: int) -> list[list[str]]:
    """Every page of a listing, as lists of ids."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        if method == "GET":
            params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            response = await http.get(url, params=params)
        else:
            response = await http.post(url, json={"limit": limit, "cursor": cursor})
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}  # no total, no count
        pages.append([a["artifact_id"] for a in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_pages_neither_skip_nor_count_what_the_caller_may_not_read(
    world: World, limit: int
) -> None:
    """Hidden artifacts between readable ones change no page: every page is full but the
    last, and the pages are those of a store holding only the readable ones."""
    world.member("owner", "a")
    world.member("colleague", "a")
    world.member("other", "b")
    readable: list[str] = []
    async with world.client("owner") as owner, world.client("other") as other:
        for i in range(5):
            made = await create(owner, {f"o{i}.txt": f"ours {i}".encode()}, run_id="shared-run")
            readable.append(made["artifact_id"])
            for j in range(2):
                # Another organisation saving into the same (global) run id, in between.
                await create(
                    other, {f"x{i}{j}.txt": f"theirs {i}{j}".encode()}, run_id="shared-run"
                )
            pending = await create(owner, {f"p{i}.bin": os.urandom(50)}, inline=False)
            assert pending["status"] == "pending"
    newest_first = readable[::-1]
    want = [newest_first[i : i + limit] for i in range(0, len(newest_first), limit)]
    async with world.client("colleague") as colleague:
        for method, url in (
            ("GET", "/api/v1/artifacts"),
            ("POST", "/api/v1/search"),
            ("GET", "/api/v1/runs/shared-run/artifacts"),
        ):
            assert await _pages(colleague, method, url, limit) == want, url


async def test_a_pending_artifact_is_nowhere_for_anyone_but_its_creator(world: World) -> None:
    """Until every file is complete: not in list, search (structured and text), best, a
    run's artifacts; its get, lineage, files and links are 404 to everyone else."""
    world.member("owner", "a")
    world.member("colleague", "a")
    friend = world.member("friend", "b")
    data = os.urandom(20_000)
    async with world.client("owner") as owner:
        made = await create(
            owner,
            {"model.ckpt": data, "notes.txt": b"zebra notes"},
            inline=False,
            kind="result",
            run_id="r-pending",
            metrics={"acc": 0.99},
            name="zebra",
        )
        aid = made["artifact_id"]
        # One of its two files completes: the artifact is still pending.
        await upload(owner, aid, "notes.txt", b"zebra notes")
        shared = await owner.post(f"/api/v1/artifacts/{aid}/grants", json={"email": friend.email})
        assert shared.status_code == 201

        async def surfaces(http: httpx.AsyncClient) -> dict[str, Any]:
            best = await http.post("/api/v1/best", json={"kind": "result", "metric": "acc"})
            found = await http.post("/api/v1/search", json={"query": "zebra"})
            run = await http.get("/api/v1/runs/r-pending/artifacts")
            return {
                "list": (await http.get("/api/v1/artifacts")).json()["items"],
                "search": (await http.post("/api/v1/search", json={})).json()["items"],
                "text": found.json()["items"],
                "best": best.json()["artifact"],
                "run": run.json().get("items", []),
            }

        empty = {"list": [], "search": [], "text": [], "best": None, "run": []}
        for who in ("colleague", "friend"):
            async with world.client(who) as http:
                assert await surfaces(http) == empty, who
                for suffix in ("", "/lineage", "/files/notes.txt"):
                    response = await http.get(f"/api/v1/artifacts/{aid}{suffix}")
                    assert response.status_code == 404, (who, suffix)
                link = await http.post(f"/api/v1/artifacts/{aid}/links", json={"path": "notes.txt"})
                assert link.status_code == 404, who
        assert await surfaces(owner) == empty  # its creator lists it only once complete
        # Its creator may not hand the completed file out before the artifact is complete.
        early = await owner.post(f"/api/v1/artifacts/{aid}/links", json={"path": "notes.txt"})
        assert early.status_code == 409, early.text
        # Nor does a link signed for it (by the creator, before this rule) serve it.
        claims = LinkClaims(
            artifact_id=aid, path="notes.txt", user_id=made["user_id"], expires=2**32
        )
        async with world.client() as anonymous:
            forged = await anonymous.get(link_path(claims, sign(SECRET.encode(), claims)))
        assert forged.status_code == 404, forged.text

        await upload(owner, aid, "model.ckpt", data)
        for who in ("colleague", "friend"):
            async with world.client(who) as http:
                seen = await surfaces(http)
                assert [a["artifact_id"] for a in seen["list"]] == [aid], who
                assert [a["artifact_id"] for a in seen["text"]] == [aid], who
                assert seen["best"]["artifact_id"] == aid, who
        link = await owner.post(f"/api/v1/artifacts/{aid}/links", json={"path": "notes.txt"})
        assert link.status_code == 201


async def test_lineage_shows_no_run_of_another_organisation(world: World) -> None:
    """A shared artifact's uses by a partner's runs name the partner's experiments: the
    lineage shows each reader the uses by runs it may see, and nothing of the others."""
    world.member("owner", "a")
    world.member("colleague", "a")
    b = world.member("partner", "b")
    c = world.member("third", "c")
    async with world.client("owner") as owner:
        made = await create(owner, {"d.csv": b"a,b\n"}, run_id="prep", node_id="n1")
        aid = made["artifact_id"]
        for org_id in (b.org_id, c.org_id):
            grant = await owner.post(f"/api/v1/artifacts/{aid}/grants", json={"org_id": org_id})
            assert grant.status_code == 201
        assert (
            await owner.post(f"/api/v1/artifacts/{aid}/uses", json={"run_id": "train"})
        ).is_success
    async with world.client("partner") as partner:
        assert (await partner.post("/api/v1/runs", json={"run_id": "b-secret-1"})).is_success
        for run_id in ("b-secret-1", "b-secret-2"):  # a run it made, and one new to the index
            used = await partner.post(f"/api/v1/artifacts/{aid}/uses", json={"run_id": run_id})
            assert used.status_code == 201

    async def runs_seen(who: str) -> list[tuple[str, str | None]]:
        async with world.client(who) as http:
            response = await http.get(f"/api/v1/artifacts/{aid}/lineage")
        assert response.status_code == 200, response.text
        return [(o["event"], o["run_id"]) for o in response.json()["items"]]

    ours = [("produced", "prep"), ("used", "train")]
    assert await runs_seen("owner") == ours
    assert await runs_seen("colleague") == ours
    assert await runs_seen("partner") == [
        ("produced", "prep"),
        ("used", "b-secret-1"),
        ("used", "b-secret-2"),
    ]
    assert await runs_seen("third") == [("produced", "prep")]


async def test_ids_of_another_orgs_users_tokens_and_org_answer_like_missing_ones(
    world: World,
) -> None:
    """An admin of one org probing another's: the same answer as for ids that do not exist."""
    world.member("admin", "a", role="admin")
    theirs = world.member("theirs", "b", role="admin")
    async with world.client("theirs") as http:
        token_id = (await http.post("/api/v1/tokens", json={"name": "t"})).json()["token_id"]
    probes = [
        ("DELETE", "/api/v1/tokens/{}", token_id),
        ("GET", "/api/v1/tokens?user_id={}", theirs.user_id),
        ("POST", "/api/v1/tokens", theirs.user_id),
        ("GET", "/api/v1/orgs/{}", theirs.org_id),
        ("GET", "/api/v1/orgs/{}/users", theirs.org_id),
        ("POST", "/api/v1/orgs/{}/users", theirs.org_id),
    ]
    async with world.client("admin") as admin:
        for method, path, real in probes:
            answers = []
            for value in (real, MISSING):
                body = None
                if method == "POST":
                    body = {"name": "x", "user_id": value} if path.endswith("tokens") else {}
                    if path.endswith("users"):
                        body = {"email": "new@example.com"}
                response = await admin.request(method, path.format(value), json=body)
                answers.append(_answer(response, real))
            assert answers[0] == answers[1], (method, path)
            assert answers[0][0] == 404, (method, path, answers[0])
