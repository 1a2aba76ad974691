"""Figures 3 and 4, the peer's side: MLflow ``log_text`` on a local SQLite tracking store.

Usage: ``python bench/mlflow_peer.py --ops N --reps R --work DIR [--tracking-uri URI
--artifact-location URI]``

Each repetition makes a fresh tracking store (``sqlite:///<dir>/mlflow.db``), one
experiment whose artifact location is a local directory, and one run; it logs a few
warm-up texts (untimed, like satchel's), then times ``--ops`` sequential ``log_text``
calls. Each call writes the text to a local temp file, copies it to a hidden temp file in
the artifact directory and renames that into place; nothing is fsynced (and, the run's
artifact repository being cached, nothing is committed to the SQLite store), so a crash
can lose acknowledged texts. Its figure is for writes that are not durable.

For the scale figure, ``--tracking-uri`` (a fresh PostgreSQL schema) and
``--artifact-location`` (``s3://bucket/prefix``, reached through ``MLFLOW_S3_ENDPOINT_URL``
and the ``AWS_*`` variables) replace both, for one repetition: each ``log_text`` is then a
temp file uploaded with boto3 as one S3 object, and nothing reaches the tracking store.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import mlflow
from mlflow.tracking import MlflowClient

from _util import emit, small_text

WARMUP = 10


def one_rep(root: str, ops: int, tracking: str | None, location: str | None) -> tuple[float, int]:
    os.makedirs(root)
    mlflow.set_tracking_uri(tracking or f"sqlite:///{root}/mlflow.db")
    location = location or f"file://{os.path.join(root, 'artifacts')}"
    experiment = mlflow.create_experiment("bench", artifact_location=location)
    with mlflow.start_run(experiment_id=experiment) as run:
        for i in range(WARMUP):
            mlflow.log_text(small_text(-i - 1), f"warmup/warmup-{i}.txt")
        start = time.perf_counter()
        for i in range(ops):
            mlflow.log_text(small_text(i), f"logs/log-{i:05d}.txt")
        elapsed = time.perf_counter() - start
    count = len(MlflowClient().list_artifacts(run.info.run_id, "logs"))
    return elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", required=True)
    parser.add_argument("--tracking-uri", help="a fresh tracking store (one repetition)")
    parser.add_argument("--artifact-location", help="the experiment's artifact root")
    args = parser.parse_args()
    if (args.tracking_uri or args.artifact_location) and args.reps != 1:
        parser.error("--tracking-uri and --artifact-location name one fresh store: --reps 1")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

    seconds: list[float] = []
    landed = True
    for rep in range(args.reps):
        elapsed, count = one_rep(
            os.path.join(args.work, f"mlflow-{rep}"),
            args.ops,
            args.tracking_uri,
            args.artifact_location,
        )
        seconds.append(elapsed)
        landed = landed and count == args.ops
    emit(
        {
            "ops": args.ops,
            "seconds": seconds,
            "all_landed": landed,
            "mlflow_version": mlflow.__version__,
        }
    )


if __name__ == "__main__":
    main()
