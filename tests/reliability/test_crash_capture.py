"""Crash matrix of ``satchel run`` (P1, P2, P3): SIGKILL at every named step of the capture
upload, then ``satchel run --resume``.

A command writes three files and exits; ``satchel run`` (started through ``_launch.py``,
which installs the crash hook) dies at the third version's step, or after writing the run's
status. Every file closed before the kill is journalled; after the resume each is stored
exactly once and verifies, the journal is gone, and ``fsck`` finds no damage, before and
after the resume. (A kill in the middle of one big upload is ``tests/capture``'s
``test_sigkill_mid_upload_then_resume``.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from _harness import check_after_crash, collect_after_crash

from capture.capturekit import Where, sha256_of, where
from satchel import _faults

__all__ = ["where"]  # the fixture, from tests/capture

LAUNCH = Path(__file__).with_name("_launch.py")
JOB = r"""
import os
with open("a.txt", "w") as f:
    f.write("alpha\n")
with open("b.bin", "wb") as f:
    f.write(os.urandom(200 * 1024))
os.makedirs("sub", exist_ok=True)
with open("sub/c.txt", "w") as f:
    f.write("gamma\n" * 100)
"""
FILES = {"a.txt", "b.bin", "sub/c.txt"}
#: Each named point of the capture, and the time it is reached at which ``satchel run``
#: dies: the third version's step (the first two are stored by then), or the run's status.
CAPTURE_POINTS = {
    "capture.journaled": 3,
    "capture.stored": 3,
    "capture.uploaded": 3,
    "capture.status": 1,
}


def _killed_at(where: Where, work: Path, point: str) -> None:
    env = {**where.env, "CRASH_POINT": point, "CRASH_HIT": str(CAPTURE_POINTS[point])}
    command = [sys.executable, str(LAUNCH), "run", *where.args, "--name", "cap", "--"]
    proc = subprocess.run(
        [*command, sys.executable, "job.py"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, f"not killed at {point}: {proc.stderr}"


def _journalled_returncode(where: Where) -> int | None:
    path = where.home / "capture" / "cap.journal"
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'returncode'").fetchone()
    return None if row is None else int(json.loads(row[0]))


def _crash_and_resume(where: Where, tmp_path: Path, point: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text(JOB)
    _killed_at(where, work, point)
    # Every version closed before the kill was journalled (the kill is at the third one).
    assert {rel for rel, _v, _state in where.journal_rows("cap")} == FILES
    returncode = _journalled_returncode(where)
    check_after_crash(where.store)

    resumed = where.run("--resume", "cap", cwd=work)
    assert resumed.returncode == 0, resumed.stderr
    captured = where.captured("cap")  # fails on any path stored twice
    assert set(captured) == {(rel, 1) for rel in FILES}
    for (rel, _), art in captured.items():
        assert art.status == "completed"
        assert (art.bytes, art.sha256) == ((work / rel).stat().st_size, sha256_of(work / rel))
        where.store.materialise(art.files[0], tmp_path / "check", what=rel)  # verified read
        os.unlink(tmp_path / "check")
    # The command's exit code is journalled once it ended; a kill before that leaves the
    # run "crashed" (nothing says the command succeeded).
    if point == "capture.status":
        assert returncode == 0
    assert where.status("cap") == ("done" if returncode == 0 else "crashed")
    assert not (where.home / "capture" / "cap.journal").exists()
    report = check_after_crash(where.store)
    assert not report.warnings
    collect_after_crash(where.store)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["embedded"], indirect=True)
@pytest.mark.parametrize("point", list(CAPTURE_POINTS))
def test_sigkill_at_each_capture_step_then_resume(where: Where, tmp_path: Path, point: str) -> None:
    _crash_and_resume(where, tmp_path, point)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["server"], indirect=True)
def test_sigkill_after_a_remote_save_before_its_journal_entry(where: Where, tmp_path: Path) -> None:
    _crash_and_resume(where, tmp_path, "capture.stored")


def test_every_capture_point_is_in_the_matrix() -> None:
    assert {p for p in _faults.POINTS if p.startswith("capture.")} == set(CAPTURE_POINTS)
