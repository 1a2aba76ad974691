"""``satchel fsck`` through Typer's runner, on every backend pair: exit codes, the damaged
artifact named, ``--json`` documents."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import satchel
from conftest import CONTEXT_FIELDS
from satchel.cli.app import app
from satchel.config import Settings
from satchel.hashing import Digest, digest_bytes
from satchel.index import ArtifactWrite
from satchel.models import Artifact, new_id
from satchel.storage import BlobStore
from satchel.storage.local import LocalBlobStore
from satchel.storage.memory import MemoryBlobStore
from satchel.storage.s3 import S3BlobStore

PAIRS = ["local", "memory+sqlite", "s3+postgres"]


@pytest.fixture(params=PAIRS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ctx(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[satchel.Context]:
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_SERVER", "SATCHEL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SATCHEL_HOME", str(settings.home))
    with satchel.Context(settings=settings, **CONTEXT_FIELDS) as context:
        yield context


def cli(settings: Settings, *args: str, code: int = 0) -> Result:
    target = ["--store", str(settings.store)]
    if settings.index is not None:
        target += ["--index", settings.index]
    result = CliRunner().invoke(app, [*args, *target])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    if code:
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result


def as_json(settings: Settings, *args: str, code: int = 0) -> Any:
    return json.loads(cli(settings, *args, "--json", code=code).stdout)


def big(settings: Settings, char: str) -> str:
    return char * (settings.inline_max + 100)


def test_fsck_exits_0_on_a_sound_store_and_1_naming_the_damaged_artifact(
    ctx: satchel.Context, settings: Settings
) -> None:
    arts = ctx.sync_artifacts()
    damaged = arts.save_text(big(settings, "d"), name="damaged")
    arts.save_text(big(settings, "s"), name="sound")
    arts.save_text("small", name="small")
    out = cli(settings, "fsck").stdout
    assert "checked (quick): 3 artifacts, 3 files, 3 distinct blobs" in out
    assert "ok: 0 damaged artifacts, 0 damaged files, 0 warnings" in out
    assert as_json(settings, "fsck", "--read-data")["ok"] is True

    assert damaged.sha256
    assert ctx.store.blobs.delete(Digest(hexdigest=damaged.sha256))
    out = cli(settings, "fsck", code=1).stdout
    assert f"damaged: {damaged.artifact_id} {damaged.files[0].path}: missing:" in out
    assert "DAMAGED: 1 damaged artifacts, 1 damaged files, 0 warnings" in out
    report = as_json(settings, "fsck", "--read-data", code=1)
    assert report["ok"] is False
    assert report["damaged_artifacts"] == [damaged.artifact_id]
    assert report["damage"][0]["problem"] == "missing"


def replace_blob(blobs: BlobStore, digest: Digest, data: bytes) -> None:
    """Overwrite a stored blob's bytes under the same key, as damage on disk would."""
    if isinstance(blobs, LocalBlobStore):
        path = blobs.blob_path(digest)
        path.chmod(0o644)
        path.write_bytes(data)
    elif isinstance(blobs, MemoryBlobStore):
        blobs.corrupt(digest, data)
    else:
        assert isinstance(blobs, S3BlobStore)
        blobs.put_small(digest, data, replace=True)


def test_fsck_read_data_subset(ctx: satchel.Context, settings: Settings) -> None:
    """``--read-data-subset N/M``: a flipped blob is found by the one subset holding it."""
    arts = ctx.sync_artifacts()
    damaged = arts.save_text(big(settings, "d"), name="damaged")
    arts.save_text(big(settings, "s"), name="sound")
    assert damaged.sha256
    digest = Digest(hexdigest=damaged.sha256)
    data = bytearray(ctx.store.read_file(damaged.files[0], what="test"))
    data[len(data) // 2] ^= 1
    replace_blob(ctx.store.blobs, digest, bytes(data))
    holder = int(damaged.sha256[:8], 16) % 2 + 1
    for n in (1, 2):
        code = 1 if n == holder else 0
        out = cli(settings, "fsck", "--read-data-subset", f"{n}/2", code=code).stdout
        assert f"checked (read-data subset {n}/2): 2 artifacts, 2 files" in out
        assert (f"damaged: {damaged.artifact_id} " in out) is (n == holder)
        report = as_json(settings, "fsck", "--read-data-subset", f"{n}/2", code=code)
        assert report["read_subset"] == f"{n}/2"
        assert report["damaged_artifacts"] == ([damaged.artifact_id] if n == holder else [])
    assert as_json(settings, "fsck", "--read-data-subset", "100%", code=1)["damaged_artifacts"] == [
        damaged.artifact_id
    ]
    for junk in ("0/0", "3/2", "junk"):
        result = cli(settings, "fsck", "--read-data-subset", junk, code=1)
        assert f"error[validation_error]: read-data subset {junk!r}" in result.stderr
        assert result.stdout == ""
    result = cli(settings, "fsck", "--read-data", "--read-data-subset", "1/2", code=1)
    assert "error[validation_error]: --read-data reads every blob" in result.stderr


def test_gc_plans_then_collects_and_fsck_is_clean_after(
    ctx: satchel.Context, settings: Settings
) -> None:
    """``satchel gc``: ``--dry-run`` changes nothing; a run removes the unreferenced blob,
    after which ``satchel fsck`` reports no warning; a bad ``--grace`` is a clear error."""
    arts = ctx.sync_artifacts()
    kept = arts.save_text(big(settings, "k"), name="kept")
    orphan = Digest(hexdigest=digest_bytes(big(settings, "o").encode()).hexdigest)
    sink = ctx.store.blobs.open_sink()
    sink.write(big(settings, "o").encode())
    sink.commit(orphan)
    assert as_json(settings, "fsck")["warnings"][0]["kind"] == "orphan_blob"

    young = cli(settings, "gc").stdout  # the default grace: the orphan is a minute old
    assert "kept: 1 unreferenced blobs younger than the grace period" in young
    plan = as_json(settings, "gc", "--dry-run", "--grace", "0")
    assert (plan["dry_run"], plan["orphan_blobs"], plan["blobs_removed"]) == (True, 1, 1)
    assert plan["bytes_freed"] == settings.inline_max + 100
    assert ctx.store.blobs.stat(orphan) is not None
    out = cli(settings, "gc", "--grace", "0").stdout
    assert "removed: 0 artifacts (0 expired, 0 abandoned uploads), 1 blobs (16.1 KiB)" in out
    assert "freed: 16.1 KiB" in out
    assert ctx.store.blobs.stat(orphan) is None
    assert as_json(settings, "fsck", "--read-data")["warnings"] == []
    assert arts.load_text(kept.uri) == big(settings, "k")
    for junk in ("-1h", "soon", "10"):
        result = cli(settings, "gc", "--grace", junk, code=1)
        assert "error[validation_error]: --grace must be" in result.stderr


@pytest.mark.parametrize("store_kind", ["local"])
def test_gc_sweeps_a_servers_staged_uploads_of_artifacts_no_longer_pending(
    ctx: satchel.Context, settings: Settings, tmp_path: Path
) -> None:
    """Staged bytes of an upload whose artifact is gone (collected as abandoned, deleted,
    or completed by a server that died before dropping them) go; a live upload's stay."""
    uploads = tmp_path / "uploads"
    now = datetime.now(UTC)
    pending = Artifact(
        artifact_id=new_id(), name="upload", status="pending", created_at=now, updated_at=now
    )
    ctx.store.index.commit_writes([ArtifactWrite(artifact=pending)])
    two_hours_ago = time.time() - 7200
    for artifact_id in (pending.artifact_id, new_id()):
        (uploads / artifact_id).mkdir(parents=True)
        part = uploads / artifact_id / "0f.part"
        part.write_bytes(b"x" * 100)
        os.utime(part, (two_hours_ago, two_hours_ago))
    (uploads / "notes.txt").write_text("not an upload: never touched")
    report = as_json(settings, "gc", "--dry-run", "--grace", "1h", "--uploads", str(uploads))
    assert (report["staged_uploads"], report["staged_bytes"]) == (1, 100)
    out = cli(settings, "gc", "--grace", "3h", "--uploads", str(uploads)).stdout
    assert "0 staged uploads" in out  # written two hours ago: within a 3 h grace period
    out = cli(settings, "gc", "--grace", "1h", "--uploads", str(uploads)).stdout
    assert "1 staged uploads (100 B)" in out
    left = sorted(p.name for p in uploads.iterdir())
    assert left == sorted([pending.artifact_id, "notes.txt"])  # the live upload's stay
