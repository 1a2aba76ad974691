"""PostgreSQL index at N artifacts: listing, filters and ``best``, with the plans behind them.

Usage: ``python bench/pg_index.py --url postgresql://postgres@127.0.0.1/test --artifacts N
[--queries Q] [--keep]``

The rows are generated in SQL (``generate_series``) in a schema of their own, not through
the SDK: this measures the read side, whose plans depend on the indexes and the row count,
not the save path (``small_saves.py`` measures that). Each artifact has one of six kinds,
one of 1,000 runs, two string labels (``domain``, ``arch``), an integer label (``epoch``),
two metrics (``acc``, ``loss``) and one tag. The schema is dropped afterwards unless
``--keep``. The queries go through ``SqlIndex.query`` (the code path the SDK takes); the
report has p50/p95 per shape and ``EXPLAIN ANALYZE`` of one query of each.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from _util import emit, median, percentile
from satchel.index import ArtifactQuery, open_index
from satchel.index.query import build_select
from satchel.index.sql import SqlIndex

KINDS = ("model", "dataset", "report", "checkpoint", "eval", "plot")
DOMAINS = ("vision", "nlp", "audio", "tabular", "rl")
ARCHS = ("resnet", "vit", "bert", "gpt", "mlp", "unet", "lstm", "t5", "clip", "yolo")

# One statement per table; ``i`` is the artifact number, times one second apart; kind, labels
# and tag drawn independently of each other (a hash of ``i`` each).
_ID = "lpad(i::text, 26, '0')"
_TIME = (
    "to_char(timestamp '2026-01-01' + i * interval '1 second', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
)
_KIND = (
    "(ARRAY['model','dataset','report','checkpoint','eval','plot'])"
    "[1 + abs(hashtext(i::text || 'k')) % 6]"
)
_DOMAIN = "(ARRAY['vision','nlp','audio','tabular','rl'])[1 + abs(hashtext(i::text || 'd')) % 5]"
_ARCH = (
    "(ARRAY['resnet','vit','bert','gpt','mlp','unet','lstm','t5','clip','yolo'])"
    "[1 + abs(hashtext(i::text || 'a')) % 10]"
)
_EPOCH = "abs(hashtext(i::text || 'e')) % 50"
_TAG = "'t' || abs(hashtext(i::text || 't')) % 30"
GENERATE = [
    f"""INSERT INTO artifacts (artifact_id, name, kind, status, run_id, sha256, bytes, mime,
        created_at, updated_at, tags, labels, metrics, pinned, org_id, user_id, session_id)
        SELECT {_ID}, 'artifact-' || i, {_KIND}, 'completed', 'run-' || (i % 1000),
        md5(i::text) || md5(i::text), 100, 'text/plain', {_TIME}, {_TIME},
        '["' || {_TAG} || '"]',
        json_build_object('domain', {_DOMAIN}, 'arch', {_ARCH}, 'epoch', {_EPOCH})::text,
        json_build_object(
            'acc', (i::bigint * 7919 % 10007) / 10007.0,
            'loss', (i::bigint * 104729 % 10009) / 10009.0
        )::text,
        false, 'o1', 'u' || (i % 20), 's' || (i % 100)
        FROM generate_series(1, :n) AS i""",
    # Label and tag rows carry their artifact's kind (migration 0005), as saves write them.
    f"""INSERT INTO artifact_labels (artifact_id, key, vtype, vstr, vnum, kind)
        SELECT {_ID}, 'domain', 's', {_DOMAIN}, NULL::float8, {_KIND}
        FROM generate_series(1, :n) AS i
        UNION ALL SELECT {_ID}, 'arch', 's', {_ARCH}, NULL::float8, {_KIND}
        FROM generate_series(1, :n) AS i
        UNION ALL SELECT {_ID}, 'epoch', 'n', NULL::text, ({_EPOCH})::float8, {_KIND}
        FROM generate_series(1, :n) AS i""",
    f"""INSERT INTO artifact_metrics (artifact_id, name, value, kind, created_at)
        SELECT {_ID}, 'acc', (i::bigint * 7919 % 10007) / 10007.0, {_KIND}, {_TIME}
        FROM generate_series(1, :n) AS i
        UNION ALL SELECT {_ID}, 'loss', (i::bigint * 104729 % 10009) / 10009.0, {_KIND}, {_TIME}
        FROM generate_series(1, :n) AS i""",
    f"""INSERT INTO artifact_tags (artifact_id, tag, kind)
        SELECT {_ID}, {_TAG}, {_KIND} FROM generate_series(1, :n) AS i""",
    # As autovacuum leaves a table at rest: statistics, and the visibility map that lets
    # index-only scans (the filter-first counts) skip the table.
    "VACUUM ANALYZE",
]


def shapes(rng: random.Random) -> dict[str, ArtifactQuery]:
    kind, domain, arch = rng.choice(KINDS), rng.choice(DOMAINS), rng.choice(ARCHS)
    return {
        "list newest (org)": ArtifactQuery(equals={"org_id": "o1"}, limit=50),
        "list run": ArtifactQuery(equals={"run_id": f"run-{rng.randrange(1000)}"}, limit=50),
        "kind + 2 labels": ArtifactQuery(
            equals={"org_id": "o1", "kind": kind}, labels={"domain": domain, "arch": arch}, limit=50
        ),
        "kind + number label + tag": ArtifactQuery(
            equals={"kind": kind},
            labels={"epoch": rng.randrange(50)},
            tags_all=[f"t{rng.randrange(30)}"],
            limit=50,
        ),
        "best(kind, acc, domain)": ArtifactQuery(
            equals={"org_id": "o1", "kind": kind},
            labels={"domain": domain},
            metric="acc",
            metric_order="max",
            limit=1,
        ),
        "sorted by loss, kind + 2 labels": ArtifactQuery(
            equals={"kind": kind},
            labels={"domain": domain, "arch": arch},
            metric="loss",
            metric_order="min",
            limit=50,
        ),
    }


def explain(engine: sa.Engine, query: ArtifactQuery) -> list[str]:
    """The plan of the query's statement (a ranked query's whole-ranking form)."""
    from sqlalchemy.dialects import postgresql  # noqa: PLC0415

    sql = build_select(query).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}"))
        return [str(r[0]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--artifacts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    schema = f"satchel_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        args.url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.url}?options={quote(f'-csearch_path={schema},public', safe='')}"
    result: dict[str, Any] = {"artifacts": args.artifacts}
    try:
        idx = open_index(url)
        assert isinstance(idx, SqlIndex)
        started = time.perf_counter()
        with idx.engine.begin() as conn:
            for statement in GENERATE[:-1]:
                conn.execute(sa.text(statement), {"n": args.artifacts})
        with idx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(GENERATE[-1]))
        result["generate_s"] = round(time.perf_counter() - started, 1)
        rng = random.Random(7)
        figures: dict[str, dict[str, float]] = {}
        plans: dict[str, list[str]] = {}
        for name in shapes(rng):
            idx.query(shapes(random.Random(0))[name])  # warm
            samples = []
            for _ in range(args.queries):
                query = shapes(rng)[name]
                t = time.perf_counter()
                idx.query(query)
                samples.append((time.perf_counter() - t) * 1000)
            figures[name] = {
                "p50_ms": round(median(samples), 2),
                "p95_ms": round(percentile(samples, 95), 2),
            }
            plans[name] = explain(idx.engine, shapes(random.Random(1))[name])
            print(f"{name}: {figures[name]}", flush=True)
        result["queries"] = figures
        result["plans"] = plans
        idx.close()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    for name, plan in result.get("plans", {}).items():
        print(f"\n-- {name}\n" + "\n".join(plan))
    emit(result)


if __name__ == "__main__":
    main()
