"""``satchel.Context`` on a server URL: the token says who saves, and a bad setup fails
loudly before anything is saved (the issue's example, tokens, job tokens, unreachable
servers)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest

import satchel
from conftest import REMOTE_BACKENDS
from remotekit import RemoteWorld, on_both_pairs
from satchel.errors import (
    AuthenticationError,
    ConfigError,
    NetworkError,
    PermissionDeniedError,
    ValidationError,
)
from satchel.index.sql import SqlIndex
from satchel.storage.local import LocalBlobStore
from satchel.storage.s3 import S3BlobStore
from serverkit import state_of


@on_both_pairs
async def test_the_issues_example_works_remotely(remote: RemoteWorld, monkeypatch, tmp_path):
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    member = remote.member()
    ctx = satchel.Context(store=remote.url, token=member.token, run_id="r1")
    try:
        arts = ctx.artifacts()
        a = await arts.save_text("hello", name="hello.txt")
        assert (a.user_id, a.org_id, a.run_id) == (member.user_id, member.org_id, "r1")
        assert (ctx.info.user_id, ctx.info.org_id) == (member.user_id, member.org_id)
        assert await arts.get_by_id(a.artifact_id) == a
        assert await arts.load_text_by_id(a.artifact_id) == "hello"
        assert ctx.store is None  # the store is the server's
        assert a.uri == f"satchel://{a.artifact_id}"
    finally:
        await ctx.aclose()
    # A given run is left running, as embedded.
    run = state_of(remote.app).store.get_run("r1")
    assert run is not None and run.status == "running"


@on_both_pairs
def test_store_and_token_from_the_environment(remote: RemoteWorld, monkeypatch, tmp_path):
    member = remote.member()
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SATCHEL_STORE", remote.url)
    monkeypatch.setenv("SATCHEL_TOKEN", member.token)
    with satchel.Context() as ctx:
        a = ctx.sync_artifacts().save_text("from the environment")
        run_id = ctx.run_id
        assert a.user_id == member.user_id
        assert member.token not in repr(ctx.settings)
    # A fresh run that saved something is done once its context closes, as embedded.
    run = state_of(remote.app).store.get_run(run_id)
    assert run is not None and run.status == "done" and run.ended_at is not None


@on_both_pairs
def test_no_token_or_a_bad_one_is_refused(remote: RemoteWorld):
    with pytest.raises(AuthenticationError, match="token"):
        satchel.Context(settings=remote.settings())
    with pytest.raises(AuthenticationError):
        satchel.Context(settings=remote.settings(), token="sat_not-a-token")
    member = remote.member()
    tenancy = state_of(remote.app).tenancy
    token, secret = tenancy.create_token(member.user_id, name="short")
    with satchel.Context(settings=remote.settings(), token=secret, run_id="r-revoked") as ctx:
        ctx.sync_artifacts().save_text("while the token lives")
        tenancy.revoke_token(token.token_id)
        with pytest.raises(AuthenticationError):
            ctx.sync_artifacts().save_text("after the revoke")


@on_both_pairs
def test_user_and_org_must_be_the_tokens(remote: RemoteWorld):
    member = remote.member()
    other = remote.member("o2", "u2")
    for field, value in (("user_id", other.user_id), ("org_id", other.org_id)):
        with pytest.raises(ValidationError, match=field):
            satchel.Context(settings=remote.settings(), token=member.token, **{field: value})
    with satchel.Context(
        settings=remote.settings(), token=member.token, user_id=member.user_id
    ) as ctx:
        assert ctx.info.org_id == member.org_id


@on_both_pairs
def test_embedded_only_options_are_refused(remote: RemoteWorld, monkeypatch, tmp_path):
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    from fakes import FakeEmbedder  # noqa: PLC0415

    member = remote.member()
    with pytest.raises(ConfigError, match="embedder"):
        satchel.Context(settings=remote.settings(), token=member.token, embedder=FakeEmbedder())
    with pytest.raises(ConfigError, match="index"):
        satchel.Context(store=remote.url, index="sqlite:///x.db", token=member.token)


@on_both_pairs
def test_a_job_token_writes_into_its_run(remote: RemoteWorld):
    member = remote.member()
    tenancy = state_of(remote.app).tenancy
    _, secret = tenancy.create_token(member.user_id, name="job", run_id="job-run")
    with satchel.Context(settings=remote.settings(), token=secret) as ctx:
        assert ctx.run_id == "job-run"
        a = ctx.sync_artifacts().save_text("computed")
        assert a.run_id == "job-run"
    run = state_of(remote.app).store.get_run("job-run")
    assert run is not None and run.status == "running"  # the job's run is not the context's
    with satchel.Context(settings=remote.settings(), token=secret, run_id="elsewhere") as ctx:
        with pytest.raises(PermissionDeniedError):
            ctx.sync_artifacts().save_text("outside its run")
        assert ctx.sync_artifacts().get_by_id(a.artifact_id) == a  # reads are the user's


def test_an_unreachable_server_is_a_network_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = datetime.now(UTC)
    with pytest.raises(NetworkError) as info:
        satchel.Context(store=f"http://127.0.0.1:{port}", token="sat_x")
    assert info.value.code == "network_error"
    assert isinstance(info.value, ConnectionError)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert datetime.now(UTC) - started < timedelta(seconds=30)


@on_both_pairs
def test_a_server_url_with_credentials_or_a_query_is_refused(remote, monkeypatch, tmp_path):
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    member = remote.member()
    for url in ("http://user:pw@127.0.0.1:1", "http://127.0.0.1:1/?token=x"):
        with pytest.raises(ConfigError):
            satchel.Context(store=url, token=member.token)


@pytest.mark.parametrize(
    ("backend", "blobs", "dialect"),
    [("remote", LocalBlobStore, "sqlite"), ("remote-s3pg", S3BlobStore, "postgresql")],
)
async def test_each_remote_backend_runs_its_server_on_its_pair(
    backend, blobs, dialect, request, tmp_path
):
    """The facade suites' remote backends are what they say (no silent fallback to local)."""
    world: RemoteWorld = request.getfixturevalue(REMOTE_BACKENDS[backend])
    store = world.store
    assert isinstance(store.blobs, blobs)
    assert isinstance(store.index, SqlIndex)
    assert store.index.engine.dialect.name == dialect
    ctx = world.context()
    a = await ctx.artifacts().save_text("x" * (store.settings.inline_max + 1), name="big")
    assert a.sha256 in {digest.hexdigest for digest, _ in store.blobs.iter_blobs()}
