"""Logging in and out through the form, the session cookie, and CSRF: a POST without the
form's ``csrf`` field is refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import BrowserContext, Page

from .conftest import PASSWORD, Login, Portal


def test_pages_send_a_stranger_to_the_login_form(portal: Portal, page: Page) -> None:
    page.goto(portal.at("/"))
    assert urlsplit(page.url).path == "/login"
    for path in ("/artifacts", f"/artifacts/{portal.id('a-ckpt')}", "/runs"):
        page.goto(portal.at(path))
        parts = urlsplit(page.url)
        assert parts.path == "/login", f"{path} answered a stranger"
        assert parse_qs(parts.query).get("next") == [path]
    assert "resnet50-epoch3" not in page.content()


def test_login_goes_to_next_and_root_goes_to_artifacts(
    portal: Portal, page: Page, login: Login
) -> None:
    wanted = f"/artifacts/{portal.id('a-ckpt')}"
    login(page, "alice", wanted)
    assert page.url == portal.at(wanted)
    assert page.locator("h1").inner_text().strip() == "resnet50-epoch3"
    page.goto(portal.at("/"))
    assert urlsplit(page.url).path == "/artifacts"


def test_session_cookie_is_http_only_and_lax(
    portal: Portal, page: Page, browser_context: BrowserContext, login: Login
) -> None:
    login(page, "bob")
    cookies = {c["name"]: c for c in browser_context.cookies(portal.url)}
    session = cookies.get("satchel_session")
    assert session is not None, f"no satchel_session cookie: {sorted(cookies)}"
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert PASSWORD not in session["value"]
    assert page.evaluate("document.cookie").find("satchel_session") == -1


def test_a_wrong_password_is_an_alert(portal: Portal, page: Page) -> None:
    page.goto(portal.at("/login"))
    form = page.locator("#login-form")
    form.locator("input[name=email]").fill(portal.people["alice"].email)
    form.locator("input[name=password]").fill("not-the-password")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/login"
    alert = page.locator("[role=alert]")
    assert alert.count() >= 1 and alert.first.inner_text().strip()
    page.goto(portal.at("/artifacts"))
    assert urlsplit(page.url).path == "/login"


def test_log_out(portal: Portal, page: Page, login: Login) -> None:
    login(page, "alice")
    page.goto(portal.at("/artifacts"))
    button = page.locator("#logout-form button")
    assert "Log out" in button.inner_text()
    with page.expect_navigation():
        button.click()
    page.goto(portal.at("/artifacts"))
    assert urlsplit(page.url).path == "/login", "still logged in after logging out"


def test_logout_refuses_a_post_without_csrf(portal: Portal, page: Page, login: Login) -> None:
    login(page, "alice")
    refused = page.request.post(portal.at("/logout"), form={}, max_redirects=0)
    assert 400 <= refused.status < 500, refused.status
    response = page.goto(portal.at("/artifacts"))
    assert response is not None and response.status == 200
    assert urlsplit(page.url).path == "/artifacts", "a POST without csrf logged the user out"
    forged = page.request.post(portal.at("/logout"), form={"csrf": "forged"}, max_redirects=0)
    assert 400 <= forged.status < 500, forged.status


def test_login_refuses_a_post_without_csrf(
    portal: Portal, page: Page, browser_context: BrowserContext
) -> None:
    page.goto(portal.at("/login"))  # sets the csrf cookie
    person = portal.people["alice"]
    refused = page.request.post(
        portal.at("/login"),
        form={"email": person.email, "password": PASSWORD, "next": "/artifacts"},
        max_redirects=0,
    )
    assert 400 <= refused.status < 500, refused.status
    assert "satchel_session" not in {c["name"] for c in browser_context.cookies(portal.url)}
    page.goto(portal.at("/artifacts"))
    assert urlsplit(page.url).path == "/login"
