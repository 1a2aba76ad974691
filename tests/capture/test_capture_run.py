"""``satchel run`` under a real training script, on the embedded store and on a server.

The script writes checkpoints and logs into nested folders, rewrites a file every epoch,
modifies a file that existed before the run, talks to the store itself through the SDK
(``SATCHEL_RUN_ID`` and the run-scoped token), and crashes after epoch 1.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from pathlib import Path

from capturekit import Where, sha256_of, wait_for

TRAIN = r"""
import json, os, sys, time
import satchel

os.makedirs("outputs/checkpoints", exist_ok=True)
os.makedirs("logs/run1", exist_ok=True)
with open("config.yaml", "a") as f:          # existed before the run: never captured
    f.write("lr: 0.1\n")
log = open("logs/run1/train.log", "w")        # open for the whole run
ctx = satchel.Context()                       # joins the run: SATCHEL_RUN_ID
arts = ctx.sync_artifacts()

def stored(path, version):
    return any(
        a.labels.get("capture_path") == path and a.labels.get("capture_version") == version
        for a in arts.list(limit=200)
    )

for epoch in range(3):
    data = os.urandom(200_000 + epoch)
    with open(f"outputs/checkpoints/epoch{epoch}.ckpt", "wb") as f:
        f.write(data)
    with open("outputs/last.pt", "wb") as f:
        f.write(data)
    with open("metrics.json", "w") as f:
        json.dump({"epoch": epoch, "loss": 1 / (epoch + 1)}, f)
    log.write(f"epoch {epoch} done\n")
    log.flush()
    deadline = time.monotonic() + 30
    # Synced during the run: wait until this epoch's files are stored.
    while not (stored(f"outputs/checkpoints/epoch{epoch}.ckpt", 1)
               and stored("outputs/last.pt", epoch + 1)
               and stored("metrics.json", epoch + 1)):
        if time.monotonic() > deadline:
            sys.exit(f"epoch {epoch} was not captured during the run")
        time.sleep(0.05)
    if epoch == 1:
        arts.save_text("written through the SDK", name="sdk-note")
        raise RuntimeError("loss diverged after epoch 1")
"""


def test_training_script_that_crashes(where: Where, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(TRAIN)
    (work / "config.yaml").write_text("epochs: 3\n")
    (work / ".venv").mkdir()
    (work / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")

    done = where.run("--name", "mnist", "--", sys.executable, "train.py", cwd=work)

    assert done.returncode == 1, done.stderr  # the command's own exit code
    assert "loss diverged after epoch 1" in done.stderr
    assert where.status("mnist") == "crashed"
    captured = where.captured("mnist")
    assert set(captured) == {
        ("outputs/checkpoints/epoch0.ckpt", 1),
        ("outputs/checkpoints/epoch1.ckpt", 1),
        ("outputs/last.pt", 1),
        ("outputs/last.pt", 2),
        ("metrics.json", 1),
        ("metrics.json", 2),
        ("logs/run1/train.log", 1),
    }, sorted(captured)
    for (rel, version), art in captured.items():
        assert art.name == rel
        assert art.status == "completed"
        newest = max(v for r, v in captured if r == rel)
        if version == newest:  # the file on disk is the newest version
            assert art.sha256 == sha256_of(work / rel), rel
            assert art.bytes == (work / rel).stat().st_size, rel
    epoch0 = (work / "outputs/checkpoints/epoch0.ckpt").read_bytes()
    assert captured[("outputs/last.pt", 1)].sha256 == hashlib.sha256(epoch0).hexdigest()
    assert captured[("outputs/checkpoints/epoch0.ckpt", 1)].kind == "checkpoint"
    assert captured[("outputs/last.pt", 1)].kind == "checkpoint"
    assert captured[("logs/run1/train.log", 1)].kind == "log"
    assert captured[("metrics.json", 1)].kind == "metric"
    log = where.store.read_file(captured[("logs/run1/train.log", 1)].files[0], what="log")
    assert log == b"epoch 0 done\nepoch 1 done\n"
    names = {a.name for a in where.artifacts("mnist")}
    assert "sdk-note" in names  # the script's own save went into the same run
    assert not any(n in names for n in ("config.yaml", "train.py"))
    assert "synced outputs/checkpoints/epoch0.ckpt (v1" in done.stderr
    assert not (where.home / "capture" / "mnist.journal").exists()


def test_exit_code_and_signals_pass_through(where: Where, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text(
        "import signal, sys, time\n"
        "def stop(signum, frame):\n"
        "    open('stopped.txt', 'w').write(f'signal {signum}')\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "open('ready', 'w').close()\n"
        "time.sleep(60)\n"
    )
    proc = where.start("--name", "sig", "--", sys.executable, "job.py", cwd=work)
    wait_for((work / "ready").exists, timeout=30, what="the command to start")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert (work / "stopped.txt").read_text() == f"signal {int(signal.SIGTERM)}"
    assert set(where.captured("sig")) == {("stopped.txt", 1), ("ready", 1)}
    assert where.status("sig") == "crashed"

    ok = where.run("--name", "ok", "--", sys.executable, "-c", "pass", cwd=work)
    assert ok.returncode == 0, ok.stderr
    assert where.status("ok") == "done"
    assert where.captured("ok") == {}
    assert "run ok done: 0 files stored" in ok.stderr


def test_a_command_killed_by_a_signal_stores_only_closed_files(
    where: Where, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text(
        "import os, time\n"
        "with open('closed.bin', 'wb') as f:\n"
        "    f.write(os.urandom(100_000))\n"
        "half = open('half.bin', 'wb')\n"
        "half.write(os.urandom(50_000)); half.flush()\n"
        "time.sleep(1.0)\n"
        "open('ready', 'w').close()\n"
        "time.sleep(60)\n"
    )
    proc = where.start("--name", "killed", "--", sys.executable, "job.py", cwd=work)
    wait_for((work / "ready").exists, timeout=30, what="the command to write")
    time.sleep(0.5)
    child = _children(proc.pid)
    assert child, "no child process"
    for pid in child:
        os.kill(pid, signal.SIGKILL)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGKILL, err
    captured = where.captured("killed")
    assert ("closed.bin", 1) in captured
    assert not any(rel == "half.bin" for rel, _ in captured), err
    assert "not captured: half.bin" in err
    assert where.status("killed") == "crashed"


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in text.split()]
