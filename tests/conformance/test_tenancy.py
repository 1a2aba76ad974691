"""Conformance suite for ``Directory`` and ``Grants`` (``satchel.tenancy.base``).

Runs on every backend of the ``index`` fixture (SQLite, PostgreSQL in a schema of its own):
the tenancy tables live in the index's database. Raw rows are read back where the test is
about what is stored (hashes, never secrets).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from satchel.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from satchel.index import ArtifactWrite, Index
from satchel.index.schema import grants, tokens, users
from satchel.index.sql import SqlIndex
from satchel.models import Artifact, format_time, new_id, utcnow
from satchel.tenancy import Actor, Directory, Grants, SqlTenancy, tenancy_of
from satchel.tenancy.secrets import TOKEN_PREFIX, token_digest
from satchel.tenancy.sql import LAST_USED_EVERY

PASSWORD = "correct horse battery"


@pytest.fixture
def tenancy(index: Index) -> SqlTenancy:
    return tenancy_of(index)


def engine_of(index: Index) -> sa.Engine:
    assert isinstance(index, SqlIndex)
    return index.engine


def make_artifact(index: Index, **fields: Any) -> Artifact:
    now = utcnow()
    artifact = Artifact(
        artifact_id=new_id(), name="a.txt", created_at=now, updated_at=now, **fields
    )
    index.commit_writes([ArtifactWrite(artifact=artifact)])
    return artifact


def test_one_object_is_both_protocols(tenancy: SqlTenancy) -> None:
    assert isinstance(tenancy, Directory)
    assert isinstance(tenancy, Grants)


def test_only_a_sql_index_keeps_tenancy() -> None:
    class NotSql:
        url = "memory://x"

    with pytest.raises(ConfigError):
        tenancy_of(NotSql())  # type: ignore[arg-type]


# -- orgs -----------------------------------------------------------------------------------


def test_orgs(tenancy: SqlTenancy) -> None:
    assert tenancy.is_empty()
    beta = tenancy.create_org("beta")
    alpha = tenancy.create_org("Alpha Labs")
    assert not tenancy.is_empty()
    assert tenancy.get_org(beta.org_id) == beta
    assert tenancy.get_org("nope") is None
    assert tenancy.org_by_name("Alpha Labs") == alpha
    assert [o.name for o in tenancy.list_orgs()] == ["Alpha Labs", "beta"]
    with pytest.raises(ConflictError):
        tenancy.create_org("beta")
    for bad in ("", "tab\there", "x" * 300):
        with pytest.raises(ValidationError):
            tenancy.create_org(bad)
    assert len(tenancy.list_orgs()) == 2


# -- users and passwords --------------------------------------------------------------------


def test_users(tenancy: SqlTenancy) -> None:
    org = tenancy.create_org("o")
    other = tenancy.create_org("p")
    ann = tenancy.create_user(email="Ann@Example.COM", org_id=org.org_id, display_name="Ann")
    bob = tenancy.create_user(email="bob@example.com", org_id=other.org_id, role="admin")
    assert ann.email == "ann@example.com"
    assert (ann.role, ann.display_name, ann.has_password) == ("member", "Ann", False)
    assert bob.role == "admin"
    assert tenancy.get_user(ann.user_id) == ann
    assert tenancy.get_user("nope") is None
    assert tenancy.user_by_email("ANN@example.com") == ann
    assert tenancy.user_by_email("nobody@example.com") is None
    assert [u.email for u in tenancy.list_users()] == ["ann@example.com", "bob@example.com"]
    assert tenancy.list_users(org_id=other.org_id) == [bob]
    with pytest.raises(ConflictError):
        tenancy.create_user(email="ANN@example.com", org_id=other.org_id)
    with pytest.raises(NotFoundError):
        tenancy.create_user(email="cy@example.com", org_id="no-such-org")
    with pytest.raises(ValidationError):
        tenancy.create_user(email="cy@example.com", org_id=org.org_id, role="owner")  # type: ignore[arg-type]
    for bad in ("", "no-at-sign", "two@@example.com", "sp ace@example.com", "a@b\n"):
        with pytest.raises(ValidationError):
            tenancy.create_user(email=bad, org_id=org.org_id)
    assert len(tenancy.list_users()) == 2


def test_a_key_holding_nul_finds_nothing(tenancy: SqlTenancy, index: Index) -> None:
    """Lookups by caller-given keys (a login's email, a grant's org id, a token's user id)
    answer "no such row" on every dialect: PostgreSQL refuses U+0000 in a text parameter,
    which must not surface as an index error (a 503 where SQLite answers 401 or 404)."""
    org = tenancy.create_org("o")
    ann = tenancy.create_user(email="ann@example.com", org_id=org.org_id)
    tenancy.set_password(ann.user_id, PASSWORD)
    token, _ = tenancy.create_token(ann.user_id, name="t")
    artifact = make_artifact(index, org_id=org.org_id, user_id=ann.user_id)
    grant = tenancy.add_grant(artifact.artifact_id, org_id=org.org_id, granted_by=ann.user_id)
    for key in ("\x00", f"{org.org_id}\x00", "ann@example.com\x00"):
        assert tenancy.get_org(key) is None
        assert tenancy.org_by_name(key) is None
        assert tenancy.get_user(key) is None
        assert tenancy.user_by_email(key) is None
        assert tenancy.check_password(key, PASSWORD) is None
        assert tenancy.list_users(org_id=key) == []
        assert tenancy.get_token(key) is None
        assert tenancy.list_tokens(key) == []
        assert tenancy.revoke_token(key) is False
        assert tenancy.get_grant(key) is None
        assert tenancy.revoke_grant(key) is False
        assert tenancy.list_grants(key) == []
        with pytest.raises(NotFoundError):
            tenancy.create_token(key, name="t")
        with pytest.raises(NotFoundError):
            tenancy.add_grant(artifact.artifact_id, org_id=key, granted_by=ann.user_id)
        with pytest.raises(NotFoundError):
            tenancy.add_grant(key, org_id=org.org_id, granted_by=ann.user_id)
        with pytest.raises(NotFoundError):
            tenancy.set_password(key, PASSWORD)
    assert tenancy.check_password("ann@example.com", PASSWORD) == tenancy.get_user(ann.user_id)
    assert tenancy.get_token(token.token_id) == token
    assert tenancy.list_grants(artifact.artifact_id) == [grant]


def test_passwords_are_salted_scrypt_and_checked(tenancy: SqlTenancy, index: Index) -> None:
    org = tenancy.create_org("o")
    ann = tenancy.create_user(email="ann@example.com", org_id=org.org_id, password=PASSWORD)
    tenancy.create_user(email="bob@example.com", org_id=org.org_id, password=PASSWORD)
    cy = tenancy.create_user(email="cy@example.com", org_id=org.org_id)
    assert ann.has_password
    assert not cy.has_password
    with engine_of(index).connect() as conn:
        stored = dict(conn.execute(sa.select(users.c.email, users.c.password_hash)).all())
    assert stored["ann@example.com"].startswith("scrypt$n=")
    assert PASSWORD not in stored["ann@example.com"]
    assert stored["ann@example.com"] != stored["bob@example.com"]  # a salt of its own
    assert stored["cy@example.com"] is None
    assert tenancy.check_password("ANN@example.com", PASSWORD) == ann
    assert tenancy.check_password("ann@example.com", PASSWORD + "!") is None
    assert tenancy.check_password("nobody@example.com", PASSWORD) is None
    assert tenancy.check_password("cy@example.com", PASSWORD) is None
    tenancy.set_password(ann.user_id, "a new passphrase")
    assert tenancy.check_password("ann@example.com", PASSWORD) is None
    assert tenancy.check_password("ann@example.com", "a new passphrase") is not None
    with pytest.raises(ValidationError):
        tenancy.set_password(ann.user_id, "short")
    with pytest.raises(NotFoundError):
        tenancy.set_password("no-such-user", PASSWORD)


def test_the_same_email_created_at_once_is_one_user(tenancy: SqlTenancy) -> None:
    org = tenancy.create_org("o")
    count = 4
    barrier = threading.Barrier(count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        barrier.wait()
        try:
            tenancy.create_user(email="race@example.com", org_id=org.org_id)
            result = "created"
        except ConflictError:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=create) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * (count - 1) + ["created"]
    assert len(tenancy.list_users()) == 1


# -- tokens ---------------------------------------------------------------------------------


def test_tokens_authenticate_and_store_only_a_digest(tenancy: SqlTenancy, index: Index) -> None:
    org = tenancy.create_org("o")
    ann = tenancy.create_user(email="ann@example.com", org_id=org.org_id, role="admin")
    token, secret = tenancy.create_token(ann.user_id, name="laptop")
    assert secret.startswith(TOKEN_PREFIX)
    assert len(secret) >= len(TOKEN_PREFIX) + 43
    assert (token.user_id, token.name, token.run_id, token.revoked_at) == (
        ann.user_id,
        "laptop",
        None,
        None,
    )
    with engine_of(index).connect() as conn:
        row = conn.execute(sa.select(tokens)).one()
    assert row.secret_sha256 == token_digest(secret)
    assert secret not in [str(v) for v in row]
    actor = tenancy.authenticate(secret)
    assert actor == Actor(
        user_id=ann.user_id, org_id=org.org_id, email="ann@example.com", role="admin"
    )
    assert actor.reader.user_id == ann.user_id
    other, other_secret = tenancy.create_token(ann.user_id, name="ci")
    assert other_secret != secret
    assert [t.token_id for t in tenancy.list_tokens(ann.user_id)] == [
        other.token_id,
        token.token_id,
    ]
    for bad in ("", "sat_", secret[:-1], secret + "x", "x" * 10_000, other_secret.upper()):
        assert tenancy.authenticate(bad) is None
    with pytest.raises(NotFoundError):
        tenancy.create_token("no-such-user", name="x")
    with pytest.raises(ValidationError):
        tenancy.create_token(ann.user_id, name="")


def test_a_revoked_token_fails_on_the_next_call(tenancy: SqlTenancy) -> None:
    org = tenancy.create_org("o")
    ann = tenancy.create_user(email="ann@example.com", org_id=org.org_id)
    token, secret = tenancy.create_token(ann.user_id, name="t")
    keep, keep_secret = tenancy.create_token(ann.user_id, name="k")
    assert tenancy.authenticate(secret) is not None
    assert tenancy.revoke_token(token.token_id) is True
    assert tenancy.authenticate(secret) is None
    assert tenancy.revoke_token(token.token_id) is False
    assert tenancy.revoke_token("no-such-token") is False
    assert tenancy.authenticate(keep_secret) is not None
    listed = {t.token_id: t for t in tenancy.list_tokens(ann.user_id)}
    assert listed[token.token_id].revoked_at is not None
    assert listed[keep.token_id].revoked_at is None


def test_an_expired_token_fails(tenancy: SqlTenancy, index: Index) -> None:
    org = tenancy.create_org("o")
    ann = tenancy.create_user(email="ann@example.com", org_id=org.org_id)
    soon = utcnow() + timedelta(hours=1)
    token, secret = tenancy.create_token(ann.user_id, name="t", expires_at=soon)
    assert token.expires_at is not None
    assert tenancy.authenticate(secret) is not None
    with engine_of(index).begin() as conn:
        conn.execute(
            sa.update(tokens).values(expires_at=format_time(utcnow() - timedelta(seconds=1)))
        )
    assert tenancy.authenticate(secret) is None
    with pytest.raises(ValidationError):
        tenancy.create_token(ann.user_id, name="past", expires_at=utcnow() - timedelta(days=1))


def test_last_used_is_recorded_at_most_once_a_minute(tenancy: SqlTenancy, index: Index) -> None:
    org = tenancy.create_org("o")
    ann = tenancy.create_user(email="ann@example.com", org_id=org.org_id)
    _token, secret = tenancy.create_token(ann.user_id, name="t")

    def last_used() -> str | None:
        with engine_of(index).connect() as conn:
            value = conn.execute(sa.select(tokens.c.last_used_at)).scalar_one()
        return None if value is None else str(value)

    assert last_used() is None
    tenancy.authenticate(secret)
    first = last_used()
    assert first is not None
    tenancy.authenticate(secret)
    assert last_used() == first
    earlier = format_time(utcnow() - LAST_USED_EVERY - timedelta(seconds=1))
    with engine_of(index).begin() as conn:
        conn.execute(sa.update(tokens).values(last_used_at=earlier))
    tenancy.authenticate(secret)
    assert last_used() is not None
    assert last_used() > earlier  # type: ignore[operator]
    listed = tenancy.list_tokens(ann.user_id)[0]
    assert listed.last_used_at is not None


def test_a_job_token_is_scoped_to_its_run(tenancy: SqlTenancy) -> None:
    org = tenancy.create_org("o")
    ann = tenancy.create_user(email="ann@example.com", org_id=org.org_id)
    token, secret = tenancy.create_token(ann.user_id, name="job", run_id="run-7")
    assert token.run_id == "run-7"
    actor = tenancy.authenticate(secret)
    assert actor is not None
    assert actor.run_id == "run-7"


# -- grants ---------------------------------------------------------------------------------


def test_grants(tenancy: SqlTenancy, index: Index) -> None:
    org = tenancy.create_org("o")
    partner = tenancy.create_org("partner")
    artifact = make_artifact(index, org_id=org.org_id, user_id="u1")
    other = make_artifact(index, org_id=org.org_id, user_id="u1")
    by_email = tenancy.add_grant(artifact.artifact_id, email="Pat@Partner.org", granted_by="u1")
    by_org = tenancy.add_grant(artifact.artifact_id, org_id=partner.org_id, granted_by="u1")
    assert by_email.recipient_email == "pat@partner.org"
    assert by_email.recipient_org_id is None
    assert (by_org.recipient_email, by_org.recipient_org_id) == (None, partner.org_id)
    assert tenancy.list_grants(artifact.artifact_id) == [by_email, by_org]
    assert tenancy.get_grant(by_org.grant_id) == by_org
    assert tenancy.get_grant("nope") is None
    assert tenancy.grants_of([artifact.artifact_id, other.artifact_id]) == {
        artifact.artifact_id: [by_email, by_org],
        other.artifact_id: [],
    }
    with pytest.raises(ConflictError):
        tenancy.add_grant(artifact.artifact_id, email="PAT@partner.org", granted_by="u2")
    with pytest.raises(ConflictError):
        tenancy.add_grant(artifact.artifact_id, org_id=partner.org_id, granted_by="u2")
    with pytest.raises(ValidationError):
        tenancy.add_grant(
            artifact.artifact_id, email="x@y.z", org_id=partner.org_id, granted_by="u1"
        )
    with pytest.raises(ValidationError):
        tenancy.add_grant(artifact.artifact_id, granted_by="u1")
    with pytest.raises(ValidationError):
        tenancy.add_grant(artifact.artifact_id, email="not an email", granted_by="u1")
    with pytest.raises(NotFoundError):
        tenancy.add_grant("no-such-artifact", email="x@y.z", granted_by="u1")
    with pytest.raises(NotFoundError):
        tenancy.add_grant(artifact.artifact_id, org_id="no-such-org", granted_by="u1")
    # The same recipient on another artifact is another grant.
    tenancy.add_grant(other.artifact_id, email="pat@partner.org", granted_by="u1")
    assert tenancy.revoke_grant(by_email.grant_id) is True
    assert tenancy.revoke_grant(by_email.grant_id) is False
    assert tenancy.list_grants(artifact.artifact_id) == [by_org]
    # Revoked, the same grant can be made again.
    again = tenancy.add_grant(artifact.artifact_id, email="pat@partner.org", granted_by="u1")
    assert again.grant_id != by_email.grant_id


def test_the_database_holds_one_recipient_per_grant(tenancy: SqlTenancy, index: Index) -> None:
    org = tenancy.create_org("o")
    artifact = make_artifact(index, org_id=org.org_id)
    row = {
        "artifact_id": artifact.artifact_id,
        "granted_by": "u1",
        "created_at": format_time(utcnow()),
    }
    for recipients in (
        {"recipient_email": None, "recipient_org_id": None},
        {"recipient_email": "a@b.c", "recipient_org_id": org.org_id},
    ):
        with pytest.raises(sa.exc.IntegrityError), engine_of(index).begin() as conn:
            conn.execute(sa.insert(grants).values(grant_id=new_id(), **row, **recipients))
    with engine_of(index).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(grants)).scalar_one() == 0
