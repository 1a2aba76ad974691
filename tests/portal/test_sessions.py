"""Logging in and out of the portal: cookie sessions, CSRF on every form, safe redirects."""

from __future__ import annotations

import pytest
from portalkit import PASSWORD, csrf_of, log_in

from serverkit import World, state_of


@pytest.fixture
def people(world: World) -> World:
    world.member("alice", "a", role="admin")
    world.member("bob", "a")
    return world


async def test_pages_send_a_stranger_to_the_login_page(people: World) -> None:
    async with people.client() as client:
        for path in ("/", "/artifacts?kind=log", "/artifacts/01ZZZZZZZZZZZZZZZZZZZZZZZZ", "/runs"):
            answer = await client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next=")
        # A bearer token opens the API, not the portal: the portal reads its own cookie.
    async with people.client("alice") as client:
        assert (await client.get("/artifacts")).status_code == 303


async def test_login_sets_an_http_only_lax_cookie_and_goes_where_asked(people: World) -> None:
    member = people.members["alice"]
    state_of(people.app).tenancy.set_password(member.user_id, PASSWORD)
    async with people.client() as client:
        form = await client.get("/login?next=/runs")
        assert 'name="next" value="/runs"' in form.text
        answer = await client.post(
            "/login",
            data={
                "email": member.email,
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
                "next": "/runs",
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/runs"
        cookie = next(
            h for h in answer.headers.get_list("set-cookie") if h.startswith("satchel_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain http here; https sets it
        page = await client.get("/runs")
        assert page.status_code == 200
        assert member.email in page.text


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
async def test_login_never_redirects_to_another_site(people: World, target: str) -> None:
    member = people.members["bob"]
    state_of(people.app).tenancy.set_password(member.user_id, PASSWORD)
    async with people.client() as client:
        form = await client.get("/login")
        answer = await client.post(
            "/login",
            data={
                "email": member.email,
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
                "next": target,
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/artifacts"


async def test_login_without_the_csrf_token_is_refused(people: World) -> None:
    member = people.members["alice"]
    state_of(people.app).tenancy.set_password(member.user_id, PASSWORD)
    async with people.client() as client:
        await client.get("/login")  # the CSRF cookie is set, but the form field is missing
        for csrf in (None, "", "forged-value-from-another-site"):
            data = {"email": member.email, "password": PASSWORD}
            if csrf is not None:
                data["csrf"] = csrf
            answer = await client.post("/login", data=data)
            assert answer.status_code == 403
            assert "satchel_session" not in client.cookies
            assert 'role="alert"' in answer.text


async def test_a_wrong_password_says_so_and_is_throttled(people: World) -> None:
    member = people.members["bob"]
    state_of(people.app).tenancy.set_password(member.user_id, PASSWORD)
    limit = state_of(people.app).settings.login_failures
    async with people.client() as client:
        statuses, texts = [], []
        for _ in range(limit + 1):
            form = await client.get("/login")
            answer = await client.post(
                "/login",
                data={
                    "email": member.email,
                    "password": "wrong password",
                    "csrf": csrf_of(form.text),
                },
            )
            statuses.append(answer.status_code)
            texts.append(answer.text)
        assert statuses[:limit] == [401] * limit
        assert "Wrong email or password." in texts[0]
        assert f'value="{member.email}"' in texts[0]  # the email stays filled in
        assert statuses[limit] == 429
        # Throttled: even the right password waits.
        form = await client.get("/login")
        answer = await client.post(
            "/login",
            data={"email": member.email, "password": PASSWORD, "csrf": csrf_of(form.text)},
        )
        assert answer.status_code == 429
        assert "satchel_session" not in client.cookies


async def test_logout_needs_csrf_and_revokes_the_session_token(people: World) -> None:
    async with people.client() as client:
        await log_in(people, "alice", client)
        page = await client.get("/artifacts")
        stolen = client.cookies["satchel_session"]
        refused = await client.post("/logout", data={"csrf": "nope"})
        assert refused.status_code == 403
        assert (await client.get("/artifacts")).status_code == 200  # still logged in
        done = await client.post("/logout", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 303
        assert done.headers["location"] == "/login"
    # The cookie's token is revoked server-side, not only forgotten by this browser.
    async with people.client() as other:
        other.cookies.set("satchel_session", stolen)
        assert (await other.get("/artifacts")).status_code == 303
        secret = stolen.split(".", 1)[1]
        api = await other.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert api.status_code == 401


async def test_a_job_token_never_opens_the_portal(people: World) -> None:
    tenancy = state_of(people.app).tenancy
    token, secret = tenancy.create_token(people.members["bob"].user_id, name="job", run_id="r1")
    async with people.client() as client:
        client.cookies.set("satchel_session", f"{token.token_id}.{secret}")
        assert (await client.get("/artifacts")).status_code == 303
        client.cookies.set("satchel_session", "garbage")
        assert (await client.get("/artifacts")).status_code == 303


async def test_pages_carry_the_portal_security_headers(people: World) -> None:
    async with people.client() as client:
        await log_in(people, "bob", client)
        pages = [await client.get(p) for p in ("/artifacts", "/runs", "/artifacts/01ZZZZZZZZZ")]
    async with people.client() as anonymous:
        pages.append(await anonymous.get("/login"))
        for answer in pages:
            path = answer.request.url.path
            assert answer.headers["x-frame-options"] == "DENY", path
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["referrer-policy"] == "no-referrer"


async def test_the_api_still_answers_json_errors(people: World) -> None:
    async with people.client() as client:
        answer = await client.get("/api/v1/artifacts", headers={"Accept": "text/html"})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthenticated"


def test_the_portal_is_not_in_the_openapi_document(people: World) -> None:
    paths = people.app.openapi()["paths"]
    assert all(p.startswith("/api/") for p in paths), sorted(paths)


async def test_static_assets_come_from_the_server(people: World) -> None:
    async with people.client() as client:
        for name in ("portal.css", "portal.js", "favicon.svg"):
            answer = await client.get(f"/static/{name}")
            assert answer.status_code == 200, name
            # Nothing fetched from elsewhere (an SVG's namespace name is not a fetch).
            body = answer.content.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")
            assert b"http://" not in body and b"https://" not in body, name


async def test_pages_say_their_server_time(people: World) -> None:
    async with people.client() as client:
        await log_in(people, "bob", client)
        timing = (await client.get("/artifacts")).headers["server-timing"]
        assert timing.startswith("app;dur=")
        assert float(timing.split("=", 1)[1]) > 0
