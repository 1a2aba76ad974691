"""Lexical search on a PostgreSQL index: catch-up and query times at N artifacts.

Usage: ``python bench/pg_search.py --url postgresql://postgres@127.0.0.1/test --artifacts N``

Artifacts are saved through the SDK (async facade, batches of 500) into a schema of their
own (dropped afterwards), each a text of six words of ``search.VOCAB`` with a name, one of
three kinds and a label. The first search indexes them all (the catch-up, timed on its
own); then ``ANALYZE`` (what autovacuum does a minute or so later); then 20 queries per
shape: two whole words, one word with a kind filter, a word with a typo
(``search.MISSPELT``), and the last ten characters of an artifact id (substring).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

import satchel
from _util import emit, median, percentile
from search import MISSPELT, VOCAB

KINDS = ("model", "report", "eval")


async def generate(arts: Any, n: int, rng: random.Random) -> None:
    for start in range(0, n, 500):
        await asyncio.gather(
            *[
                arts.save_text(
                    " ".join(rng.sample(VOCAB, 6)),
                    name=f"a{i}-{rng.choice(VOCAB)}.txt",
                    kind=rng.choice(KINDS),
                    labels={"domain": rng.choice(("vision", "nlp"))},
                )
                for i in range(start, min(n, start + 500))
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--artifacts", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name printed)")
    args = parser.parse_args()
    schema = f"satchel_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        args.url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.url}?options={quote(f'-csearch_path={schema},public', safe='')}"
    rng = random.Random(3)
    result: dict[str, Any] = {"artifacts": args.artifacts}
    try:
        with satchel.Context(store=f"memory://{schema}", index=url, run_id="r") as ctx:
            started = time.perf_counter()
            asyncio.run(generate(ctx.artifacts(), args.artifacts, rng))
            result["save_s"] = round(time.perf_counter() - started, 1)
            arts = ctx.sync_artifacts()
            started = time.perf_counter()
            arts.search(query="alpha", level="org", limit=1)
            result["catch_up_s"] = round(time.perf_counter() - started, 1)
            # Autovacuum gathers statistics a minute or so after a bulk load; until then the
            # planner guesses (a scope filter "matches 79 rows") and skips the GIN indexes.
            # The figures are for after it: ANALYZE here, as autovacuum would have by then.
            with admin.connect() as conn:
                conn.execute(sa.text(f'SET search_path = "{schema}"'))
                conn.execute(sa.text("ANALYZE"))
            ids = [a.artifact_id for a in arts.list(level="org", limit=20)]
            shapes: dict[str, list[tuple[str, dict[str, Any]]]] = {
                "two words": [(" ".join(rng.sample(VOCAB, 2)), {}) for _ in range(20)],
                "word + kind": [(rng.choice(VOCAB), {"kind": "model"}) for _ in range(20)],
                "typo": [(rng.choice(list(MISSPELT.values())), {}) for _ in range(20)],
                "partial id": [(i[-10:], {}) for i in ids],
            }
            for name, queries in shapes.items():
                samples = []
                for text, filters in queries:
                    t = time.perf_counter()
                    arts.search(query=text, level="org", limit=10, **filters)
                    samples.append((time.perf_counter() - t) * 1000)
                result[name] = {
                    "p50_ms": round(median(samples), 1),
                    "p95_ms": round(percentile(samples, 95), 1),
                }
                print(f"{name}: {result[name]}", flush=True)
    finally:
        if args.keep:
            print(f"kept schema {schema}")
        else:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    emit(result)


if __name__ == "__main__":
    main()
