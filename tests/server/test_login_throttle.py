"""Failed logins are counted per email and per client address; past the limit, 429."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from satchel.server.errors import ApiError
from satchel.server.throttle import LoginThrottle
from serverkit import World, state_of

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_holds_until_the_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60, clock=clock)
    keys = throttle.keys("Ada@Example.com ", "10.0.0.1")
    for _ in range(3):
        throttle.check(keys)
        throttle.failed(keys)
        clock.now += 10
    with pytest.raises(ApiError) as refused:
        throttle.check(keys)
    assert refused.value.code == "rate_limited"
    assert refused.value.headers == {"Retry-After": "30"}  # the first failure was at 1000
    clock.now = 1060.5  # the first failure left the window: one more try
    throttle.check(keys)
    throttle.failed(keys)
    with pytest.raises(ApiError):
        throttle.check(keys)


def test_emails_and_addresses_count_apart() -> None:
    throttle = LoginThrottle(2, 60, clock=Clock())
    for address in ("10.0.0.1", "10.0.0.2"):  # one email guessed from two addresses
        throttle.failed(throttle.keys("ada@example.com", address))
    with pytest.raises(ApiError):
        throttle.check(throttle.keys("ADA@example.com", "10.0.0.3"))
    throttle.check(throttle.keys("bob@example.com", "10.0.0.1"))  # one failure there
    throttle.succeeded("ada@example.com")
    throttle.check(throttle.keys("ada@example.com", "10.0.0.3"))


async def test_login_is_refused_after_too_many_failures(app: FastAPI, world: World) -> None:
    clock = Clock()
    state = state_of(app)
    state.throttle = LoginThrottle(3, 900, clock=clock)
    org = world.org("a")
    state.tenancy.create_user(email="ada@example.com", org_id=org, password=PASSWORD)
    state.tenancy.create_user(email="bob@example.com", org_id=org, password=PASSWORD)
    async with world.client() as anonymous:

        async def login(email: str, password: str) -> tuple[int, dict[str, str], str]:
            response = await anonymous.post(
                "/api/v1/auth/login", json={"email": email, "password": password}
            )
            return response.status_code, dict(response.headers), response.text

        for _ in range(3):
            status, _, _ = await login("ada@example.com", "wrong")
            assert status == 401
        status, headers, body = await login("ada@example.com", PASSWORD)
        assert status == 429, body
        assert '"rate_limited"' in body
        assert int(headers["retry-after"]) == 900
        # Every failure came from this one address: it is refused for any email now.
        status, _, _ = await login("bob@example.com", PASSWORD)
        assert status == 429
        clock.now += 901
        status, _, body = await login("ada@example.com", PASSWORD)
        assert status == 201, body
        assert '"token"' in body
