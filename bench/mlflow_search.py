"""Search figures, the peer's side: MLflow ``search_runs`` on a local SQLite tracking store.

Usage: ``python bench/mlflow_search.py --runs N --queries Q --work DIR [--budget S]``

Creates up to ``--runs`` runs with ``MlflowClient`` in one experiment: each run is
``create_run`` then one ``log_batch`` (left RUNNING: ``set_terminated`` would cost a third
write per run) with the same shape as satchel's artifacts (kind and
five labels as params, ``acc``/``loss``/``f1`` as metrics, two tags). Creating runs through
MLflow is slow, so creation stops after ``--budget`` seconds and the result says how many
runs exist; the queries then run over that many.

Then, warm, ``--queries`` varied queries of each shape: ``search_runs`` with a metric filter,
two param filters and ``order_by`` on the metric, ``max_results=50`` (a first page) and
``max_results=1`` (the best run).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from _util import emit, median, percentile
from search import ARCHS, DATASETS, KINDS, SPLITS, TAGS, one_artifact


def create_runs(client: MlflowClient, experiment: str, n: int, budget: float) -> tuple[int, float]:
    rng = random.Random(1234)
    start = time.perf_counter()
    made = 0
    now = int(time.time() * 1000)
    while made < n and time.perf_counter() - start < budget:
        spec = one_artifact(rng, made)
        run = client.create_run(experiment, run_name=spec["name"])
        params = [Param("kind", spec["kind"])]
        params += [Param(k, str(v)) for k, v in spec["labels"].items()]
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, now, 0) for k, v in spec["metrics"].items()],
            params=params,
            tags=[RunTag(t, "1") for t in spec["tags"]],
        )
        made += 1
    return made, time.perf_counter() - start


def queries(rng: random.Random, q: int) -> list[dict[str, Any]]:
    out = []
    for i in range(q):
        metric = rng.choice(("acc", "f1"))
        where = [
            f"metrics.{metric} > 0.5",
            f"params.kind = '{rng.choice(KINDS)}'",
            f"params.dataset = '{rng.choice(DATASETS)}'",
        ]
        if i % 2:
            where.append(f"params.split = '{rng.choice(SPLITS)}'")
        else:
            where.append(f"params.arch = '{rng.choice(ARCHS)}'")
        if i % 4 == 0:
            where.append(f"tags.{rng.choice(TAGS)} = '1'")
        out.append({"filter_string": " and ".join(where), "order_by": [f"metrics.{metric} DESC"]})
    return out


def timed(client: MlflowClient, experiment: str, shapes: list[dict[str, Any]], limit: int) -> Any:
    client.search_runs([experiment], max_results=limit, **shapes[0])  # warm-up
    seconds: list[float] = []
    hits = 0
    for kwargs in shapes:
        t0 = time.perf_counter()
        found = client.search_runs([experiment], max_results=limit, **kwargs)
        seconds.append(time.perf_counter() - t0)
        hits += len(found)
    return seconds, hits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--work", required=True)
    parser.add_argument("--budget", type=float, default=float("inf"))
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

    os.makedirs(args.work, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{args.work}/mlflow.db")
    client = MlflowClient()
    artifacts = os.path.join(args.work, "artifacts")
    experiment = client.create_experiment("bench", artifact_location=f"file://{artifacts}")
    made, create_s = create_runs(client, experiment, args.runs, args.budget)
    shapes = queries(random.Random(99), args.queries)
    page_s, page_hits = timed(client, experiment, shapes, 50)
    best_s, best_hits = timed(client, experiment, shapes, 1)
    emit(
        {
            "requested": args.runs,
            "runs": made,
            "create_seconds": create_s,
            "page_s": page_s,
            "page_hits": page_hits,
            "page_p50_ms": median(page_s) * 1e3,
            "page_p95_ms": percentile(page_s, 95) * 1e3,
            "best_s": best_s,
            "best_hits": best_hits,
            "best_p50_ms": median(best_s) * 1e3,
            "best_p95_ms": percentile(best_s, 95) * 1e3,
            "example_filter": shapes[0]["filter_string"],
            "mlflow_version": mlflow.__version__,
        }
    )


if __name__ == "__main__":
    main()
