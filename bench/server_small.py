"""Figure ``--server`` 2: a directory of small files saved as one artifact, through each server.

Usage: ``python bench/server_small.py --files N --rounds R --work DIR``

Starts ``satchel serve`` and ``mlflow server --serve-artifacts`` as in
``server_transfer.py``. Every round writes a fresh directory of ``N`` small files (random
bytes, 256 B to 4 KiB, in 10 subdirectories; fresh bytes each round, so no side finds
them stored already) and saves it once through each server, the side that goes first
alternating:

* satchel: the remote SDK's ``ingest_dir(dir, kind="dataset")``, which reads and hashes
  every file and sends them inline (base64) in the create request, as many as fit in the
  server's body limit (16 MiB: all 1,000 here); the server verifies each file and commits
  the artifact and its files in one durable transaction.
* MLflow: ``MlflowClient.log_artifacts(run_id, dir)`` into a fresh run, which walks the
  directory and PUTs each file to the server's proxy, one request per file, in turn.

Before the rounds each side saves a directory of 20 files, untimed (first requests'
imports, on every MLflow worker). Each side's figure is the median of the rounds; after
each save the benchmark checks that all ``N`` files landed (satchel: the artifact as the
server lists it, completed with all its files; MLflow: its listing).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from _servers import both_servers, child_start, mlflow_client
from _util import emit

WARMUP_FILES = 20


def write_dir(root: Path, count: int, seed: int) -> int:
    rng = random.Random(seed)
    total = 0
    for i in range(count):
        path = root / f"part-{i % 10}" / f"file-{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(rng.randint(256, 4096))
        path.write_bytes(data)
        total += len(data)
    return total


def mlflow_count(client: Any, run_id: str, path: str | None = None) -> int:
    count = 0
    for info in client.list_artifacts(run_id, path):
        count += mlflow_count(client, run_id, info.path) if info.is_dir else 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", required=True)
    args, work, env = child_start(parser)

    seconds: dict[str, list[float]] = {"satchel": [], "mlflow": []}
    landed = {"satchel": True, "mlflow": True}
    total = 0
    with both_servers(work, env) as (_, peer, remote, arts):
        client = mlflow_client(peer.url)
        experiment = client.create_experiment("bench-small-files")
        warm = work / "warm-up"  # untimed: the first requests' imports, every MLflow worker
        write_dir(warm, WARMUP_FILES, seed=-1)
        arts.ingest_dir(warm, kind="dataset", name="warm-up")
        client.log_artifacts(client.create_run(experiment).info.run_id, str(warm))
        shutil.rmtree(warm)
        for rnd in range(args.rounds):
            src = work / f"small-{rnd}"
            total = write_dir(src, args.files, seed=rnd)
            sides = ("mlflow", "satchel") if rnd % 2 == 0 else ("satchel", "mlflow")
            for side in sides:
                if side == "satchel":
                    start = time.perf_counter()
                    art = arts.ingest_dir(src, kind="dataset", name=f"small-{rnd}")
                    seconds["satchel"].append(time.perf_counter() - start)
                    ok = remote.landed(art.artifact_id) == args.files
                else:
                    run_id = client.create_run(experiment).info.run_id
                    start = time.perf_counter()
                    client.log_artifacts(run_id, str(src))
                    seconds["mlflow"].append(time.perf_counter() - start)
                    ok = mlflow_count(client, run_id) == args.files
                landed[side] = landed[side] and ok
            shutil.rmtree(src)
    emit({"files": args.files, "bytes": total, "seconds": seconds, "all_landed": landed})


if __name__ == "__main__":
    main()
