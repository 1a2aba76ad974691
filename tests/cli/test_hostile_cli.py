"""The hostile input corpus against the ``satchel`` CLI on the embedded store (issue 8).

Every hostile name, label, metric, tag, ``-m`` document, file, id and search text ends in
exit status 1 and one ``error[<code>]`` line, never a traceback; nothing is saved by a
refused upload, and no download writes outside its target directory. Most commands run
in-process (Typer's ``CliRunner``); arguments that are not UTF-8 reach the real program
(a subprocess), since only an operating system's argv can carry them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import hostile as H
import satchel
from satchel.cli.app import app

CANARY = b"CANARY-cli-91ab-outside"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_TOKEN", "SATCHEL_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SATCHEL_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("COLUMNS", "250")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(CANARY)
    (work / "f.txt").write_bytes(b"hello")
    return tmp_path


def _outside_untouched(home: Path) -> None:
    assert os.listdir(home / "outside") == ["secret.txt"]
    assert (home / "outside" / "secret.txt").read_bytes() == CANARY
    for path, _, files in os.walk(home / "home"):
        for name in files:
            assert CANARY not in Path(path, name).read_bytes(), f"canary read into {name}"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def refused(*args: str) -> str:
    """The code of a refused command: exit 1, one ``error[code]`` line, no traceback."""
    result = run(*args)
    assert result.exit_code == 1, (args, result.exit_code, result.stdout, result.exception)
    assert isinstance(result.exception, SystemExit), (args, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error["), (args, result.stderr)
    return lines[0].split("]")[0].removeprefix("error[")


def listed() -> list[Any]:
    result = run("artifacts", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return list(json.loads(result.stdout))


UPLOAD = ("artifacts", "upload", "-t", "result", "-f", "f.txt")
#: Samples of the corpus (each CLI call opens the store: ~0.1 s).
NAMES = ["", "bell\x07", "lone\ud800", H.LONG_NAME]
IDS = ["..", "/etc/passwd", "i" * 5000, "\udcff"]


def test_hostile_upload_options_are_refused_and_nothing_saved(home: Path) -> None:
    os.mkfifo(home / "work" / "pipe")
    (home / "work" / "dir").mkdir()
    cases: list[tuple[tuple[str, ...], set[str]]] = [
        *(((*UPLOAD, "-n", name), {"invalid_name"}) for name in NAMES),
        *(
            (("artifacts", "upload", "-n", "a", "-t", kind, "-f", "f.txt"), {"invalid_metadata"})
            for kind in ("k\n", H.LONG_KIND)
        ),
        *(((*UPLOAD, "-n", "a", "--label", f"k={v}"), {"invalid_metadata"}) for v in ("\ud800",)),
        *(
            ((*UPLOAD, "-n", "a", "--label", item), {"invalid_metadata"})
            for item in ("=v", f"k={H.LONG_LABEL_VALUE}", "k\x1b=1")
        ),
        *(
            ((*UPLOAD, "-n", "a", "--metric", f"m={v}"), {"invalid_metadata"})
            for v in ("nan", "-inf", "1e309", "x")
        ),
        *(((*UPLOAD, "-n", "a", "--tag", t), {"invalid_metadata"}) for t in ("t\n", H.LONG_TAG)),
        *(
            ((*UPLOAD, "-n", "a", "-m", doc), {"invalid_metadata"})
            for doc in (
                H.deep_json().decode(),
                '{"a": NaN}',
                '{"a": 1e309}',
                '{"a": ' + "9" * 5000 + "}",
                '{"a": {"b": 1}}',
                '{"a": "\\ud800"}',
            )
        ),
        *(
            (("artifacts", "upload", "-n", "a", "-t", "r", "-f", f), {"not_found", "storage_error"})
            for f in ("pipe", "dir", "/dev/zero", "/proc/self/mem")
        ),
        (("artifacts", "upload", "-n", "a", "-t", "r", "-f", "f.txt", "-f", "pipe"), {"not_found"}),
    ]
    for args, codes in cases:
        assert refused(*args) in codes, args
    assert listed() == []
    _outside_untouched(home)


def test_hostile_ids_and_runs_are_not_found(home: Path) -> None:
    made = run(*UPLOAD, "-n", "real").stdout.strip()
    assert len(made) == 26
    for bad in IDS:
        for args in (
            ("artifacts", "show", bad),
            ("artifacts", "download", bad, "-p", "dl"),
            ("artifacts", "pin", bad),
            ("artifacts", "unpin", bad),
            ("artifacts", "delete", bad, "--force"),
            ("artifacts", "grants", "-i", bad),
            ("artifacts", "revoke", "-i", made, "-a", bad),
            ("artifacts", "get", bad, "-d", "dl"),
            ("artifacts", "where", bad),
            ("runs", "show", bad),
            ("runs", "delete", bad, "--force"),
        ):
            assert refused(*args) in ("not_found", "invalid_file_key"), args
    assert not (home / "work" / "dl").exists()
    assert [a["artifact_id"] for a in listed()] == [made]


def test_hostile_search_text(home: Path) -> None:
    run(*UPLOAD, "-n", "alpha")
    for text in ("\ud800", "x\x00y", H.LONG_SEARCH):
        assert refused("search", text) == "validation_error"
        assert refused("artifacts", "list", "--search", text) == "validation_error"
    for text in ('"', "NEAR(", "a OR", "%", "x:y"):
        assert run("search", text).exit_code == 0, text
    assert refused("best", "--kind", "result", "--metric", "\ud800") == "invalid_metadata"
    assert refused("artifacts", "get", "r", "-m", "(") in ("validation_error", "not_found")
    for limit in ("99999999999999999999999", "-1", "NaN"):
        result = run("artifacts", "list", "--limit", limit)
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), limit


def test_downloads_never_leave_their_directory(home: Path) -> None:
    """Path-like names are folder names only when they are plain; a link at DIR/<id> (or
    anywhere on the way) is refused, never followed."""
    with satchel.Context(run_id="names") as ctx:
        arts = ctx.sync_artifacts()
        for name in H.INERT_NAMES:
            arts.save_text("data", name=name)
    result = run("artifacts", "get", "names", "-d", "out", "--json")
    assert result.exit_code == 0, result.stderr
    written = [Path(item["path"]) for item in json.loads(result.stdout)]
    assert len(written) == len(H.INERT_NAMES)
    root = (home / "work" / "out").resolve()
    assert all(p.resolve().is_relative_to(root) for p in written)

    made = run(*UPLOAD, "-n", "linked").stdout.strip()
    (home / "work" / "dl").mkdir()
    os.symlink(home / "outside", home / "work" / "dl" / made)
    assert refused("artifacts", "download", made, "-p", "dl") == "unsupported_entry"
    _outside_untouched(home)


def test_arguments_that_are_not_utf8_are_errors_not_tracebacks(home: Path) -> None:
    """Bytes that are not UTF-8 arrive in ``sys.argv`` as lone surrogates: an id, a search
    or a name made of them is refused with a code."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    for args, code in (
        ([b"artifacts", b"show", b"\xff\xfe"], b"not_found"),
        ([b"search", b"caf\xe9"], b"validation_error"),
    ):
        done = subprocess.run(
            [os.fsencode(sys.executable), b"-m", b"satchel.cli", *args],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith(b"error[" + code + b"]"), done.stderr
        assert b"Traceback" not in done.stderr
