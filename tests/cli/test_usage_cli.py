"""``satchel usage``: embedded (every org and user of the store, and its total) and against
a live server (the caller's org: every user for an admin, their own row for a member)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner, Result

import satchel
from satchel.cli.app import app as cli_app
from satchel.tenancy import tenancy_of
from serverkit import World, file_entry, serving

BIG = os.urandom(40_000)  # over inline_max (16 KiB): a blob
SMALL = b"s" * 1000  # kept inline in the index


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_TOKEN", "SATCHEL_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SATCHEL_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str) -> Result:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def as_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("\u2502")]


def _figures(**given: int) -> dict[str, int]:
    names = ("artifacts", "pending", "files", "bytes", "dedup_bytes", "pinned", "pinned_bytes")
    return {name: given.get(name, 0) for name in names}


def test_embedded_usage_counts_every_org_and_user_of_the_store(home: Path) -> None:
    (home / "big.bin").write_bytes(BIG)
    (home / "tree").mkdir()
    (home / "tree" / "big.bin").write_bytes(BIG)
    (home / "tree" / "small.txt").write_bytes(SMALL)
    with satchel.Context() as ctx:  # the embedded SDK: no org, no user
        ctx.sync_artifacts().save_file(home / "big.bin", kind="checkpoint")
        assert ctx.store is not None
        tenancy = tenancy_of(ctx.store.index)
        org = tenancy.create_org("research")
        ada = tenancy.create_user(email="ada@example.com", org_id=org.org_id)
        idle = tenancy.create_user(email="idle@example.com", org_id=org.org_id)
        empty = tenancy.create_org("empty")
    with satchel.Context(org_id=org.org_id, user_id=ada.user_id) as ctx:
        arts = ctx.sync_artifacts()
        arts.ingest_dir(home / "tree", kind="dataset", pin=True)  # BIG again, and SMALL
        arts.save_text(SMALL.decode())
    report = as_json("usage")

    no_org = _figures(artifacts=1, files=1, bytes=len(BIG), dedup_bytes=len(BIG))
    ada_row = _figures(
        artifacts=2,
        files=3,
        bytes=len(BIG) + 2 * len(SMALL),
        dedup_bytes=len(BIG) + len(SMALL),
        pinned=1,
        pinned_bytes=len(BIG) + len(SMALL),
    )
    by_id = sorted(
        [
            {"user_id": ada.user_id, "email": "ada@example.com", **ada_row},
            {"user_id": idle.user_id, "email": "idle@example.com", **_figures()},
        ],
        key=lambda row: row["user_id"],
    )
    orgs = [
        {
            "org_id": None,
            "name": None,
            **no_org,
            "users": [{"user_id": None, "email": None, **no_org}],
        },
        {"org_id": org.org_id, "name": "research", **ada_row, "users": by_id},
        {"org_id": empty.org_id, "name": "empty", **_figures(), "users": []},
    ]
    orgs[1:] = sorted(orgs[1:], key=lambda o: str(o["org_id"]))
    total = _figures(
        artifacts=3,
        files=4,
        bytes=2 * len(BIG) + 2 * len(SMALL),
        dedup_bytes=len(BIG) + len(SMALL),  # the same bytes across orgs: stored once
        pinned=1,
        pinned_bytes=len(BIG) + len(SMALL),
    )
    assert report == {"total": total, "orgs": orgs}

    lines = cli("usage", "--by-user").stdout.splitlines()
    ada_cells = _cells(next(line for line in lines if "ada@example.com" in line))
    # 42,000 bytes stored, 41,000 after dedup; the directory (41,000 bytes) pinned
    sizes = ["41.0 KiB", "40.0 KiB", "1", "40.0 KiB"]
    assert ada_cells == ["research", "ada@example.com", "2", "0", "3", *sizes]
    total = _cells(next(line for line in lines if line.startswith("TOTAL")))
    assert total[4:7] == ["4", "80.1 KiB", "40.0 KiB"]  # files, stored, after dedup
    summary = cli("usage").stdout
    assert "ada@example.com" not in summary and "research" in summary and "TOTAL" in summary


def test_usage_against_a_server_shows_the_callers_org(app: FastAPI, home: Path) -> None:
    world = World(app)
    boss = world.member("boss", "a", role="admin")
    member = world.member("member", "a")
    other = world.member("other", "b")
    with serving(app) as url:
        for who, path, data in ((member, "m.bin", BIG), (other, "o.bin", BIG * 2)):
            made = httpx.post(
                f"{url}/api/v1/artifacts",
                json={"files": [file_entry(path, data, inline=True)]},
                headers={"Authorization": f"Bearer {who.token}"},
            )
            assert made.status_code == 201, made.text
        srv = ("--server", url)
        member_row = {
            "user_id": member.user_id,
            "email": member.email,
            **_figures(artifacts=1, files=1, bytes=len(BIG), dedup_bytes=len(BIG)),
        }
        mine = as_json("usage", *srv, "--token", member.token)
        assert mine["total"] is None
        assert [(o["org_id"], o["name"], o["users"]) for o in mine["orgs"]] == [
            (member.org_id, "org-a", [member_row])
        ]
        everyone = as_json("usage", *srv, "--token", boss.token, "--by-user")
        users = {u["email"]: u["bytes"] for u in everyone["orgs"][0]["users"]}
        assert users == {boss.email: 0, member.email: len(BIG)}
        theirs = as_json("usage", *srv, "--token", other.token)
        assert theirs["orgs"][0]["bytes"] == 2 * len(BIG)
        assert [u["email"] for u in theirs["orgs"][0]["users"]] == [other.email]

        table = cli("usage", *srv, "--token", boss.token, "--by-user").stdout
        assert member.email in table and boss.email in table and other.email not in table
        assert "TOTAL" not in table  # a server never tells a caller the store's total
