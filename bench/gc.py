"""``satchel gc`` over 100,000 artifacts, half of them expired, vs ``mlflow gc`` (issue 8).

Usage: ``python bench/gc.py [--quick] [--artifacts N] [--mlflow-runs M] [--work DIR]
[--store DIR --reuse]`` (``bash bench/run --gc [--quick]`` runs it in the benchmark venv).

satchel's side, an embedded store (local directory + SQLite, the default):

* N artifacts (100,000; ``--quick`` 10,000) saved through the SDK's async facade
  (``save_text``, ``asyncio.gather`` in batches, as ``bench/search.py`` saves), in runs of
  1,000 that end ``done``. Each is 20 KiB of its own text, above the 16 KiB inline limit,
  so each is its own blob, with labels, metrics and tags; every other one is of kind
  ``scratch``, the rest ``checkpoint``.
* ``satchel retention add --kind scratch --keep-last 1``: all scratch artifacts but the
  newest expire (49,999 of 100,000), and with them their blobs.
* Leftovers as crashes leave them: 1,000 blobs no artifact references and 200 temporary
  files (``tmp/*.part``), both last written two days ago, and 20 unreferenced blobs
  written just now (within the grace period: ``gc`` must keep them).
* The figure: ``satchel gc --grace 24h --json`` run as a user runs it (a child process of
  the CLI, wall clock, start-up included). Then ``satchel fsck --json`` must find no damage
  and no warning but the 20 young orphans, the store must hold exactly the kept artifacts
  and their blobs, and the report must say what was removed.

The peer: ``mlflow gc`` on a SQLite tracking store of M runs (``--mlflow-runs``, default N;
``--quick`` 10,000), half of them deleted, each with one 20 KiB artifact file in a local
artifact root. The store is built by ``mlflow_search.build_store`` (200 runs through
``MlflowClient``, the rest bulk-inserted into its tables, checked against the rows MLflow
writes); the artifact files are logged with ``log_artifact`` for the first runs and written
to the same layout for the rest; the first 100 deletions go through ``delete_run``, and the
others are the same ``UPDATE`` of ``lifecycle_stage`` and ``deleted_time`` (checked: a
``delete_run`` changes nothing else). Then ``mlflow gc --backend-store-uri sqlite:///...``
is timed the same way, and afterwards the deleted runs' rows and artifact directories must
be gone and the others kept. A peer that would take over ``--peer-budget`` seconds (15
minutes) is killed; give a smaller ``--mlflow-runs`` then (the rate ratio still compares).

The ratio is per artifact (run) removed: MLflow's seconds per deleted run over satchel's
seconds per expired artifact, so that two sizes still compare; at equal sizes it is the
ratio of the two wall clocks. Prints one line per figure as ``bench/bench.py`` does and
writes ``.bench-out/results-gc.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import Report, log
from _util import KIB

TARGET_S = 60.0
FULL = 100_000
QUICK = 10_000
RUN_SIZE = 1_000
SAVE_BATCH = 500
BLOB_BYTES = 20 * KIB  # above the 16 KiB inline limit: every artifact its own blob
OLD_ORPHANS = 1_000
YOUNG_ORPHANS = 20
TEMP_FILES = 200
AGE_S = 2 * 86_400  # how old the leftovers are made (the grace period is 24 h)
CLIENT_DELETES = 100  # MLflow runs deleted through delete_run (the rest by the same UPDATE)
CLIENT_ARTIFACTS = 50  # MLflow runs whose file goes through log_artifact
ARTIFACT_NAME = "model.bin"
PEER_BUDGET_S = 900.0
SESSION = "bench-gc"
DATASETS = tuple(f"ds{i:02d}" for i in range(20))
TAGS = ("baseline", "ablation", "sweep", "nightly", "prod")


def payload(i: int) -> str:
    """20 KiB of text of its own (so its own blob)."""
    head = f"artifact {i:08d}\n"
    rnd = random.Random(i)
    return head + rnd.randbytes((BLOB_BYTES - len(head)) // 2).hex()


def spec(rng: random.Random, i: int) -> dict[str, Any]:
    kind = "scratch" if i % 2 else "checkpoint"
    return {
        "kind": kind,
        "name": f"{kind}-{i:07d}",
        "labels": {
            "dataset": rng.choice(DATASETS),
            "seed": rng.randrange(10),
            "lr": rng.choice((1e-4, 3e-4, 1e-3)),
        },
        "metrics": {"loss": round(rng.random() * 5, 6), "acc": round(rng.random(), 6)},
        "tags": rng.sample(TAGS, 2),
    }


# -- satchel ------------------------------------------------------------------------------


async def save_all(store: Path, n: int) -> None:
    import satchel  # noqa: PLC0415

    rng = random.Random(1234)
    saved = 0
    for r in range(-(-n // RUN_SIZE)):
        ctx = satchel.Context(store=str(store), run_id=f"gc-run-{r:04d}", session_id=SESSION)
        try:
            arts = ctx.artifacts()
            end = min(n, saved + RUN_SIZE)
            while saved < end:
                stop = min(end, saved + SAVE_BATCH)
                await asyncio.gather(
                    *(arts.save_text(payload(i), **spec(rng, i)) for i in range(saved, stop))
                )
                saved = stop
        finally:
            await ctx.aclose(status="done")
        if r % 10 == 9 or saved == n:
            log(f"saved {saved:,}/{n:,}")


def leftovers(store: Path) -> list[str]:
    """Old orphan blobs, old temp files and young orphan blobs; returns the young ones."""
    from satchel.hashing import Digest  # noqa: PLC0415
    from satchel.models import new_id  # noqa: PLC0415
    from satchel.storage.local import LocalBlobStore  # noqa: PLC0415

    blobs = LocalBlobStore(store)
    old = time.time() - AGE_S
    young: list[str] = []
    try:
        for k in range(OLD_ORPHANS + YOUNG_ORPHANS):
            data = f"orphan {k}\n".encode() + random.Random(-k - 1).randbytes(BLOB_BYTES)
            digest = Digest(hexdigest=hashlib.sha256(data).hexdigest())
            sink = blobs.open_sink()
            sink.write(data)
            sink.commit(digest)
            if k < OLD_ORPHANS:
                os.utime(blobs.blob_path(digest), (old, old))
            else:
                young.append(digest.hexdigest)
        for k in range(TEMP_FILES):
            path = blobs.tmp_dir / f"{new_id()}.part"
            path.write_bytes(random.Random(k).randbytes(BLOB_BYTES // 2))
            os.utime(path, (old, old))
    finally:
        blobs.close()
    return young


def satchel_cli(*args: str, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    exe = Path(sys.executable).with_name("satchel")
    start = time.perf_counter()
    done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done


def counts(store: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{store / 'index.db'}?mode=ro", uri=True) as conn:
        out = {
            kind: conn.execute("SELECT count(*) FROM artifacts WHERE kind = ?", (kind,)).fetchone()[
                0
            ]
            for kind in ("scratch", "checkpoint")
        }
        out["referenced"] = conn.execute(
            "SELECT count(DISTINCT sha256) FROM artifact_files"
        ).fetchone()[0]
    conn.close()
    out["blob_files"] = sum(1 for _ in (store / "blobs").glob("sha256/??/*"))
    out["temp_files"] = sum(1 for _ in (store / "tmp").glob("*.part"))
    return out


def satchel_side(
    store: Path, n: int, env: dict[str, str], *, reuse: bool, build_only: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"artifacts": n}
    if not reuse:
        log(f"saving {n:,} artifacts of 20 KiB through the SDK into {store}")
        t0 = time.perf_counter()
        asyncio.run(save_all(store, n))
        out["save_seconds"] = time.perf_counter() - t0
        seconds, done = satchel_cli(
            "retention", "add", "--kind", "scratch", "--keep-last", "1", "--name", "bench",
            "--store", str(store), env=env,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"satchel retention add failed: {done.stderr}")
        # A store that has been searched: the first search fills the text indexes, whose
        # documents a delete must then remove too (the costlier case for gc).
        seconds, done = satchel_cli(
            "search", "checkpoint", "--limit", "1", "--store", str(store), env=env
        )
        if done.returncode:
            raise SystemExit(f"satchel search failed: {done.stderr}")
        out["search_fill_seconds"] = seconds
        young = leftovers(store)
        (store.parent / "young.json").write_text(json.dumps(young), encoding="utf-8")
        if build_only:
            return out
    young = json.loads((store.parent / "young.json").read_text(encoding="utf-8"))
    before = counts(store)
    out["before"] = before
    log(f"before gc: {before}; running satchel gc --grace 24h")
    seconds, done = satchel_cli("gc", "--grace", "24h", "--json", "--store", str(store), env=env)
    if done.returncode:
        raise SystemExit(f"satchel gc failed ({done.returncode}): {done.stderr}")
    report = json.loads(done.stdout)
    after = counts(store)
    log(f"satchel gc: {seconds:.1f} s; after: {after}")
    expired = n // 2 - 1
    want = {
        "artifacts_deleted": expired,
        "blobs_removed": expired + OLD_ORPHANS,
        "orphan_blobs": OLD_ORPHANS,
        "young_orphans": YOUNG_ORPHANS,
        "leftovers_removed": TEMP_FILES,
    }
    got = {k: report[k] for k in want}
    if got != want:
        raise SystemExit(f"satchel gc reported {got}, expected {want}")
    kept = n - expired
    if (after["scratch"], after["checkpoint"], after["temp_files"]) != (1, n // 2, 0):
        raise SystemExit(f"after gc the store holds {after}")
    if after["referenced"] != kept or after["blob_files"] != kept + YOUNG_ORPHANS:
        raise SystemExit(f"after gc: {after}, expected {kept} blobs + {YOUNG_ORPHANS} young")
    fsck_s, fsck = satchel_cli("fsck", "--json", "--store", str(store), env=env)
    checked = json.loads(fsck.stdout)
    warned = sorted(w["key"] for w in checked["warnings"])
    only_young = (
        all(w["kind"] == "orphan_blob" for w in checked["warnings"])
        and len(warned) == len(young)
        and all(any(d in key for d in young) for key in warned)
    )
    if fsck.returncode or not checked["ok"] or not only_young:
        raise SystemExit(f"fsck after gc: exit {fsck.returncode}, {fsck.stdout[:2000]}")
    log(f"fsck after gc: ok, {len(warned)} warnings (the young orphans), {fsck_s:.1f} s")
    out |= {
        "gc_seconds": seconds,
        "report": {k: v for k, v in report.items() if k not in ("expired", "abandoned")},
        "expired_listed": len(report["expired"]),
        "after": after,
        "fsck_seconds": fsck_s,
        "fsck_ok": checked["ok"],
        "fsck_warnings": len(warned),
        "fsck_artifacts": checked["artifacts"],
    }
    return out


# -- MLflow -------------------------------------------------------------------------------


def mlflow_side(work: Path, runs: int, budget: float) -> dict[str, Any]:
    """Build the MLflow store (half the runs deleted), then time ``mlflow gc``."""
    import mlflow  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    from mlflow_search import build_store, verify_counts  # noqa: PLC0415

    log(f"building MLflow's store of {runs:,} runs in {work}")
    t0 = time.perf_counter()
    built = build_store(str(work), runs, float("inf"), 200, [])
    db = work / "mlflow.db"
    verify_counts(str(db), built.runs)
    client: MlflowClient = built.client
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT run_uuid, artifact_uri FROM runs ORDER BY start_time, run_uuid"
        ).fetchall()
    conn.close()
    # One artifact file per run: through log_artifact for the first, the same layout after.
    src = work / ARTIFACT_NAME
    for k, (run_id, uri) in enumerate(rows):
        data = payload(k).encode()
        if k < CLIENT_ARTIFACTS:
            src.write_bytes(data)
            client.log_artifact(run_id, str(src))
            continue
        if k == CLIENT_ARTIFACTS:  # the layout log_artifact made
            first = Path(rows[0][1].removeprefix("file://")) / ARTIFACT_NAME
            if not first.is_file() or first.read_bytes() != payload(0).encode():
                raise SystemExit(f"log_artifact did not write {first}")
        target = Path(uri.removeprefix("file://"))
        target.mkdir(parents=True, exist_ok=True)
        (target / ARTIFACT_NAME).write_bytes(data)
    doomed = [run_id for k, (run_id, _) in enumerate(rows) if k % 2]
    kept = [run_id for k, (run_id, _) in enumerate(rows) if not k % 2]
    delete_all(db, client, doomed)
    build_s = time.perf_counter() - t0
    log(f"MLflow store built in {build_s:.0f} s; running mlflow gc")
    exe = Path(sys.executable).with_name("mlflow")
    cmd = [str(exe), "gc", "--backend-store-uri", f"sqlite:///{db}"]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, check=False)
    except subprocess.TimeoutExpired:
        return {"runs": len(rows), "deleted": len(doomed), "timed_out": budget}
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"mlflow gc failed ({done.returncode}): {done.stderr[-3000:]}")
    with sqlite3.connect(db) as conn:
        left = {r for (r,) in conn.execute("SELECT run_uuid FROM runs")}
    conn.close()
    uris = dict(rows)
    gone = sum(not Path(uris[r].removeprefix("file://")).exists() for r in doomed)
    if left != set(kept) or gone != len(doomed):
        raise SystemExit(
            f"mlflow gc left {len(left)} runs (want {len(kept)}), removed {gone} of "
            f"{len(doomed)} artifact directories"
        )
    if not all((Path(uris[r].removeprefix("file://")) / ARTIFACT_NAME).is_file() for r in kept):
        raise SystemExit("mlflow gc removed a kept run's artifact")
    log(f"mlflow gc: {seconds:.1f} s")
    return {
        "runs": len(rows),
        "deleted": len(doomed),
        "build_seconds": build_s,
        "gc_seconds": seconds,
        "mlflow_version": mlflow.__version__,
    }


def delete_all(db: Path, client: Any, doomed: list[str]) -> None:
    """Delete ``doomed`` as MLflow does: ``delete_run`` for the first, checked to change only
    ``lifecycle_stage`` and ``deleted_time`` of the run row, then the same ``UPDATE``."""

    def snapshot(conn: sqlite3.Connection) -> dict[str, Any]:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}

    conn = sqlite3.connect(db)
    probe = doomed[0]
    cur = conn.execute("SELECT * FROM runs WHERE run_uuid = ?", (probe,))
    names = [d[0] for d in cur.description]
    row_before = dict(zip(names, cur.fetchone(), strict=True))
    tables_before = snapshot(conn)
    conn.close()
    for run_id in doomed[:CLIENT_DELETES]:
        client.delete_run(run_id)
    conn = sqlite3.connect(db, isolation_level=None)
    row_after = dict(
        zip(
            names,
            conn.execute("SELECT * FROM runs WHERE run_uuid = ?", (probe,)).fetchone(),
            strict=True,
        )
    )
    changed = {k for k in names if row_before[k] != row_after[k]}
    if changed != {"lifecycle_stage", "deleted_time"} or row_after["lifecycle_stage"] != "deleted":
        raise SystemExit(f"delete_run changed {changed}: {row_after}")
    if snapshot(conn) != tables_before:
        raise SystemExit("delete_run wrote to other tables than runs")
    deleted_time = row_after["deleted_time"]
    conn.execute("BEGIN")
    rest = doomed[CLIENT_DELETES:]
    for i in range(0, len(rest), 500):
        chunk = rest[i : i + 500]
        conn.execute(
            "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? "
            f"WHERE run_uuid IN ({', '.join('?' * len(chunk))})",
            (deleted_time, *chunk),
        )
    conn.execute("COMMIT")
    (count,) = conn.execute(
        "SELECT count(*) FROM runs WHERE lifecycle_stage = 'deleted'"
    ).fetchone()
    conn.close()
    if count != len(doomed):
        raise SystemExit(f"{count} runs deleted, expected {len(doomed)}")


# -- the run ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} instead of {FULL:,}")
    parser.add_argument("--artifacts", type=int)
    parser.add_argument("--mlflow-runs", type=int, help="default: as many as --artifacts")
    parser.add_argument("--peer-budget", type=float, default=PEER_BUDGET_S)
    parser.add_argument("--work", help="work here (default: a temporary dir, removed)")
    parser.add_argument("--store", help="the satchel store (kept); with --reuse, as it is")
    parser.add_argument("--reuse", action="store_true", help="gc the --store left earlier")
    parser.add_argument("--no-peer", action="store_true", help="satchel's side only")
    parser.add_argument("--build-only", action="store_true", help="build --store, measure nothing")
    args = parser.parse_args()
    n = args.artifacts or (QUICK if args.quick else FULL)
    runs = args.mlflow_runs or n
    work = Path(args.work or tempfile.mkdtemp(prefix="satchel-bench-gc-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    store = Path(args.store) if args.store else work / "store"
    env = {**os.environ, "SATCHEL_HOME": str(work / "home")}
    os.environ["SATCHEL_HOME"] = env["SATCHEL_HOME"]
    report = Report("quick gc" if args.quick else "full gc", {"artifacts": n, "runs": runs})
    try:
        print(
            f"gc benchmark: {n:,} artifacts (half expired) vs MLflow {runs:,} runs (half "
            f"deleted); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        ours = satchel_side(store, n, env, reuse=args.reuse, build_only=args.build_only)
        if args.build_only:
            log(f"built {store}: {ours}")
            return 0
        report.raw["satchel"] = ours
        gone = ours["report"]
        per_ours = ours["gc_seconds"] / gone["artifacts_deleted"]
        peer: dict[str, Any] = {}
        if not args.no_peer:
            peer = mlflow_side(work / "mlflow", runs, args.peer_budget)
            report.raw["mlflow"] = peer
        line = (
            f"satchel gc --grace 24h, {n:,} artifacts: {ours['gc_seconds']:.1f} s, "
            f"{gone['artifacts_deleted']:,} artifacts deleted, {gone['blobs_removed']:,} blobs "
            f"removed, {gone['bytes_freed'] / 2**20:,.0f} MiB freed; fsck after: ok, "
            f"{ours['fsck_warnings']} warnings (young orphans)"
        )
        if "gc_seconds" in peer:
            per_peer = peer["gc_seconds"] / peer["deleted"]
            ratio = per_peer / per_ours
            line += (
                f" | mlflow gc, {peer['runs']:,} runs ({peer['deleted']:,} deleted): "
                f"{peer['gc_seconds']:.1f} s | ratio {ratio:.1f}x per removed artifact "
                f"({per_ours * 1e3:.2f} vs {per_peer * 1e3:.2f} ms)"
            )
            report.raw["ratio"] = ratio
        elif peer:
            line += f" | mlflow gc at {peer['runs']:,} runs: over {peer['timed_out']:.0f} s"
        met = ours["gc_seconds"] < TARGET_S if n >= FULL else None
        report.figure(
            "gc_100k",
            line + f" (target < {TARGET_S:.0f} s at {FULL:,})",
            met,
            value=ours["gc_seconds"],
            unit="s",
            target=f"< {TARGET_S:.0f} s",
        )
        path = report.write("results-gc.json")
        print(f"results: {path.name} in .bench-out")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)  # a --store given is kept
    return 0


if __name__ == "__main__":
    sys.exit(main())
