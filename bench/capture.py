"""``satchel run`` vs ``mlflow.log_artifact``: a loop that saves a 256 MiB checkpoint every
2 s for 20 s (issue 7).

Three sides, one after the other, each in fresh child processes and a fresh directory:

* bare: the loop alone (the CPU baseline);
* satchel: ``satchel run -- python loop.py`` (embedded store; capture by file events);
* mlflow: the same loop calling ``mlflow.log_artifact`` after each save (local file store).

Per side: every checkpoint stored and verified (satchel: the index's SHA-256 against the
file; MLflow: the copied file's SHA-256), close-to-stored latency p50/max (satchel: the
artifact's ``updated_at`` minus the loop's close time; MLflow: how long ``log_artifact``
took, since it is synchronous), CPU seconds over the bare loop (user + system of the whole
process tree, ``RUSAGE_CHILDREN``), and the peak RSS of what was added (satchel run's own
process, VmHWM; MLflow: the loop's peak minus the bare loop's peak).

``python bench/capture.py [--seconds 20] [--every 2] [--size-mib 256]``; prints one
``BENCH-RESULT`` JSON line. ``SATCHEL_BENCH_PEER_PYTHON`` names another interpreter for the
MLflow side (default: this one).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _util import emit

LOOP = r"""
import json, os, sys, time
seconds, every, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
closes, mode = sys.argv[4], sys.argv[5]
if mode == "mlflow":
    import mlflow
    mlflow.set_tracking_uri(sys.argv[6])
    mlflow.start_run()
block = bytearray(os.urandom(size))
os.makedirs("checkpoints", exist_ok=True)
start = time.monotonic()
n = 0
with open(closes, "w") as out:
    while time.monotonic() - start < seconds:
        due = start + n * every
        time.sleep(max(0.0, due - time.monotonic()))
        block[:8] = n.to_bytes(8, "little")
        path = f"checkpoints/epoch{n}.pt"
        with open(path, "wb") as f:
            f.write(block)
        closed = time.time()
        logged = None
        if mode == "mlflow":
            t = time.monotonic()
            mlflow.log_artifact(path, artifact_path="checkpoints")
            logged = time.monotonic() - t
        out.write(json.dumps({"path": path, "closed": closed, "logged": logged}) + "\n")
        out.flush()
        n += 1
if mode == "mlflow":
    print("ARTIFACT-URI", mlflow.get_artifact_uri(), flush=True)
    mlflow.end_run()
"""


def _hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _hwm_kib(proc.pid) or 0)
        time.sleep(0.05)
    out, err = proc.communicate()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"{cmd[:4]} exited {proc.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "peak_kib": peak, "stdout": out, "stderr": err}


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--every", type=float, default=2)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    size = args.size_mib << 20
    root = Path(args.work or tempfile.mkdtemp(prefix="satchel-capture-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    loop = root / "loop.py"
    loop.write_text(LOOP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    common = [str(args.seconds), str(args.every), str(size)]
    result: dict[str, Any] = {"size": size, "seconds": args.seconds, "every": args.every}

    # bare
    work = root / "bare"
    work.mkdir()
    bare = _run(
        [sys.executable, str(loop), *common, str(root / "bare.jsonl"), "bare"], cwd=work, env=env
    )
    result["bare"] = {"cpu": bare["cpu"], "wall": bare["wall"], "peak_mib": bare["peak_kib"] / 1024}
    shutil.rmtree(work)

    # satchel run
    work = root / "satchel"
    work.mkdir()
    home = root / "satchel-home"
    senv = {**env, "SATCHEL_HOME": str(home)}
    cmd = [
        sys.executable,
        "-m",
        "satchel.cli",
        "run",
        "--name",
        "bench",
        "--",
        sys.executable,
        str(loop),
        *common,
        str(root / "satchel.jsonl"),
        "satchel",
    ]
    ours = _run(cmd, cwd=work, env=senv)
    closes = [json.loads(x) for x in (root / "satchel.jsonl").read_text().splitlines()]
    import satchel  # noqa: PLC0415 - after the runs, in this process

    with satchel.Context(store=str(home), run_id="bench") as ctx:
        stored = {
            str(a.labels.get("capture_path")): a for a in ctx.sync_artifacts().list(limit=1000)
        }
        status = ctx.store.get_run("bench").status if ctx.store else None
    lat, verified = [], 0
    for c in closes:
        art = stored.get(c["path"])
        if art is None:
            continue
        if art.sha256 == _sha(work / c["path"]) and art.bytes == size:
            verified += 1
        at = datetime.fromisoformat(str(art.updated_at)).timestamp()
        lat.append(at - c["closed"])
    result["satchel"] = {
        "checkpoints": len(closes),
        "stored_verified": verified,
        "run_status": status,
        "latency_p50": _pct(lat, 0.5) if lat else None,
        "latency_max": max(lat) if lat else None,
        "cpu": ours["cpu"],
        "cpu_over_bare": ours["cpu"] - bare["cpu"],
        "wall": ours["wall"],
        # satchel run's own process: the loop is its child with its own RSS.
        "peak_mib": ours["peak_kib"] / 1024,
        "extra_rss_mib": ours["peak_kib"] / 1024,
    }
    shutil.rmtree(work)
    shutil.rmtree(home)

    # mlflow
    work = root / "mlflow"
    work.mkdir()
    peer = os.environ.get("SATCHEL_BENCH_PEER_PYTHON", sys.executable)
    tracking = f"sqlite:///{root / 'mlflow.db'}"
    menv = {**env, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    theirs = _run(
        [peer, str(loop), *common, str(root / "mlflow.jsonl"), "mlflow", tracking],
        cwd=work,
        env=menv,
    )
    closes = [json.loads(x) for x in (root / "mlflow.jsonl").read_text().splitlines()]
    uri = next(
        line.split(" ", 1)[1]
        for line in theirs["stdout"].splitlines()
        if line.startswith("ARTIFACT-URI")
    )
    art_dir = Path(uri.removeprefix("file://"))
    if not art_dir.is_absolute():
        art_dir = work / art_dir
    verified = sum(
        1
        for c in closes
        if (art_dir / c["path"]).exists() and _sha(art_dir / c["path"]) == _sha(work / c["path"])
    )
    lat = [c["logged"] for c in closes]
    result["mlflow"] = {
        "checkpoints": len(closes),
        "stored_verified": verified,
        "latency_p50": _pct(lat, 0.5),
        "latency_max": max(lat),
        "cpu": theirs["cpu"],
        "cpu_over_bare": theirs["cpu"] - bare["cpu"],
        "wall": theirs["wall"],
        "peak_mib": theirs["peak_kib"] / 1024,
        "extra_rss_mib": (theirs["peak_kib"] - bare["peak_kib"]) / 1024,
    }
    if not args.work:
        shutil.rmtree(root, ignore_errors=True)
    emit(result)


if __name__ == "__main__":
    main()
