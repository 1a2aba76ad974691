"""``satchel artifacts``, ``runs``, ``search`` and ``best`` on the embedded default store.

The CLI runs in-process (Typer's ``CliRunner``) against ``SATCHEL_HOME``; data that the
CLI does not make (captured runs with experiments) is made with the SDK and the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

import satchel
from _seaweed import Seaweed, unique_prefix
from satchel.cli.app import app
from satchel.models import Run, utcnow


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_TOKEN", "SATCHEL_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SATCHEL_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str, input: str | None = None, code: int = 0) -> Result:
    """Run ``satchel ARGS``; a failure must be one ``error[...]`` line, never a traceback."""
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    if code:
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result


def error_of(*args: str, input: str | None = None) -> str:
    """The error code a failing command prints (exit status 1)."""
    result = cli(*args, input=input, code=1)
    assert result.stderr.startswith("error["), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.split("]")[0].removeprefix("error[")


def as_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


def test_upload_reuse_list_show_and_download(home: Path) -> None:
    (home / "model.ckpt").write_bytes(b"\x00\x01" * 5000)
    (home / "a.txt").write_text("alpha")
    (home / "b.txt").write_text("beta")
    args = ("artifacts", "upload", "-n", "resnet", "-t", "checkpoint", "-f", "model.ckpt")
    meta = ("--metric", "acc=0.91", "--label", "epoch=3", "--tag", "best", "-m", '{"ds": "c"}')
    first = cli(*args, *meta, "--model-id", "resnet50", "--model-version", "2").stdout.strip()
    again = cli(*args, *meta, "--model-id", "resnet50", "--model-version", "2")
    assert again.stdout.strip() == first and "reusing" in again.stderr
    (home / "model.ckpt").write_bytes(b"changed")
    assert cli(*args, "-k", "fixed").stdout.strip() != first  # other bytes: a new artifact
    assert error_of(*args[:-2], "-f", "a.txt", "-k", "fixed") == "conflict"
    pair = cli("artifacts", "upload", "-n", "pair", "-t", "result", "-f", "a.txt", "-f", "b.txt")
    pair_id = pair.stdout.strip()

    shown = as_json("artifacts", "show", first)
    assert shown["labels"]["epoch"] == 3 and shown["labels"]["ds"] == "c"
    assert shown["metrics"] == {"acc": 0.91} and shown["tags"] == ["best"]
    assert (shown["model_id"], shown["model_version"]) == ("resnet50", "2")
    assert [f["status"] for f in shown["files"]] == ["completed"] and shown["grants"] == []
    table = cli("artifacts", "show", pair_id).stdout
    assert "a.txt" in table and "b.txt" in table and "completed" in table

    listed = as_json("artifacts", "list", "--type", "checkpoint", "--type", "result")
    assert [a["name"] for a in listed] == ["pair", "resnet", "resnet"]  # newest first
    assert [a["name"] for a in as_json("artifacts", "list", "-t", "result")] == ["pair"]
    assert len(as_json("artifacts", "list", "--limit", "1")) == 1
    assert as_json("artifacts", "list", "--shared") == []  # embedded: nothing shared in
    assert {a["name"] for a in as_json("artifacts", "list", "--search", "resnet")} == {"resnet"}
    assert "pair" in cli("artifacts", "list").stdout

    out = cli("artifacts", "download", pair_id, "-p", "dl").stdout.split()
    assert sorted(Path(p).as_posix() for p in out) == [
        f"dl/{pair_id}/a.txt",
        f"dl/{pair_id}/b.txt",
    ]
    assert (home / "dl" / pair_id / "b.txt").read_text() == "beta"
    cli("artifacts", "download", first, "-p", "dl")
    assert (home / "dl" / first / "resnet").read_bytes() == b"\x00\x01" * 5000


def test_errors_are_one_message_and_exit_1(home: Path) -> None:
    (home / "x.txt").write_text("x")
    aid = cli("artifacts", "upload", "-n", "x", "-t", "log", "-f", "x.txt").stdout.strip()
    assert error_of("artifacts", "grant", "-i", aid) == "validation_error"
    assert error_of("artifacts", "grant", "-i", aid, "-e", "a@b.c", "-o", "o1") == (
        "validation_error"
    )
    assert error_of("artifacts", "show", "01JD3Q5W8YVZ4M2K7N9P0RSTUV") == "not_found"
    assert error_of("artifacts", "grant", "-i", "nope", "-e", "a@b.c") == "not_found"
    assert error_of("artifacts", "revoke", "-i", aid, "-a", "nope") == "not_found"
    assert error_of("artifacts", "link", aid) == "config_error"  # a link needs a server
    assert error_of("artifacts", "upload", "-n", "y", "-t", "log", "-f", "missing") == "not_found"
    assert error_of(
        "artifacts", "upload", "-n", "y", "-t", "log", "-f", "x.txt", "--metric", "a=b"
    ) == ("invalid_metadata")
    assert error_of("artifacts", "list", "--server", "http://127.0.0.1:9") == "unauthenticated"
    assert error_of("runs", "show", "no-such-run") == "not_found"
    assert error_of("best", "--kind", "log", "--metric", "none") == "not_found"
    assert error_of("search", "x", "--mode", "fuzzy") == "validation_error"

    made = cli("artifacts", "grant", "-i", aid, "-e", "Ann@Example.com").stdout.strip()
    assert error_of("artifacts", "grant", "-i", aid, "-e", "ann@example.com") == "conflict"
    grants = as_json("artifacts", "grants", "-i", aid)
    assert [(g["grant_id"], g["email"]) for g in grants] == [(made, "ann@example.com")]
    cli("artifacts", "revoke", "-i", aid, "-a", made)
    assert as_json("artifacts", "grants", "-i", aid) == []

    refused = cli("artifacts", "delete", aid, input="n\n", code=1)
    assert "Delete" in refused.stderr and "Traceback" not in refused.stderr
    assert as_json("artifacts", "show", aid)["artifact_id"] == aid
    cli("artifacts", "pin", aid)
    assert as_json("artifacts", "show", aid)["pinned"] is True
    cli("artifacts", "unpin", aid)
    assert as_json("artifacts", "show", aid)["pinned"] is False
    cli("artifacts", "delete", aid, input="y\n")
    assert error_of("artifacts", "show", aid) == "not_found"


def _captured(home: Path) -> None:
    """Run ``train`` with experiments ``train-exp0`` and ``train-exp1``, as ``satchel run``
    records them: one artifact per captured file version, plus one SDK artifact."""
    with satchel.Context(run_id="train") as ctx:
        arts = ctx.sync_artifacts()
        assert ctx.store is not None
        for child in ("train-exp0", "train-exp1"):
            ctx.store.index.ensure_run(
                Run(run_id=child, parent_run_id="train", status="running", started_at=utcnow())
            )
        arts.save_text(
            "v1", name="config.yaml", labels={"capture_path": "config.yaml", "capture_version": 1}
        )
        arts.save_json({"lr": 0.1}, name="params.json")
    for child in ("train-exp0", "train-exp1"):
        with satchel.Context(run_id=child) as ctx:
            arts = ctx.sync_artifacts()
            for version in (1, 2):
                labels = {"capture_path": "ckpt/last.ckpt", "capture_version": version}
                arts.save_text(f"{child} v{version}", name="ckpt/last.ckpt", labels=labels)
            labels = {"capture_path": "logs/train.log", "capture_version": 1}
            arts.save_text(f"log of {child}", name="logs/train.log", labels=labels)


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_get_downloads_runs_and_experiments_in_grids_layout(home: Path) -> None:
    _captured(home)
    cli("artifacts", "get", "train")
    assert _tree(home / "satchel_artifacts") == {
        "train/config.yaml": "v1",
        "train/params.json/params.json": '{"lr": 0.1}',
        "train/train-exp0/ckpt/last.ckpt": "train-exp0 v2",  # the newest version
        "train/train-exp0/logs/train.log": "log of train-exp0",
        "train/train-exp1/ckpt/last.ckpt": "train-exp1 v2",
        "train/train-exp1/logs/train.log": "log of train-exp1",
    }
    cli("artifacts", "get", "train-exp1", "--download-dir", "one", "-m", r"\.ckpt$")
    assert _tree(home / "one") == {"train/train-exp1/ckpt/last.ckpt": "train-exp1 v2"}
    listed = as_json("artifacts", "get", "train", "-d", "logs", "-m", "^logs/")
    assert len(listed) == 2 and all(Path(x["path"]).name == "train.log" for x in listed)
    assert error_of("artifacts", "get", "train", "-m", "(") == "validation_error"
    assert error_of("artifacts", "get", "nope") == "not_found"

    rows = as_json("artifacts", "where", "train")
    assert [r["experiment"] for r in rows] == ["train", "train-exp0", "train-exp1"]
    blobs = (home / "home" / "blobs").as_uri() + "/"
    assert {r["location"] for r in rows} == {blobs}
    assert [r["artifacts"] for r in rows] == [2, 3, 3]
    files = as_json("artifacts", "where", "train-exp0", "--files")
    assert sorted(f["path"] for f in files) == ["last.ckpt", "last.ckpt", "train.log"]
    assert "train-exp1" in cli("artifacts", "where", "train").stdout


def test_get_never_writes_outside_the_download_dir(home: Path) -> None:
    with satchel.Context(run_id="evil") as ctx:
        ctx.sync_artifacts().save_text(
            "owned", name="x.txt", labels={"capture_path": "../../escape.txt"}
        )
    assert error_of("artifacts", "get", "evil", "-d", "out/inner") == "invalid_file_key"
    assert not (home / "escape.txt").exists() and not (home / "out" / "escape.txt").exists()

    with satchel.Context(run_id="fine") as ctx:
        ctx.sync_artifacts().save_text("ok", name="a.txt", labels={"capture_path": "sub/a.txt"})
    (home / "elsewhere").mkdir()
    (home / "out2" / "fine").mkdir(parents=True)
    os.symlink(home / "elsewhere", home / "out2" / "fine" / "sub")
    assert error_of("artifacts", "get", "fine", "-d", "out2") == "unsupported_entry"
    assert list((home / "elsewhere").iterdir()) == []


def test_runs_search_and_best(home: Path) -> None:
    _captured(home)
    with satchel.Context(run_id="evals") as ctx:
        arts = ctx.sync_artifacts()
        for loss in (0.5, 0.2, 0.9):
            arts.save_json(
                {"loss": loss}, name=f"eval-{loss}.json", kind="metric", metrics={"loss": loss}
            )
        ctx.finish_run("done")
    runs = {r["run_id"]: r for r in as_json("runs", "list")}
    assert runs["train-exp0"]["parent_run_id"] == "train"
    assert {r["run_id"] for r in as_json("runs", "list", "--status", "running")} >= {"train-exp0"}
    shown = as_json("runs", "show", "train")
    assert [e["run_id"] for e in shown["experiments"]] == ["train-exp0", "train-exp1"]
    assert shown["artifacts"] == {"train": 2, "train-exp0": 3, "train-exp1": 3}
    assert "train-exp1" in cli("runs", "show", "train").stdout

    assert (
        as_json("best", "--kind", "metric", "--metric", "loss", "--min")["name"] == "eval-0.2.json"
    )
    assert as_json("best", "--kind", "metric", "--metric", "loss")["name"] == "eval-0.9.json"
    assert "eval-0.9.json" in cli("best", "--kind", "metric", "--metric", "loss").stdout
    found = as_json("search", "eval", "--type", "metric", "--limit", "5")
    assert {a["name"] for a in found} == {"eval-0.5.json", "eval-0.2.json", "eval-0.9.json"}
    assert as_json("search", "eval", "--run", "train") == []

    # A running experiment keeps its artifacts: delete is refused until it ends.
    assert error_of("runs", "delete", "train-exp0", "--force") == "conflict"
    cli("runs", "delete", "evals", input="n\n", code=1)
    cli("runs", "delete", "evals", "--force")
    assert error_of("runs", "show", "evals") == "not_found"
    assert as_json("search", "eval") == []


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [
        (*prefix, c.name or c.callback.__name__) for c in group.registered_commands if c.callback
    ]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        name = sub.name if isinstance(sub.name, str) else sub.typer_instance.info.name
        assert isinstance(name, str)
        found.extend(_commands(sub.typer_instance, (*prefix, name)))
    return found


def test_every_command_has_help_with_an_example(home: Path) -> None:
    mine = {"artifacts", "runs", "search", "best", "login", "logout"}
    commands = [c for c in _commands(app) if c[0] in mine]
    assert len(commands) >= 20
    for command in commands:
        result = cli(*command, "--help")
        assert "Example:" in result.stdout, command


def test_where_names_the_bucket_prefix_of_an_s3_store(
    home: Path, seaweed: Seaweed, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_prefix()
    monkeypatch.setenv("SATCHEL_STORE", seaweed.url(prefix))
    monkeypatch.setenv("SATCHEL_INDEX", f"sqlite:///{home / 's3-index.db'}")
    with satchel.Context(run_id="s3run") as ctx:
        big = ctx.sync_artifacts().save_text("x" * 100_000, name="big.txt")
        ctx.finish_run("done")
    rows = as_json("artifacts", "where", "s3run")
    assert [r["location"] for r in rows] == [f"s3://{seaweed.bucket}/{prefix}/blobs/"]
    files = as_json("artifacts", "where", "s3run", "--files")
    assert files == [
        {
            "experiment": "s3run",
            "artifact_id": big.artifact_id,
            "path": "big.txt",
            "location": f"s3://{seaweed.bucket}/{prefix}/blobs/sha256/{big.sha256[:2]}/{big.sha256[2:]}",
        }
    ]
    cli("artifacts", "get", "s3run", "-d", "from-s3")
    assert (home / "from-s3" / "s3run" / "big.txt" / "big.txt").read_text() == "x" * 100_000


def test_an_embedded_command_never_loads_the_client(home: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from typer.testing import CliRunner
        from satchel.cli.app import app
        for args in (["artifacts", "list"], ["runs", "list"], ["search", "x"]):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
        loaded = sorted(m for m in sys.modules if m.startswith(("satchel.client", "httpx")))
        assert loaded == [], loaded
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_piped_table_keeps_each_row_on_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS")  # a pipe: no terminal width to go by
    (home / "f.txt").write_text("x")
    name = "a-rather-long-artifact-name-that-would-not-fit-in-eighty-columns"
    aid = cli("artifacts", "upload", "-n", name, "-t", "checkpoint", "-f", "f.txt").stdout.strip()
    rows = [line for line in cli("artifacts", "list").stdout.splitlines() if aid in line]
    assert len(rows) == 1
    assert name in rows[0] and "checkpoint" in rows[0] and "completed" in rows[0]
