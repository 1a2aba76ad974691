"""Helpers for the portal's HTTP-level tests: log a member of a ``World`` in by the form."""

from __future__ import annotations

import re

import httpx

from serverkit import World, state_of

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


async def log_in(world: World, who: str, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """``client`` (of the app, anonymous) now holding ``who``'s portal session, logged in
    through the form."""
    member = world.members[who]
    state_of(world.app).tenancy.set_password(member.user_id, PASSWORD)
    page = await client.get("/login")
    assert page.status_code == 200
    answer = await client.post(
        "/login",
        data={"email": member.email, "password": PASSWORD, "csrf": csrf_of(page.text)},
    )
    assert answer.status_code == 303, answer.text
    assert "satchel_session" in client.cookies
    return client


def row_ids(html: str) -> list[str]:
    """The artifact ids of a list page's rows, in order."""
    return re.findall(r'<tr data-artifact-id="([^"]+)"', html)
