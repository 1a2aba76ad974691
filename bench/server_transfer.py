"""Figure ``--server`` 1: a large file up and down through satchel's server vs MLflow's.

Usage: ``python bench/server_transfer.py --file F --sha256 HEX --work DIR [--runs 3]``

Starts ``satchel serve`` (fresh home: SQLite + local blob directory) and ``mlflow server
--serve-artifacts`` (SQLite tracking store, local artifact root) on loopback, both from this
environment, and stops both at the end. The file is read once first so both sides read a
warm page cache. Each run, alternating which side goes first:

* satchel (the HTTP API over httpx, ``_remote.py``): upload = hash the file, create the
  artifact with its file list, PUT it in 64 MiB chunks (each fsynced by the server; the last
  one makes the server hash the staged file and move it into the blob store); download =
  one streamed GET written to a file and hashed as it arrives (checked against the expected
  SHA-256 inside the timed region). The artifact is deleted after the run, so the next run
  uploads again instead of finding the blob (dedup).
* MLflow (``MlflowClient`` with ``MLFLOW_TRACKING_URI=http://...``): upload =
  ``log_artifact`` into a fresh run (one streamed PUT of the file to the server's proxy,
  which writes it under its artifact root, no fsync); download = ``download_artifacts``
  (one streamed GET through the proxy, written in 1 MiB pieces). Its client does not
  verify what it downloaded; the benchmark hashes the file after the timed region.

Before the timed runs each side makes a few untimed 1 MiB round trips (MLflow's four
workers each import on their first request). Both sides' best run counts.

Then, when ``curl`` is installed, the same number of runs measure the servers alone, with
no Python client in the way: curl PUTs the file (``-T``, streamed from disk; for satchel,
to an artifact created first, as one chunk at offset 0, the digest known so the client
hashes nothing) and GETs it into ``/dev/null``. satchel's server still fsyncs, verifies
and publishes the upload and verifies the download as it streams; MLflow's does neither.
curl also drives an ASGI app that does nothing with the bytes (``_null_app.py``, under the
same uvicorn as ``satchel serve``): the ceiling of a Python HTTP server on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import satchel
from _remote import Remote, sha256_file
from _servers import NullServer, SatchelServer, both_servers, child_start, mlflow_client
from _util import emit, read_whole

WARMUP_ROUNDS = 8
#: One side's round trip of a file with the given SHA-256: seconds up and down, verified.
Side = Callable[[Path, str], dict[str, Any]]
#: curl, for the server-bound figures (None: they are left out).
CURL = shutil.which("curl")


def sdk_run(server: SatchelServer, remote: Remote, src: Path, expected: str) -> dict[str, Any]:
    """The remote SDK: ``save_file``, then ``as_local_file`` (hashed as it arrives, written
    to a temporary name and renamed into place once the digest matched). A context of its
    own each time: closing it marks its run done, so that the artifact may be deleted."""
    with satchel.Context(store=server.url, token=server.token) as ctx:
        arts = ctx.sync_artifacts()
        start = time.perf_counter()
        art = arts.save_file(src, kind="checkpoint", name="big.bin")
        up = time.perf_counter() - start
        start = time.perf_counter()
        local = Path(arts.as_local_file(art))
        down = time.perf_counter() - start
    digest, _ = sha256_file(local)  # untimed, a second check of the SDK's own
    local.unlink()
    remote.delete(art.artifact_id)
    return {"up": up, "down": down, "verified": art.sha256 == expected == digest}


def api_run(remote: Remote, src: Path, dest: Path, expected: str) -> dict[str, Any]:
    """The HTTP API by hand (``_remote.py``): 64 MiB chunks, each request timed."""
    start = time.perf_counter()
    art = remote.save_file(src, name="big.bin")
    up = time.perf_counter() - start
    start = time.perf_counter()
    remote.download(art["artifact_id"], "big.bin", dest, sha256=expected)
    down = time.perf_counter() - start
    dest.unlink()
    remote.delete(art["artifact_id"])
    return {
        "up": up,
        "down": down,
        "verified": art["sha256"] == expected,
        "timings": art["timings"],
    }


def mlflow_run(client: Any, experiment: str, src: Path, dest: Path, expected: str) -> dict:
    run = client.create_run(experiment)
    run_id = run.info.run_id
    start = time.perf_counter()
    client.log_artifact(run_id, str(src))
    up = time.perf_counter() - start
    dest.mkdir()
    start = time.perf_counter()
    local = client.download_artifacts(run_id, src.name, str(dest))
    down = time.perf_counter() - start
    digest, _ = sha256_file(Path(local))  # untimed: MLflow's client does not verify
    shutil.rmtree(dest)
    client.delete_run(run_id)
    return {"up": up, "down": down, "verified": digest == expected}


def _curl(*args: str) -> tuple[float, str]:
    """Run curl (failing on an HTTP error); its seconds and what it printed."""
    start = time.perf_counter()
    done = subprocess.run(
        [CURL or "curl", "-sS", "--fail", *args], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - start, done.stdout


def satchel_curl(remote: Remote, url: str, token: str, src: Path, expected: str) -> dict:
    """The server alone: the whole file as one chunk PUT by curl (the client's hash is not
    timed: the digest is known), then one GET by curl into /dev/null."""
    made = remote.create_file("big.bin", expected, src.stat().st_size)
    aid = made["artifact_id"]
    auth = f"Authorization: Bearer {token}"
    api = url + "/api/v1"
    up, printed = _curl(
        "-T",
        str(src),
        "-H",
        auth,
        "-H",
        "Content-Type: application/octet-stream",
        f"{api}{remote.upload_route(aid, 'big.bin')}?offset=0",
    )
    completed = json.loads(printed)["artifact_status"] == "completed"
    down, _ = _curl("-o", os.devnull, "-H", auth, f"{api}{remote.file_route(aid, 'big.bin')}")
    remote.delete(aid)
    return {"up": up, "down": down, "verified": completed}


def mlflow_curl(url: str, client: Any, experiment: str, src: Path) -> dict:
    """The same through MLflow's proxy: one PUT and one GET of the run's artifact by curl."""
    run = client.create_run(experiment)
    where = run.info.artifact_uri.removeprefix("mlflow-artifacts:/").strip("/")
    target = f"{url}/api/2.0/mlflow-artifacts/artifacts/{where}/{src.name}"
    up, _ = _curl("-T", str(src), target)
    down, _ = _curl("-o", os.devnull, target)
    client.delete_run(run.info.run_id)
    return {"up": up, "down": down, "verified": True}


def null_curl(url: str, src: Path) -> dict:
    """The empty app: one PUT of the file, one GET of as many bytes, by curl."""
    up, _ = _curl("-T", str(src), f"{url}/")
    down, _ = _curl("-o", os.devnull, f"{url}/?bytes={src.stat().st_size}")
    return {"up": up, "down": down, "verified": True}


def warm_up(sides: dict[str, Side], work: Path) -> None:
    """Untimed: a few small round trips each, so no timed run pays a first request's imports
    (MLflow's 4 workers each import on their first request: several rounds reach them)."""
    small = work / "warm-up.bin"
    small.write_bytes(os.urandom(1 << 20))
    expected, _ = sha256_file(small)
    for name, run in sides.items():
        for _ in range(WARMUP_ROUNDS if name.endswith("mlflow") else 1):
            run(small, expected)
    small.unlink()


def rounds(sides: dict[str, Side], runs: int, src: Path, expected: str, out: dict) -> None:
    """``runs`` rounds of every side, the order turning one step each round."""
    names = list(sides)
    for run in range(runs):
        turn = run % len(names)
        for name in names[turn:] + names[:turn]:
            res = sides[name](src, expected)
            out["seconds"].setdefault(f"{name}_up", []).append(res["up"])
            out["seconds"].setdefault(f"{name}_down", []).append(res["down"])
            out["verified"][name] = out["verified"].get(name, True) and res["verified"]
            if "timings" in res:
                out.setdefault(f"{name}_up_timings", []).append(res["timings"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args, work, env = child_start(parser)
    src = Path(args.file)
    size = read_whole(args.file)

    out: dict[str, Any] = {"bytes": size, "seconds": {}, "verified": {}}
    with both_servers(work, env) as (ours, peer, remote, _):
        import mlflow  # noqa: PLC0415

        client = mlflow_client(peer.url)
        experiment = client.create_experiment("bench-transfer")
        sides: dict[str, Side] = {
            "satchel": lambda f, sha: sdk_run(ours, remote, f, sha),
            "mlflow": lambda f, sha: mlflow_run(client, experiment, f, work / "ml-down", sha),
            "api": lambda f, sha: api_run(remote, f, work / "api-down.bin", sha),
        }
        warm_up(sides, work)
        rounds(sides, args.runs, src, args.sha256, out)
        if CURL:
            with NullServer(work / "null.log", env) as null:
                alone: dict[str, Side] = {
                    "curl_mlflow": lambda f, _: mlflow_curl(peer.url, client, experiment, f),
                    "curl_satchel": lambda f, sha: satchel_curl(
                        remote, ours.url, ours.token, f, sha
                    ),
                    "curl_null": lambda f, _: null_curl(null.url, f),
                }
                rounds(alone, args.runs, src, args.sha256, out)
    out["client_hash_s"] = min(_timed_hash(src) for _ in range(2))
    out["satchel_cmd"] = _shown(ours.cmd, work)
    out["mlflow_cmd"] = _shown(peer.cmd, work)
    out["mlflow_version"] = mlflow.__version__
    emit(out)


def _shown(cmd: list[str], work: Path) -> str:
    """A server's command line without this machine's paths."""
    return " ".join([Path(cmd[0]).name, *cmd[1:]]).replace(str(work), "<work>")


def _timed_hash(src: Path) -> float:
    start = time.perf_counter()
    sha256_file(src)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
