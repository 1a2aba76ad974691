"""``satchel.access``: the access model of DESIGN.md as pure decisions, default deny."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from satchel.access import Decision, may_manage, may_read, may_write_run
from satchel.models import Artifact
from satchel.tenancy import Actor, Grant

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
ARTIFACT = Artifact(artifact_id="A1", run_id="r1", org_id="acme", user_id="ann")


def actor(user_id: str, org_id: str, role: str = "member", **extra: str) -> Actor:
    return Actor(
        user_id=user_id,
        org_id=org_id,
        email=f"{user_id}@{org_id}.example",
        role=role,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def grant(*, email: str | None = None, org_id: str | None = None, on: str = "A1") -> Grant:
    return Grant(
        grant_id="g",
        artifact_id=on,
        recipient_email=email,
        recipient_org_id=org_id,
        granted_by="ann",
        created_at=WHEN,
    )


ANN = actor("ann", "acme")  # the creator
BEN = actor("ben", "acme")  # same org
BOSS = actor("boss", "acme", "admin")  # admin of the artifact's org
EVE = actor("eve", "rival")  # another org
EVE_ADMIN = actor("eve", "rival", "admin")  # an admin, but of another org


@pytest.mark.parametrize(
    ("who", "grants", "allowed"),
    [
        (ANN, [], True),
        (BEN, [], True),
        (BOSS, [], True),
        (EVE, [], False),
        (EVE_ADMIN, [], False),
        (EVE, [grant(email="EVE@rival.example")], True),  # emails compare in any case
        (EVE, [grant(org_id="rival")], True),
        (EVE, [grant(email="someone@rival.example"), grant(org_id="third")], False),
        (EVE, [grant(org_id="rival", on="A2")], False),  # a grant of another artifact
    ],
)
def test_may_read(who: Actor, grants: list[Grant], allowed: bool) -> None:
    decision = may_read(who, ARTIFACT, grants)
    assert isinstance(decision, Decision)
    assert bool(decision) is allowed
    assert decision.reason


def test_artifacts_without_an_owner_are_readable_by_grant_only() -> None:
    bare = Artifact(artifact_id="A1")
    assert not may_read(actor("x", "acme"), bare, [])
    assert may_read(actor("x", "acme"), bare, [grant(org_id="acme")])
    assert not may_manage(actor("x", "acme", "admin"), bare)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        (ANN, True),
        (BEN, False),  # same org, not the creator, not an admin
        (BOSS, True),
        (EVE, False),
        (EVE_ADMIN, False),
    ],
)
def test_may_manage(who: Actor, allowed: bool) -> None:
    assert bool(may_manage(who, ARTIFACT)) is allowed


def test_a_job_token_writes_and_manages_in_its_run_only() -> None:
    job = actor("ann", "acme", run_id="r1")
    other_job = actor("ann", "acme", run_id="r2")
    assert may_write_run(ANN, "anything")
    assert may_write_run(job, "r1")
    assert not may_write_run(job, "r2")
    assert may_manage(job, ARTIFACT)
    assert not may_manage(other_job, ARTIFACT)
    # Reading is the user's: a job may read its inputs wherever they come from.
    assert may_read(other_job, ARTIFACT, [])
