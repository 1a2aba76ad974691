"""Every route x every actor, generated from the app's own route table (RELIABILITY P7).

Each route has a case below saying which rule decides it (read, manage, org, ...); the
expected status of each of nine actors follows from the rule. A route without a case fails
``test_every_route_has_a_case``, so a new route cannot skip the matrix. An artifact the
actor may not read must answer 404 on every route, exactly like a missing one.
"""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from serverkit import World, create, file_entry, route_table

ACTORS = [
    "owner",
    "member",
    "admin",
    "other",
    "email_grantee",
    "org_grantee",
    "revoked",
    "anonymous",
    "bad_token",
]
SIGNED_IN = ACTORS[:7]
_fresh = itertools.count()

#: rule -> the actors that succeed, and the status of those that do not (by actor).
RULES: dict[str, tuple[set[str], dict[str, int]]] = {
    "public": (set(ACTORS), {}),
    "any": (set(SIGNED_IN), {}),
    "read": (
        {"owner", "member", "admin", "email_grantee", "org_grantee"},
        {"other": 404, "revoked": 404},
    ),
    "manage": (
        {"owner", "admin"},
        {
            "member": 403,
            "email_grantee": 403,
            "org_grantee": 403,
            "other": 404,
            "revoked": 404,
        },
    ),
    "own_pending": ({"owner"}, dict.fromkeys(SIGNED_IN[1:], 404)),
    "org": (
        {"owner", "member", "admin"},
        dict.fromkeys(("other", "email_grantee", "org_grantee", "revoked"), 404),
    ),
    "org_manage": (
        {"owner", "admin"},
        {"member": 403, **dict.fromkeys(("other", "email_grantee", "org_grantee", "revoked"), 404)},
    ),
    "admin": ({"admin"}, dict.fromkeys(set(SIGNED_IN) - {"admin"}, 403)),
    "org_admin": (
        {"admin"},
        {
            "owner": 403,
            "member": 403,
            **dict.fromkeys(("other", "email_grantee", "org_grantee", "revoked"), 404),
        },
    ),
}


@dataclass
class Targets:
    """What one cell's request points at, made fresh by the owner."""

    artifact_id: str = ""
    pending_id: str = ""
    pending_data: bytes = b""
    grant_id: str = ""
    token_id: str = ""
    run_id: str = ""
    org_id: str = ""
    link: str = ""
    adopt_token: str = ""
    multipart_token: str = ""
    owner_email: str = ""
    policy_id: str = ""


@dataclass
class Case:
    rule: str
    ok: int | dict[str, int]
    body: Callable[[Targets], Any] | dict[str, Any] | None = None
    content: Callable[[Targets], bytes] | None = None
    fresh: bool = False  # new targets for every actor (the request consumes them)
    query: dict[str, Any] = field(default_factory=dict)


def _email() -> str:
    return f"fresh-{next(_fresh)}@example.com"


CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/health"): Case("public", 200),
    ("GET", "/api/v1/info"): Case("any", 200),
    ("POST", "/api/v1/auth/login"): Case(
        "public", 401, body=lambda t: {"email": t.owner_email, "password": "not-the-password"}
    ),
    ("GET", "/api/v1/me"): Case("any", 200),
    ("GET", "/api/v1/orgs/{org_id}"): Case("org", 200),
    ("GET", "/api/v1/orgs/{org_id}/users"): Case("org_admin", 200),
    ("POST", "/api/v1/orgs/{org_id}/users"): Case(
        "org_admin", 201, body=lambda t: {"email": _email()}
    ),
    ("GET", "/api/v1/tokens"): Case("any", 200),
    ("POST", "/api/v1/tokens"): Case("any", 201, body={"name": "cell"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): Case("org_manage", 204, fresh=True),
    ("POST", "/api/v1/artifacts"): Case(
        "any", 201, body=lambda t: {"files": [file_entry("n.txt", b"new", inline=True)]}
    ),
    ("GET", "/api/v1/artifacts"): Case("any", 200),
    ("POST", "/api/v1/search"): Case("any", 200, body={"query": "cell"}),
    ("POST", "/api/v1/best"): Case("any", 200, body={"kind": "result", "metric": "acc"}),
    ("GET", "/api/v1/artifacts/{artifact_id}"): Case("read", 200),
    ("POST", "/api/v1/artifacts/{artifact_id}/contents"): Case(
        "own_pending",
        200,
        body=lambda t: {
            "files": [{"path": "p.bin", "content": base64.b64encode(t.pending_data).decode()}]
        },
    ),
    ("POST", "/api/v1/artifacts/{artifact_id}/pin"): Case("manage", 200, body={"pinned": True}),
    ("DELETE", "/api/v1/artifacts/{artifact_id}"): Case("manage", 204, fresh=True),
    ("GET", "/api/v1/artifacts/{artifact_id}/lineage"): Case("read", 200),
    ("POST", "/api/v1/artifacts/{artifact_id}/uses"): Case("read", 201, body={"run_id": "x"}),
    ("GET", "/api/v1/artifacts/{artifact_id}/uploads/{path}"): Case("own_pending", 200),
    ("PUT", "/api/v1/artifacts/{artifact_id}/uploads/{path}"): Case(
        "own_pending", 200, content=lambda t: t.pending_data, query={"offset": 0}
    ),
    ("POST", "/api/v1/artifacts/{artifact_id}/presign"): Case(
        "own_pending", {"local": 422, "s3+postgres": 201}, body={"path": "p.bin"}
    ),
    ("POST", "/api/v1/artifacts/{artifact_id}/adopt"): Case(
        "own_pending",
        {"local": 422, "s3+postgres": 200},
        body=lambda t: {"path": "p.bin", "token": t.adopt_token or "01ABCDEFGHJKMNPQRSTVWXYZ00"},
    ),
    ("POST", "/api/v1/artifacts/{artifact_id}/multipart"): Case(
        "own_pending", {"local": 422, "s3+postgres": 201}, body={"path": "p.bin"}
    ),
    ("POST", "/api/v1/artifacts/{artifact_id}/multipart/{upload}/parts"): Case(
        "own_pending", {"local": 422, "s3+postgres": 200}, body={"numbers": [1]}
    ),
    ("GET", "/api/v1/artifacts/{artifact_id}/multipart/{upload}"): Case(
        "own_pending", {"local": 422, "s3+postgres": 200}
    ),
    ("POST", "/api/v1/artifacts/{artifact_id}/multipart/{upload}/complete"): Case(
        "own_pending", {"local": 422, "s3+postgres": 200}
    ),
    ("DELETE", "/api/v1/artifacts/{artifact_id}/multipart/{upload}"): Case(
        "own_pending", {"local": 422, "s3+postgres": 204}
    ),
    ("GET", "/api/v1/artifacts/{artifact_id}/files/{path}"): Case("read", 200),
    ("POST", "/api/v1/artifacts/{artifact_id}/grants"): Case(
        "manage", 201, body=lambda t: {"email": _email()}
    ),
    ("GET", "/api/v1/artifacts/{artifact_id}/grants"): Case("manage", 200),
    ("DELETE", "/api/v1/artifacts/{artifact_id}/grants/{grant_id}"): Case(
        "manage", 204, fresh=True
    ),
    ("POST", "/api/v1/artifacts/{artifact_id}/links"): Case("read", 201, body={}),
    ("GET", "/api/v1/links/{artifact_id}/{path}"): Case("public", 200),
    ("POST", "/api/v1/runs"): Case("any", 201, body=lambda t: {"run_id": f"run-{next(_fresh)}"}),
    ("GET", "/api/v1/runs"): Case("any", 200),
    ("GET", "/api/v1/runs/{run_id}"): Case("org", 200),
    ("PATCH", "/api/v1/runs/{run_id}"): Case("org_manage", 200, body={"status": "done"}),
    ("GET", "/api/v1/runs/{run_id}/artifacts"): Case("org", 200),
    ("DELETE", "/api/v1/runs/{run_id}"): Case("org_manage", 204, fresh=True),
    # Which rows each caller sees: server/test_usage_api.py.
    ("GET", "/api/v1/usage"): Case("any", 200),
    ("GET", "/api/v1/retention"): Case("any", 200),
    ("POST", "/api/v1/retention"): Case("admin", 201, body={"kind": "log", "keep_last": 3}),
    ("DELETE", "/api/v1/retention/{policy_id}"): Case("org_admin", 204, fresh=True),
    ("GET", "/api/v1/retention/{policy_id}/preview"): Case("org", 200),
}


def test_every_route_has_a_case() -> None:
    routes = route_table()
    assert routes - set(CASES) == set(), "routes without an access case"
    assert set(CASES) - routes == set(), "cases for routes that do not exist"


def _people(world: World) -> None:
    world.member("owner", "a")
    world.member("member", "a")
    world.member("admin", "a", role="admin")
    world.member("other", "b")
    world.member("email_grantee", "c")
    world.member("org_grantee", "d")
    world.member("revoked", "e")


async def _targets(world: World, http: httpx.AsyncClient, key: tuple[str, str]) -> Targets:
    """Fresh things to point at: a completed artifact shared three ways, a pending one,
    a spare grant and token, a finished run, a link (and an admin's retention policy)."""
    m = world.members
    t = Targets(org_id=m["owner"].org_id, owner_email=m["owner"].email)
    run = await http.post("/api/v1/runs", json={"run_id": f"run-{next(_fresh)}"})
    t.run_id = run.json()["run_id"]
    done = await create(http, {"f.txt": b"cell content"}, run_id=t.run_id, name="cell.txt")
    t.artifact_id = done["artifact_id"]
    grants = f"/api/v1/artifacts/{t.artifact_id}/grants"
    for body in ({"email": m["email_grantee"].email}, {"org_id": m["org_grantee"].org_id}):
        assert (await http.post(grants, json=body)).status_code == 201
    gone = (await http.post(grants, json={"email": m["revoked"].email})).json()["grant_id"]
    assert (await http.delete(f"{grants}/{gone}")).status_code == 204
    t.grant_id = (await http.post(grants, json={"email": _email()})).json()["grant_id"]
    assert (await http.patch(f"/api/v1/runs/{t.run_id}", json={"status": "done"})).is_success
    t.pending_data = os.urandom(3000)
    pending = await create(http, {"p.bin": t.pending_data}, inline=False, run_id=t.run_id)
    assert pending["status"] == "pending"
    t.pending_id = pending["artifact_id"]
    link = await http.post(f"/api/v1/artifacts/{t.artifact_id}/links", json={})
    t.link = link.json()["url"]
    token = await http.post("/api/v1/tokens", json={"name": "spare"})
    t.token_id = token.json()["token_id"]
    if key[1].endswith("/adopt"):
        signed = await http.post(
            f"/api/v1/artifacts/{t.pending_id}/presign", json={"path": "p.bin"}
        )
        if signed.status_code == 201:
            async with httpx.AsyncClient() as bucket:
                put = await bucket.put(signed.json()["url"], content=t.pending_data)
                assert put.is_success, put.text
            t.adopt_token = signed.json()["token"]
    if "/multipart/" in key[1]:
        t.multipart_token = await _multipart(http, t)
    if "{policy_id}" in key[1]:  # an admin's to make: the owner is a member
        async with world.client("admin") as admin:
            made = await admin.post("/api/v1/retention", json={"ttl_seconds": 3600})
            t.policy_id = made.json()["policy_id"]
    return t


async def _multipart(http: httpx.AsyncClient, t: Targets) -> str:
    """An upload of the pending file begun, its one part in the bucket ("x.y" on stores
    that do not take multipart uploads)."""
    base = f"/api/v1/artifacts/{t.pending_id}/multipart"
    made = await http.post(base, json={"path": "p.bin"})
    if made.status_code != 201:
        return "x.y"
    upload = str(made.json()["upload"])
    signed = await http.post(f"{base}/{upload}/parts", json={"numbers": [1]})
    async with httpx.AsyncClient() as bucket:
        put = await bucket.put(signed.json()["urls"][0]["url"], content=t.pending_data)
        assert put.is_success, put.text
    return upload


def _url(path: str, t: Targets) -> str:
    if path == "/api/v1/links/{artifact_id}/{path}":
        return t.link
    uses_pending = (
        "/uploads/" in path
        or "/multipart" in path
        or path.endswith(("/presign", "/adopt", "/contents"))
    )
    return path.format(
        artifact_id=t.pending_id if uses_pending else t.artifact_id,
        path="p.bin" if uses_pending else "f.txt",
        grant_id=t.grant_id,
        token_id=t.token_id,
        run_id=t.run_id,
        org_id=t.org_id,
        upload=t.multipart_token,
        policy_id=t.policy_id,
    )


def expected(case: Case, actor: str, kind: str) -> int:
    allowed, denied = RULES[case.rule]
    if actor in allowed:
        return case.ok if isinstance(case.ok, int) else case.ok[kind]
    if actor in ("anonymous", "bad_token"):
        return 401
    return denied[actor]


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]} {k[1]}")
async def test_access(world: World, server_kind: str, key: tuple[str, str]) -> None:
    _people(world)
    case = CASES[key]
    method, path = key
    # The owner goes last: a success of theirs may consume what others are refused.
    order = [a for a in ACTORS if a != "owner"] + ["owner"]
    seen: dict[str, int] = {}
    async with world.client("owner") as owner_http:
        targets = await _targets(world, owner_http, key)
        for actor in order:
            if case.fresh and actor != order[0]:
                targets = await _targets(world, owner_http, key)
            token = "sat_not-a-real-token" if actor == "bad_token" else None
            who = actor if actor in SIGNED_IN else None
            async with world.client(who, token=token) as http:
                body = case.body(targets) if callable(case.body) else case.body
                content = case.content(targets) if case.content else None
                response = await http.request(
                    method,
                    _url(path, targets),
                    json=body,
                    content=content,
                    params=case.query or None,
                )
            seen[actor] = response.status_code
            if response.status_code >= 400:
                error = response.json()["error"]
                assert set(error) == {"code", "message"}
    want = {actor: expected(case, actor, server_kind) for actor in ACTORS}
    assert seen == want


async def test_forbidden_is_the_same_404_as_missing(world: World) -> None:
    """An unreadable artifact answers exactly like one that does not exist."""
    _people(world)
    async with world.client("owner") as owner_http, world.client("other") as other_http:
        done = await create(owner_http, {"f.txt": b"secret"})
        real = done["artifact_id"]
        missing = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
        for suffix in ("", "/files/f.txt", "/grants", "/lineage"):
            a = await other_http.get(f"/api/v1/artifacts/{real}{suffix}")
            b = await other_http.get(f"/api/v1/artifacts/{missing}{suffix}")
            assert a.status_code == b.status_code == 404
            assert a.json()["error"]["code"] == b.json()["error"]["code"] == "not_found"
            assert (
                a.json()["error"]["message"].replace(real, missing) == b.json()["error"]["message"]
            )
        listed = await other_http.get("/api/v1/artifacts")
        assert listed.json() == {"items": [], "next_cursor": None}
        found = await other_http.post("/api/v1/search", json={"query": "secret"})
        assert found.json()["items"] == []


async def test_keys_holding_nul_are_unknown_keys(world: World) -> None:
    """A login, a grant or a token naming a key with U+0000 answers as for any unknown key
    (PostgreSQL refuses NUL in a text parameter: that must not become a 503)."""
    admin = world.member("boss", "a", role="admin")
    async with world.client("boss") as http, world.client() as anonymous:
        done = await create(http, {"f.txt": b"x"})
        login = await anonymous.post(
            "/api/v1/auth/login", json={"email": f"{admin.email}\x00", "password": "x"}
        )
        assert login.status_code == 401, login.text
        grant = await http.post(
            f"/api/v1/artifacts/{done['artifact_id']}/grants", json={"org_id": "o\x00"}
        )
        assert (grant.status_code, grant.json()["error"]["code"]) == (404, "not_found")
        token = await http.post("/api/v1/tokens", json={"user_id": "u\x00"})
        assert (token.status_code, token.json()["error"]["code"]) == (404, "not_found")
