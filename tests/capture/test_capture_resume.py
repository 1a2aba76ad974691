"""SIGKILL of ``satchel run`` in the middle of a 1 GiB upload, then ``--resume``.

Every file closed before the kill is stored exactly once and verifies; the file the
command still held open is not recorded; memory stays bounded (seeds/001: 200 MiB extra).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from capturekit import Where, sha256_of, wait_for

GIB = 1 << 30

JOB = r"""
import os, time
open("pid", "w").write(str(os.getpid()))
os.makedirs("sub", exist_ok=True)
with open("a.txt", "w") as f:
    f.write("alpha\n")
with open("sub/b.log", "w") as f:
    f.write("beta\n" * 1000)
os.makedirs("big", exist_ok=True)
with open("big/model.ckpt", "wb") as f:   # 1 GiB, quickly: sparse past a random head
    f.write(os.urandom(1 << 20))
    f.truncate(1 << 30)
with open("after.txt", "w") as f:
    f.write("written after the checkpoint\n")
half = open("half.bin", "wb")              # never closed
half.write(os.urandom(1000))
half.flush()
time.sleep(600)
"""


def _hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_sigkill_mid_upload_then_resume(where: Where, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text(JOB)
    proc = where.start("--name", "big", "--", sys.executable, "job.py", cwd=work)

    def uploading() -> bool:
        rows = {(rel, state) for rel, _v, state in where.journal_rows("big")}
        return ("big/model.ckpt", "uploading") in rows and any(
            rel == "after.txt" for rel, _ in rows
        )

    wait_for(uploading, timeout=60, what="the checkpoint's upload to start")
    time.sleep(0.3)
    hwm = _hwm_mib(proc.pid)
    proc.send_signal(signal.SIGKILL)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert ("big/model.ckpt", 1, "uploading") in where.journal_rows("big"), err
    assert hwm < 200, f"satchel run peaked at {hwm:.0f} MiB uploading 1 GiB"
    command = int((work / "pid").read_text())
    wait_for(lambda: not _alive(command), timeout=10, what="the command to stop with it")
    assert where.status("big") == "running"

    resumed = subprocess.Popen(
        where.command("--resume", "big"),
        cwd=work,
        env=where.env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    peak = 0.0
    while resumed.poll() is None:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, AssertionError):
            peak = max(peak, _hwm_mib(resumed.pid))
        time.sleep(0.05)
    _out, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert peak < 200, f"satchel run --resume peaked at {peak:.0f} MiB"

    captured = where.captured("big")  # fails on any path stored twice
    assert set(captured) == {
        ("pid", 1),
        ("a.txt", 1),
        ("sub/b.log", 1),
        ("big/model.ckpt", 1),
        ("after.txt", 1),
    }, err
    for (rel, _), art in captured.items():
        assert art.status == "completed"
        assert art.bytes == (work / rel).stat().st_size, rel
        assert art.sha256 == sha256_of(work / rel), rel
    ckpt = captured[("big/model.ckpt", 1)]
    assert ckpt.bytes == GIB
    where.store.materialise(ckpt.files[0], tmp_path / "check.ckpt", what="checkpoint")
    os.unlink(tmp_path / "check.ckpt")  # the verified read passed (sha256 checked)
    assert "not captured: half.bin" in err
    assert where.status("big") == "crashed"
    assert not (where.home / "capture" / "big.journal").exists()

    again = where.run("--resume", "big", cwd=work)
    assert again.returncode == 1
    assert "error[not_found]" in again.stderr


def test_the_next_start_finishes_an_interrupted_capture(where: Where, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text("import time\nopen('one.txt', 'w').write('1')\ntime.sleep(600)\n")
    proc = where.start("--name", "first", "--", sys.executable, "job.py", cwd=work)
    wait_for(
        lambda: (
            ("one.txt", 1, "uploaded") in where.journal_rows("first")
            or ("one.txt", 1, "closed") in where.journal_rows("first")
        ),
        timeout=60,
        what="one.txt to be journalled",
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    done = where.run("--name", "second", "--", sys.executable, "-c", "pass", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "finishing the interrupted capture of run first" in done.stderr
    assert set(where.captured("first")) == {("one.txt", 1)}
    assert where.status("first") == "crashed"
    assert where.status("second") == "done"
