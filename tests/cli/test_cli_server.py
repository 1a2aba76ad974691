"""The CLI end to end against a live server the test starts, on both backend pairs (local
directory + SQLite, SeaweedFS S3 + PostgreSQL): login, upload, list, grant, revoke, link,
get with a regex, where, runs, delete, logout.

The server is the real app on uvicorn in a thread (``serverkit.serving``); the CLI runs
in-process (``CliRunner``) and, for ``login``, as the ``satchel`` program in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner, Result

import satchel
from satchel.cli.app import app as cli_app
from serverkit import World, serving, state_of

PASSWORD = "correct horse battery"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_TOKEN", "SATCHEL_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SATCHEL_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    return dict(os.environ)


def cli(*args: str, input: str | None = None, code: int = 0) -> Result:
    result = CliRunner().invoke(cli_app, list(args), input=input)
    assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
    if code:
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result


def error_of(*args: str) -> str:
    result = cli(*args, code=1)
    assert result.stderr.startswith("error[") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.split("]")[0].removeprefix("error[")


def fetch(link: str) -> httpx.Response:
    """Follow a signed link as a browser would (on S3 stores it redirects to the bucket)."""
    return httpx.get(link, follow_redirects=True)


def as_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


def _runs(url: str, token: str) -> None:
    """Run ``train`` with experiments ``train-exp0``/``-exp1`` as ``satchel run`` leaves
    them: each captured file version its own artifact (labels capture_path/_version)."""
    headers = {"Authorization": f"Bearer {token}"}
    for child in ("train", "train-exp0", "train-exp1"):
        body = (
            {"run_id": child} if child == "train" else {"run_id": child, "parent_run_id": "train"}
        )
        answer = httpx.post(f"{url}/api/v1/runs", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
    with satchel.Context(store=url, token=token, run_id="train") as ctx:
        ctx.sync_artifacts().save_text(
            "seed: 1",
            name="config.yaml",
            labels={"capture_path": "config.yaml", "capture_version": 1},
        )
    for child in ("train-exp0", "train-exp1"):
        with satchel.Context(store=url, token=token, run_id=child) as ctx:
            arts = ctx.sync_artifacts()
            for version in (1, 2):
                labels = {"capture_path": "ckpt/last.ckpt", "capture_version": version}
                arts.save_text(f"{child} v{version}", name="ckpt/last.ckpt", labels=labels)
            labels = {"capture_path": "train.log", "capture_version": 1}
            arts.save_text(f"log of {child}", name="train.log", labels=labels)
            ctx.finish_run("done")
    for run in ("train",):
        answer = httpx.patch(f"{url}/api/v1/runs/{run}", json={"status": "done"}, headers=headers)
        assert answer.status_code == 200, answer.text


def test_cli_end_to_end_against_a_live_server(
    app: FastAPI, env: dict[str, str], tmp_path: Path
) -> None:
    world = World(app)
    owner = world.member("owner", "a")
    partner = world.member("partner", "b")
    state_of(app).tenancy.set_password(owner.user_id, PASSWORD)
    (tmp_path / "model.ckpt").write_bytes(os.urandom(300_000))
    with serving(app) as url:
        as_partner = ("--server", url, "--token", partner.token)
        srv = ("--server", url)
        assert error_of("artifacts", "list", *srv) == "unauthenticated"  # no login yet

        # login as the `satchel` program: the password from stdin, the token kept
        login = subprocess.run(
            [sys.executable, "-m", "satchel.cli", "login", *srv, "-e", owner.email],
            input="",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert login.returncode == 1 and "Traceback" not in login.stderr  # no TTY, no password
        login = subprocess.run(
            [
                sys.executable,
                "-m",
                "satchel.cli",
                "login",
                *srv,
                "-e",
                owner.email,
                "--password-stdin",
            ],
            input=f"{PASSWORD}\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert login.returncode == 0, login.stderr
        assert f"logged in to {url} as {owner.email}" in login.stdout

        # upload (re-running reuses), list
        upload = (
            "artifacts",
            "upload",
            *srv,
            "-n",
            "resnet",
            "-t",
            "checkpoint",
            "-f",
            "model.ckpt",
        )
        aid = cli(*upload, "--metric", "acc=0.9").stdout.strip()
        assert cli(*upload, "--metric", "acc=0.9").stdout.strip() == aid
        mine = as_json("artifacts", "list", *srv, "--mine", "--type", "checkpoint")
        assert [a["artifact_id"] for a in mine] == [aid]
        assert as_json("artifacts", "show", *srv, aid)["grants"] == []

        # grant: the partner (another organisation) sees it as shared, and downloads it
        assert as_json("artifacts", "list", *as_partner, "--shared") == []
        assert error_of("artifacts", "show", *as_partner, aid) == "not_found"
        assert error_of("artifacts", "grant", *srv, "-i", aid, "-e", "x@y.z", "-o", "o") == (
            "validation_error"
        )
        grant_id = cli("artifacts", "grant", *srv, "-i", aid, "-e", partner.email).stdout.strip()
        assert error_of("artifacts", "grant", *srv, "-i", aid, "-e", partner.email) == "conflict"
        assert [g["grant_id"] for g in as_json("artifacts", "grants", *srv, "-i", aid)] == [
            grant_id
        ]
        shared = as_json("artifacts", "list", *as_partner, "--shared")
        assert [a["artifact_id"] for a in shared] == [aid]
        assert as_json("artifacts", "show", *as_partner, aid)["grants"] is None  # not theirs
        assert error_of("artifacts", "grants", *as_partner, "-i", aid) == "forbidden"
        cli("artifacts", "download", *as_partner, aid, "-p", "partner")
        got = (tmp_path / "partner" / aid / "resnet").read_bytes()
        assert got == (tmp_path / "model.ckpt").read_bytes()

        (tmp_path / "a.txt").write_text("alpha")
        (tmp_path / "b.txt").write_text("beta")
        pair = cli(
            "artifacts", "upload", *srv, "-n", "pair", "-t", "result", "-f", "a.txt", "-f", "b.txt"
        )
        cli("artifacts", "download", *srv, pair.stdout.strip(), "-p", "own")
        assert (tmp_path / "own" / pair.stdout.strip() / "b.txt").read_text() == "beta"

        # links: anyone with the link downloads until revoke or delete
        owner_link = as_json("artifacts", "link", *srv, aid, "--expires", "1h")
        partner_link = cli("artifacts", "link", *as_partner, aid).stdout.strip()
        assert owner_link["expires_at"].endswith("Z")
        assert fetch(owner_link["url"]).content == got
        assert fetch(partner_link).content == got
        cli("artifacts", "revoke", *srv, "-i", aid, "-a", grant_id)
        assert fetch(partner_link).status_code == 404  # revoke reaches issued links
        assert error_of("artifacts", "show", *as_partner, aid) == "not_found"
        assert fetch(owner_link["url"]).status_code == 200

        # get with a regex, where, runs
        _runs(url, owner.token)
        cli("artifacts", "get", *srv, "train", "-d", "out", "-m", r"ckpt$")
        out = tmp_path / "out" / "train"
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
            "train-exp0/ckpt/last.ckpt",
            "train-exp1/ckpt/last.ckpt",
        ]
        assert (out / "train-exp1" / "ckpt" / "last.ckpt").read_text() == "train-exp1 v2"
        cli("artifacts", "get", *srv, "train-exp0", "-d", "exp0")
        assert (tmp_path / "exp0" / "train" / "train-exp0" / "train.log").exists()
        where = as_json("artifacts", "where", *srv, "train")
        assert [w["experiment"] for w in where] == ["train", "train-exp0", "train-exp1"]
        assert [w["artifacts"] for w in where] == [1, 3, 3]
        assert all(w["location"].startswith(url) for w in where)
        assert error_of("artifacts", "where", *as_partner, "train") == "not_found"
        shown = as_json("runs", "show", *srv, "train")
        assert [e["run_id"] for e in shown["experiments"]] == ["train-exp0", "train-exp1"]
        assert "train-exp1" in {r["run_id"] for r in as_json("runs", "list", *srv)}

        # delete: the artifact, its links, then the run with its experiments
        cli("artifacts", "delete", *srv, aid, "--force")
        assert fetch(owner_link["url"]).status_code == 404
        assert error_of("artifacts", "show", *srv, aid) == "not_found"
        assert error_of("runs", "delete", *as_partner, "train", "--force") == "not_found"
        cli("runs", "delete", *srv, "train", "--force")
        assert error_of("runs", "show", *srv, "train-exp1") == "not_found"

        # logout forgets the token and revokes it on the server
        saved = json.loads((tmp_path / "credentials.json").read_text())[url]
        assert cli("logout", *srv).stdout.startswith(f"logged out of {url}")
        assert (
            httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {saved}"}).status_code
            == 401
        )
        assert error_of("artifacts", "list", *srv) == "unauthenticated"
