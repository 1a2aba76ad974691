"""``satchel retention add|list|remove|preview`` on the embedded store and against a live
server (both backend pairs): the same commands, the same answers, the server's roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner, Result

import satchel
from satchel.cli.app import app as cli_app
from serverkit import World, serving


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_TOKEN", "SATCHEL_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SATCHEL_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("COLUMNS", "250")
    return tmp_path / "home"


def cli(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
    if code:
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result


def as_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


def error_of(*args: str) -> str:
    result = cli(*args, code=1)
    assert result.stderr.startswith("error[") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.split("]")[0].removeprefix("error[")


def _checkpoints(run_id: str, count: int, **target: Any) -> list[str]:
    """``count`` checkpoints of a finished run, oldest first; the second one pinned."""
    with satchel.Context(run_id=run_id, **target) as ctx:
        arts = ctx.sync_artifacts()
        made = [
            arts.save_text(f"{run_id} {n}", name=f"step-{n}.ckpt", kind="checkpoint").artifact_id
            for n in range(count)
        ]
        arts.pin(made[1], pinned=True)
        ctx.finish_run("done")
    return made


def test_retention_on_the_embedded_store(home: Path) -> None:
    for command in ("add", "list", "remove", "preview"):
        assert "Example:" in cli("retention", command, "--help").stdout, command
    made = _checkpoints("r1", 4)
    add = ("retention", "add", "--kind", "checkpoint", "--group-by", "run")
    pid = cli(*add, "--keep-last", "2", "--name", "ckpts").stdout.strip()
    listed = as_json("retention", "list")
    assert [(p["policy_id"], p["org_id"], p["created_by"]) for p in listed] == [
        (pid, None, "local")  # store-wide, by the one local actor
    ]
    assert listed[0]["description"] == "keep the last 2 per run and pinned ones"
    shown = cli("retention", "list").stdout
    assert pid in shown and "the last 2 per run and pinned ones" in shown

    dry = as_json("retention", "preview", pid)
    assert dry["count"] == 1 and dry["policy"]["policy_id"] == pid
    assert [(e["artifact_id"], e["name"], e["reason"]) for e in dry["items"]] == [
        (made[0], "step-0.ckpt", "not among the last 2 of run r1")
    ]
    table = cli("retention", "preview", pid)
    assert made[0] in table.stdout and made[2] not in table.stdout
    assert "would remove 1 artifact as of" in table.stderr and "nothing was removed" in table.stderr
    assert satchel.Context().sync_artifacts().get_by_id(made[0]) is not None  # a dry run

    best = cli(*add, "--keep-best", "1", "-m", "loss", "--min", "--ttl", "12h", "--json")
    assert json.loads(best.stdout)["metric_mode"] == "min"
    assert json.loads(best.stdout)["ttl_seconds"] == 12 * 3600
    for bad in (
        (*add,),  # keeps nothing
        (*add, "--keep-best", "2"),  # no metric
        (*add, "--keep-last", "0"),
        (*add, "--keep-last", "1", "--ttl", "3x"),
        (*add, "--keep-best", "1", "-m", "acc", "--min", "--max"),
        ("retention", "add", "--keep-last", "1", "--group-by", "kind"),
    ):
        assert error_of(*bad) == "validation_error", bad
    assert error_of(*add, "--keep-last", "1", "--run", "nosuch") == "not_found"
    assert error_of("retention", "preview", "01NOSUCHPOLICY0000000000000") == "not_found"

    assert cli("retention", "remove", pid).stdout.strip() == f"retention policy {pid} removed"
    assert error_of("retention", "remove", pid) == "not_found"
    assert [p["policy_id"] for p in as_json("retention", "list")] != [pid]


def test_retention_against_a_live_server(app: FastAPI, home: Path) -> None:
    world = World(app)
    admin = world.member("admin", "a", role="admin")
    member = world.member("member", "a")
    other = world.member("other", "b", role="admin")
    with serving(app) as url:
        as_admin = ("--server", url, "--token", admin.token)
        as_member = ("--server", url, "--token", member.token)
        as_other = ("--server", url, "--token", other.token)
        made = _checkpoints("train", 3, store=url, token=member.token)
        add = ("retention", "add", "--kind", "checkpoint", "--keep-last", "1")
        assert error_of(*add, *as_member) == "forbidden"
        policy = as_json(*add, "--name", "last one", *as_admin)
        pid = policy["policy_id"]
        assert (policy["org_id"], policy["created_by"]) == (admin.org_id, admin.user_id)
        assert [p["policy_id"] for p in as_json("retention", "list", *as_member)] == [pid]
        assert as_json("retention", "list", *as_other) == []

        dry = as_json("retention", "preview", pid, *as_member)
        assert [e["artifact_id"] for e in dry["items"]] == [made[0]]  # made[1] is pinned
        assert dry["items"][0]["reason"] == "not among the last 1"
        limited = cli("retention", "preview", pid, "--limit", "1", *as_member)
        assert "would remove 1 artifact" in limited.stderr
        assert error_of("retention", "preview", pid, *as_other) == "not_found"

        assert error_of("retention", "remove", pid, *as_member) == "forbidden"
        assert error_of("retention", "remove", pid, *as_other) == "not_found"
        cli("retention", "remove", pid, *as_admin)
        assert as_json("retention", "list", *as_admin) == []
