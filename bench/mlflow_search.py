"""Search figures, the peer's side: MLflow ``search_runs`` on a local SQLite tracking store.

Usage: ``python bench/mlflow_search.py --runs N --queries Q --work DIR [--budget S]
[--client-runs C] [--query-budget S]``

Every run has the same shape as satchel's artifacts (``one_artifact`` of ``search.py``, the
same generator and seed): kind and five labels as params, ``acc``/``loss``/``f1`` as
metrics, two tags, left RUNNING (``set_terminated`` would cost a third write per run).

Creating runs through ``MlflowClient`` runs at about 45-60 runs/s here, far too slow for
100,000 or 1,000,000 runs, so the store is built in two phases:

1. client: the experiment and the first ``--client-runs`` runs (200) through
   ``MlflowClient`` (``create_run`` + one ``log_batch`` each), so that MLflow's own code
   creates the schema (its Alembic migrations) and writes the real rows;
2. bulk: the rest inserted straight into MLflow's SQLite tables (``runs``, ``metrics``,
   ``latest_metrics``, ``params``, ``tags``) with ``sqlite3`` ``executemany``, one
   transaction per 25,000 runs, every row built from the client phase's first run as a
   template (same columns, same value types: hex ``uuid4`` run ids, start times in ms, the
   same artifact URI layout, ``lifecycle_stage`` 'active', status 'RUNNING').

Before the bulk phase, the rows the bulk builder makes for each client-made run are checked
to be exactly the rows MLflow wrote, and that MLflow wrote to no other table. No ``ANALYZE``
afterwards: MLflow never runs it, so its store has no statistics either way. ``--budget``
time-boxes both phases together (checked between transactions); the result says how many
runs exist and how many each phase made, and the queries run over that many.

After the bulk phase, fidelity checks through ``search_runs`` itself (they raise, so the
benchmark fails rather than measure a broken store): for the first benchmark queries and a
few more filters (param, tag, ``<`` and ``>`` metric filters, both sort directions), the
set of runs MLflow returns is exactly the set a brute-force Python filter over the generated
specs gives, and the top run of the ``order_by`` is one of the specs' best; ``get_run`` of
the last bulk run returns its spec; the tables hold the expected row counts.

Then, warm, ``--queries`` varied queries of each shape: ``search_runs`` with a metric filter,
two param filters and ``order_by`` on the metric, ``max_results=50`` (a first page) and
``max_results=1`` (the best run). A shape stops early (fewer samples, reported) once
``--query-budget`` seconds have gone into it.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from _util import emit, median, percentile
from search import ARCHS, DATASETS, KINDS, SPLITS, TAGS, one_artifact

CLIENT_RUNS = 200
BULK_CHUNK = 25_000  # runs per bulk transaction
RUN_TABLES = ("runs", "metrics", "latest_metrics", "params", "tags")
# Tables MLflow fills on creating the store and the experiment, not per run.
STORE_TABLES = {"alembic_version", "experiments", "workspaces"}
CHECKS = 4  # the first benchmark queries, checked against the specs


@dataclass
class Query:
    """One ``search_runs`` filter and order, and the same predicate in Python."""

    metric: str
    params: dict[str, str]
    tag: str | None = None
    op: str = ">"
    threshold: float = 0.5
    desc: bool = True

    @property
    def filter_string(self) -> str:
        where = [f"metrics.{self.metric} {self.op} {self.threshold}"]
        where += [f"params.{k} = '{v}'" for k, v in self.params.items()]
        if self.tag is not None:
            where.append(f"tags.{self.tag} = '1'")
        return " and ".join(where)

    @property
    def order_by(self) -> list[str]:
        return [f"metrics.{self.metric} {'DESC' if self.desc else 'ASC'}"]

    def kwargs(self) -> dict[str, Any]:
        return {"filter_string": self.filter_string, "order_by": self.order_by}

    def matches(self, spec: dict[str, Any], params: dict[str, str]) -> bool:
        value = spec["metrics"][self.metric]
        if not (value > self.threshold if self.op == ">" else value < self.threshold):
            return False
        if any(params.get(k) != v for k, v in self.params.items()):
            return False
        return self.tag is None or self.tag in spec["tags"]


@dataclass
class Expected:
    """What a brute-force filter over the generated specs says a query returns."""

    query: Query
    run_ids: set[str] = field(default_factory=set)
    best: float | None = None
    best_ids: list[str] = field(default_factory=list)

    def see(self, run_id: str, spec: dict[str, Any], params: dict[str, str]) -> None:
        if not self.query.matches(spec, params):
            return
        self.run_ids.add(run_id)
        value = spec["metrics"][self.query.metric]
        better = self.best is None or (value > self.best if self.query.desc else value < self.best)
        if better:
            self.best, self.best_ids = value, [run_id]
        elif value == self.best:
            self.best_ids.append(run_id)


def log(message: str) -> None:
    """Progress on stderr (the orchestrator shows it only when the child fails)."""
    print(f"  mlflow_search: {message}", file=sys.stderr, flush=True)


def spec_params(spec: dict[str, Any]) -> dict[str, str]:
    return {"kind": spec["kind"], **{k: str(v) for k, v in spec["labels"].items()}}


def specs() -> Iterator[dict[str, Any]]:
    """The runs' specs, in order: the same generator and seed as satchel's artifacts."""
    rng = random.Random(1234)
    i = 0
    while True:
        yield one_artifact(rng, i)
        i += 1


def create_runs_client(
    client: MlflowClient,
    experiment: str,
    gen: Iterator[dict[str, Any]],
    n: int,
    budget: float,
    now: int,
    expected: list[Expected],
) -> tuple[list[tuple[str, dict[str, Any]]], float]:
    """Phase 1: runs through ``MlflowClient``; returns [(run id, spec)] and seconds."""
    start = time.perf_counter()
    made: list[tuple[str, dict[str, Any]]] = []
    while len(made) < n and time.perf_counter() - start < budget:
        spec = next(gen)
        run = client.create_run(experiment, run_name=spec["name"])
        params = spec_params(spec)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, now, 0) for k, v in spec["metrics"].items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(t, "1") for t in spec["tags"]],
        )
        made.append((run.info.run_id, spec))
        for e in expected:
            e.see(run.info.run_id, spec, params)
    return made, time.perf_counter() - start


class RowBuilder:
    """Builds a run's rows for MLflow's tables, from a client-made run as the template."""

    def __init__(self, conn: sqlite3.Connection, template_run: str, now: int) -> None:
        cur = conn.execute("SELECT * FROM runs WHERE run_uuid = ?", (template_run,))
        self.run_columns = [d[0] for d in cur.description]
        self.template = dict(zip(self.run_columns, cur.fetchone(), strict=True))
        self.template_run = template_run
        self.now = now
        self.columns = {
            t: [d[0] for d in conn.execute(f"SELECT * FROM {t} LIMIT 0").description]
            for t in RUN_TABLES
        }

    def rows(self, run_id: str, spec: dict[str, Any], start_time: int) -> dict[str, list[tuple]]:
        run = dict(self.template)
        run.update(
            run_uuid=run_id,
            name=spec["name"],
            start_time=start_time,
            artifact_uri=self.template["artifact_uri"].replace(self.template_run, run_id),
        )
        metric_rows = [
            {"key": k, "value": v, "timestamp": self.now, "step": 0, "is_nan": 0}
            for k, v in spec["metrics"].items()
        ]
        tags = {"mlflow.runName": spec["name"], **dict.fromkeys(spec["tags"], "1")}
        by_table: dict[str, list[dict[str, Any]]] = {
            "runs": [run],
            "metrics": metric_rows,
            "latest_metrics": metric_rows,
            "params": [{"key": k, "value": v} for k, v in spec_params(spec).items()],
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        out = {}
        for table, dicts in by_table.items():
            cols = self.columns[table]
            out[table] = [tuple({**d, "run_uuid": run_id}[c] for c in cols) for d in dicts]
        return out

    def insert_sql(self, table: str) -> str:
        cols = self.columns[table]
        names = ", ".join(f'"{c}"' for c in cols)
        return f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})"


def check_client_rows(
    conn: sqlite3.Connection, builder: RowBuilder, made: list[tuple[str, dict[str, Any]]]
) -> None:
    """The builder reproduces exactly the rows MLflow wrote for every client-made run."""
    filled = {
        t
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()
    }
    if filled - STORE_TABLES != set(RUN_TABLES):
        raise AssertionError(f"MLflow wrote to tables the bulk phase does not: {sorted(filled)}")
    for run_id, spec in made:
        (start_time,) = conn.execute(
            "SELECT start_time FROM runs WHERE run_uuid = ?", (run_id,)
        ).fetchone()
        built = builder.rows(run_id, spec, start_time)
        for table in RUN_TABLES:
            cols = ", ".join(f'"{c}"' for c in builder.columns[table])
            actual = conn.execute(
                f"SELECT {cols} FROM {table} WHERE run_uuid = ?", (run_id,)
            ).fetchall()
            if sorted(actual, key=repr) != sorted(built[table], key=repr):
                raise AssertionError(f"{table} rows of {run_id}: MLflow {actual}, bulk {built}")


def create_runs_bulk(
    db: str,
    builder: RowBuilder,
    gen: Iterator[dict[str, Any]],
    n: int,
    deadline: float,
    first_start_time: int,
    expected: list[Expected],
) -> tuple[int, str | None, dict[str, Any] | None]:
    """Phase 2: up to ``n`` runs inserted into MLflow's tables, until ``deadline``.

    Returns (runs made, last run id, its spec). Start times go on 1 ms apart from the last
    client-made run's.
    """
    conn = sqlite3.connect(db, isolation_level=None)
    # Bulk-load settings of this connection only; the file stays as MLflow made it (rollback
    # journal, 4 KiB pages), and MLflow's own connections use their defaults afterwards.
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB: the run_uuid indexes are random
    sql = {t: builder.insert_sql(t) for t in RUN_TABLES}
    made = 0
    last: tuple[str | None, dict[str, Any] | None] = (None, None)
    try:
        while made < n and time.perf_counter() < deadline:
            rows: dict[str, list[tuple]] = {t: [] for t in RUN_TABLES}
            for _ in range(min(BULK_CHUNK, n - made)):
                spec = next(gen)
                run_id = uuid.uuid4().hex
                made += 1
                for table, table_rows in builder.rows(
                    run_id, spec, first_start_time + made
                ).items():
                    rows[table] += table_rows
                params = spec_params(spec)
                for e in expected:
                    e.see(run_id, spec, params)
                last = (run_id, spec)
            conn.execute("BEGIN")
            for table in RUN_TABLES:
                conn.executemany(sql[table], rows[table])
            conn.execute("COMMIT")
            log(f"bulk: {made:,} runs")
    finally:
        conn.close()
    return made, *last


def benchmark_queries(rng: random.Random, q: int) -> list[Query]:
    out = []
    for i in range(q):
        metric = rng.choice(("acc", "f1"))
        params = {"kind": rng.choice(KINDS), "dataset": rng.choice(DATASETS)}
        if i % 2:
            params["split"] = rng.choice(SPLITS)
        else:
            params["arch"] = rng.choice(ARCHS)
        tag = rng.choice(TAGS) if i % 4 == 0 else None
        out.append(Query(metric, params, tag))
    return out


def extra_checks() -> list[Query]:
    """Filters unlike the benchmark's: other params, ``<`` on a metric, ascending order."""
    return [
        Query("loss", {"kind": "eval", "seed": "3"}, op="<", threshold=0.5, desc=False),
        Query("f1", {"lr": "0.0003", "split": "val"}, tag="tag07", op=">", threshold=0.8),
        Query("acc", {"arch": "vit", "dataset": "ds11"}, op="<", threshold=0.3, desc=True),
    ]


def verify(client: MlflowClient, experiment: str, expected: list[Expected]) -> list[dict]:
    """``search_runs`` gives exactly what the brute-force filter over the specs gives."""
    report = []
    for e in expected:
        t0 = time.perf_counter()
        found: list[Any] = []  # in the query's order: its first run is the top
        token = None
        while True:
            page = client.search_runs(
                [experiment], max_results=50_000, page_token=token, **e.query.kwargs()
            )
            found += page
            token = page.token
            if not token:
                break
        ids = {r.info.run_id for r in found}
        if len(ids) != len(found) or ids != e.run_ids:
            raise AssertionError(
                f"{e.query.filter_string}: search_runs {len(found)} runs, specs "
                f"{len(e.run_ids)} ({len(ids - e.run_ids)} extra, "
                f"{len(e.run_ids - ids)} missing)"
            )
        if found and (
            found[0].info.run_id not in e.best_ids
            or found[0].data.metrics[e.query.metric] != e.best
        ):
            raise AssertionError(
                f"{e.query.order_by}: top {found[0].info.run_id}, specs {e.best_ids}"
            )
        report.append(
            {
                "filter": e.query.filter_string,
                "order_by": e.query.order_by[0],
                "runs": len(ids),
                "top": e.best,
                "seconds": time.perf_counter() - t0,
            }
        )
        log(
            f"check {len(report)}/{len(expected)}: {len(ids):,} runs, {report[-1]['seconds']:.1f} s"
        )
    return report


def verify_run(client: MlflowClient, run_id: str, spec: dict[str, Any]) -> None:
    """MLflow reads a bulk-made run back as its spec."""
    run = client.get_run(run_id)
    tags = {"mlflow.runName": spec["name"], **dict.fromkeys(spec["tags"], "1")}
    got = (run.info.run_name, run.info.status, run.info.lifecycle_stage)
    if got != (spec["name"], "RUNNING", "active"):
        raise AssertionError(f"get_run({run_id}).info: {got}")
    if run.data.params != spec_params(spec) or run.data.metrics != spec["metrics"]:
        raise AssertionError(f"get_run({run_id}).data: {run.data}")
    if run.data.tags != tags:
        raise AssertionError(f"get_run({run_id}).data.tags: {run.data.tags}")


def verify_counts(db: str, runs: int) -> None:
    per_run = {"runs": 1, "metrics": 3, "latest_metrics": 3, "params": 6, "tags": 3}
    with sqlite3.connect(db) as conn:
        for table, k in per_run.items():
            (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            if count != k * runs:
                raise AssertionError(f"{table}: {count} rows for {runs} runs")
    conn.close()


def timed(
    client: MlflowClient, experiment: str, shapes: list[Query], limit: int, budget: float
) -> tuple[list[float], int]:
    client.search_runs([experiment], max_results=limit, **shapes[0].kwargs())  # warm-up
    seconds: list[float] = []
    hits = 0
    for query in shapes:
        if sum(seconds) > budget:
            break
        t0 = time.perf_counter()
        found = client.search_runs([experiment], max_results=limit, **query.kwargs())
        seconds.append(time.perf_counter() - t0)
        hits += len(found)
    return seconds, hits


@dataclass
class Built:
    """A store ``build_store`` made: its client, experiment and what each phase did."""

    client: MlflowClient
    experiment: str
    runs: int
    client_runs: int
    bulk_runs: int
    client_seconds: float
    bulk_seconds: float
    setup_seconds: float
    last_id: str | None
    last_spec: dict[str, Any] | None


def build_store(
    work: str, runs: int, budget: float, client_runs: int, expected: list[Expected]
) -> Built:
    """An MLflow SQLite tracking store of ``runs`` runs in ``work`` (``mlflow.db``, artifact
    root ``artifacts``), experiment "bench": the client phase, then the bulk phase (above);
    ``budget`` seconds for both. ``expected`` sees every run made."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    setup_start = time.perf_counter()
    deadline = setup_start + budget
    client = MlflowClient()
    artifacts = os.path.join(work, "artifacts")
    experiment = client.create_experiment("bench", artifact_location=f"file://{artifacts}")
    now = int(time.time() * 1000)
    gen = specs()
    client_made, client_s = create_runs_client(
        client,
        experiment,
        gen,
        min(client_runs, runs),
        max(0.0, deadline - time.perf_counter()),
        now,
        expected,
    )
    if not client_made:
        raise SystemExit("no run created through MlflowClient within the budget")
    with sqlite3.connect(db) as conn:
        builder = RowBuilder(conn, client_made[0][0], now)
        check_client_rows(conn, builder, client_made)
        (last_start,) = conn.execute("SELECT max(start_time) FROM runs").fetchone()
    conn.close()
    bulk_start = time.perf_counter()
    bulk_made, last_id, last_spec = create_runs_bulk(
        db, builder, gen, runs - len(client_made), deadline, last_start, expected
    )
    bulk_s = time.perf_counter() - bulk_start
    return Built(
        client=client,
        experiment=experiment,
        runs=len(client_made) + bulk_made,
        client_runs=len(client_made),
        bulk_runs=bulk_made,
        client_seconds=client_s,
        bulk_seconds=bulk_s,
        setup_seconds=time.perf_counter() - setup_start,
        last_id=last_id,
        last_spec=last_spec,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--work", required=True)
    parser.add_argument("--budget", type=float, default=float("inf"))
    parser.add_argument("--client-runs", type=int, default=CLIENT_RUNS)
    parser.add_argument("--query-budget", type=float, default=float("inf"))
    args = parser.parse_args()

    shapes = benchmark_queries(random.Random(99), args.queries)
    expected = [Expected(q) for q in shapes[:CHECKS] + extra_checks()]
    built = build_store(args.work, args.runs, args.budget, args.client_runs, expected)
    client, experiment, runs = built.client, built.experiment, built.runs

    verify_start = time.perf_counter()
    verify_counts(os.path.join(args.work, "mlflow.db"), runs)
    if built.last_id is not None and built.last_spec is not None:
        verify_run(client, built.last_id, built.last_spec)
    checks = verify(client, experiment, expected)
    verify_s = time.perf_counter() - verify_start

    page_s, page_hits = timed(client, experiment, shapes, 50, args.query_budget)
    best_s, best_hits = timed(client, experiment, shapes, 1, args.query_budget)
    emit(
        {
            "requested": args.runs,
            "runs": runs,
            "client_runs": built.client_runs,
            "bulk_runs": built.bulk_runs,
            "client_seconds": built.client_seconds,
            "bulk_seconds": built.bulk_seconds,
            "setup_seconds": built.setup_seconds,
            "create_seconds": built.setup_seconds,
            "budget": args.budget,
            "verify_seconds": verify_s,
            "checks": checks,
            "page_s": page_s,
            "page_n": len(page_s),
            "page_hits": page_hits,
            "page_p50_ms": median(page_s) * 1e3,
            "page_p95_ms": percentile(page_s, 95) * 1e3,
            "best_s": best_s,
            "best_n": len(best_s),
            "best_hits": best_hits,
            "best_p50_ms": median(best_s) * 1e3,
            "best_p95_ms": percentile(best_s, 95) * 1e3,
            "example_filter": shapes[0].filter_string,
            "mlflow_version": mlflow.__version__,
        }
    )


if __name__ == "__main__":
    main()
