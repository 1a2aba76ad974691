"""Experiments as child runs, ignore rules, names, kinds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from capturekit import Where

from satchel.capture import kind_of, run_ids
from satchel.errors import ValidationError

WRITE = (
    "import os\n"
    "for p in ['keep/model.pt', 'skip/x.bin', 'notes.tmp', 'keep/important.tmp',\n"
    "          'env/lib/site.py', '__pycache__/m.pyc', 'data/.venv/y.txt']:\n"
    "    os.makedirs(os.path.dirname(p) or '.', exist_ok=True)\n"
    "    open(p, 'w').write(p)\n"
)


def test_experiments_are_child_runs(where: Where, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for n in (0, 1):
        code = f"open('out{n}.txt', 'w').write('{n}')"
        done = where.run(
            "--name", "sweep", "--experiment", str(n), "--", sys.executable, "-c", code, cwd=work
        )
        assert done.returncode == 0, done.stderr
    for n in (0, 1):
        run = where.store.get_run(f"sweep-exp{n}")
        assert run is not None
        assert run.parent_run_id == "sweep"
        assert run.status == "done"
        assert set(where.captured(f"sweep-exp{n}")) == {(f"out{n}.txt", 1)}
    assert where.status("sweep") == "done"
    assert where.captured("sweep") == {}
    again = where.run("--name", "sweep", "--experiment", "1", "--", "true", cwd=work)
    assert again.returncode == 1
    assert "error[conflict]" in again.stderr


def test_ignore_rules_and_watched_dirs(where: Where, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / ".satchelignore").write_text("skip/\n*.tmp\n!keep/important.tmp\n")
    (work / "env").mkdir()
    (work / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    done = where.run("--name", "ign", "--", sys.executable, "-c", WRITE, cwd=work)
    assert done.returncode == 0, done.stderr
    assert set(where.captured("ign")) == {("keep/model.pt", 1), ("keep/important.tmp", 1)}

    (work / "elsewhere").mkdir()
    code = "open('elsewhere/a.txt', 'w').write('a'); open('top.txt', 'w').write('t')"
    done = where.run(
        "--name", "w", "--watch", "elsewhere", "--", sys.executable, "-c", code, cwd=work
    )
    assert done.returncode == 0, done.stderr
    assert set(where.captured("w")) == {("a.txt", 1)}  # relative to its watched directory


@pytest.mark.parametrize(
    ("rel", "kind"),
    [
        ("ckpt/epoch1.pt", "checkpoint"),
        ("model.safetensors", "checkpoint"),
        ("w.H5", "checkpoint"),
        ("logs/train.log", "log"),
        ("stdout.out", "log"),
        ("metrics.json", "metric"),
        ("metrics_val.csv", "metric"),
        ("config.json", "file"),
        ("results.csv", "file"),
        ("image.png", "file"),
    ],
)
def test_kind_of(rel: str, kind: str) -> None:
    assert kind_of(rel) == kind


def test_run_names() -> None:
    assert run_ids("r1", None) == ("r1", None)
    assert run_ids("r1", 3) == ("r1-exp3", "r1")
    with pytest.raises(ValidationError):
        run_ids(None, 0)
    for bad in ("../x", "a/b", "-x", "", "a b"):
        with pytest.raises(ValidationError):
            run_ids(bad, None)
