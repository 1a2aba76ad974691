"""``satchel fsck`` through Typer's runner, on every backend pair: exit codes, the damaged
artifact named, ``--json`` documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import satchel
from conftest import CONTEXT_FIELDS
from satchel.cli.app import app
from satchel.config import Settings
from satchel.hashing import Digest

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
