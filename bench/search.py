"""Search figures, satchel's side: structured, ``best`` and lexical queries over N artifacts.

Usage: ``python bench/search.py --artifacts N --runs R --queries Q --store DIR
[--gen-budget S] [--query-budget S] [--reuse]``

``--reuse`` skips generation and queries the store an earlier run left at ``--store`` (copy
it first: opening it may migrate it, and the first text search fills its text indexes).

Generation goes through the SDK only: one ``Context`` per run (all runs in one session),
``save_text`` on the async facade, ``asyncio.gather`` in batches. Each artifact has one of
six kinds, five labels (three strings, an integer, a float), three metrics (``acc``,
``loss``, ``f1``), two tags and a short text naming a few words of a fixed vocabulary. When
``--gen-budget`` seconds pass before N artifacts are saved, generation stops there and the
result says how many were saved (the queries then run over that many).

Then, warm (every query shape runs once untimed first), over ``--queries`` varied queries
each: ``search_page`` with filters and a metric sort (first page of 50), ``best`` with
filters, a lexical query of whole words and a fuzzy one (a word with a typo). The first
text search after the saves fills the FTS5 indexes (catch-up); it is timed on its own and
is not a query figure. A shape stops early (fewer samples, reported) once
``--query-budget`` seconds have gone into it. ``EXPLAIN QUERY PLAN`` of the SQL behind
``best`` is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from typing import Any

import satchel
from _util import emit, median, percentile
from satchel.index.base import ArtifactQuery, QueryPosition
from satchel.index.query import build_select, ranking_edge
from satchel.index.sql import FIRST_WALK

BATCH = 2000
SESSION = "bench-session"
KINDS = ("model", "dataset", "report", "checkpoint", "eval", "plot")
DATASETS = tuple(f"ds{i:02d}" for i in range(20))
ARCHS = ("resnet", "vit", "bert", "gpt", "mlp", "unet", "lstm", "t5", "clip", "yolo")
SPLITS = ("train", "val", "test")
TAGS = tuple(f"tag{i:02d}" for i in range(30))
_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu "
    "amber basalt cobalt dolomite emerald feldspar granite hematite jasper kyanite "
    "lapis malachite nephrite obsidian peridot quartz rhodonite sapphire topaz "
    "ultramarine variscite wolframite xenotime yttrium zircon"
)
VOCAB = tuple(_WORDS.split())
MISSPELT = {  # a word of VOCAB with one letter changed, dropped or swapped
    "malachite": "malachyte",
    "obsidian": "obsidain",
    "sapphire": "saphire",
    "feldspar": "feldspr",
    "whiskey": "whiskee",
    "november": "novembr",
    "granite": "granete",
    "peridot": "peridott",
    "dolomite": "dolomyte",
    "hematite": "hemattite",
}


def run_id(i: int) -> str:
    return f"run-{i:04d}"


def one_artifact(rng: random.Random, i: int) -> dict[str, Any]:
    kind = KINDS[i % len(KINDS)]
    words = " ".join(rng.sample(VOCAB, 4))
    return {
        "payload": f"{kind} {i}: {words}\n",
        "name": f"{kind}-{ARCHS[i % len(ARCHS)]}-{i:07d}",
        "kind": kind,
        "labels": {
            "dataset": rng.choice(DATASETS),
            "arch": rng.choice(ARCHS),
            "split": rng.choice(SPLITS),
            "seed": rng.randrange(10),
            "lr": rng.choice((1e-4, 3e-4, 1e-3, 3e-3)),
        },
        "metrics": {
            "acc": round(rng.random(), 6),
            "loss": round(rng.random() * 5, 6),
            "f1": round(rng.random(), 6),
        },
        "tags": rng.sample(TAGS, 2),
    }


async def generate(store: str, n: int, runs: int, budget: float) -> tuple[int, float]:
    """Save up to ``n`` artifacts over ``runs`` runs; return (saved, seconds)."""
    rng = random.Random(1234)
    per_run = -(-n // runs)
    saved = 0
    start = time.perf_counter()
    for r in range(runs):
        ctx = satchel.Context(store=store, run_id=run_id(r), session_id=SESSION)
        try:
            arts = ctx.artifacts()
            end = min(n, saved + per_run)
            while saved < end:
                batch = [one_artifact(rng, i) for i in range(saved, min(end, saved + BATCH))]
                await asyncio.gather(*(arts.save_text(b.pop("payload"), **b) for b in batch))
                saved += len(batch)
                if time.perf_counter() - start > budget:
                    return saved, time.perf_counter() - start
        finally:
            await ctx.aclose(status="done")
    return saved, time.perf_counter() - start


def stored_count(store: str) -> int:
    """How many artifacts a store holds (for ``--reuse``)."""
    with sqlite3.connect(f"file:{store}/index.db?mode=ro", uri=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM artifacts").fetchone()
    conn.close()
    return int(count)


def timed(fn: Any, args_list: list[dict[str, Any]], budget: float) -> tuple[list[float], int]:
    """Seconds of each call (after one untimed warm-up); hits seen.

    Stops early, with fewer samples, once ``budget`` seconds have gone into this shape.
    """
    fn(**args_list[0])
    seconds: list[float] = []
    hits = 0
    for kwargs in args_list:
        if sum(seconds) > budget:
            break
        t0 = time.perf_counter()
        found = fn(**kwargs)
        seconds.append(time.perf_counter() - t0)
        if isinstance(found, list):  # search
            hits += len(found)
        elif found is not None:  # a SearchPage, or best's one artifact
            hits += len(getattr(found, "items", [found]))
    return seconds, hits


def structured_queries(rng: random.Random, q: int) -> list[dict[str, Any]]:
    out = []
    for i in range(q):
        labels: dict[str, Any] = {"dataset": rng.choice(DATASETS)}
        if i % 2:
            labels["split"] = rng.choice(SPLITS)
        if i % 3 == 0:
            labels["seed"] = rng.randrange(10)
        out.append(
            {
                "kind": rng.choice(KINDS),
                "labels": labels,
                "tags": [rng.choice(TAGS)] if i % 4 == 0 else None,
                "metric": rng.choice(("acc", "f1", "loss")),
                "metric_mode": "min" if i % 5 == 0 else "max",
                "level": "session" if i % 2 == 0 else "run",
                "limit": 50,
            }
        )
    return out


def best_queries(rng: random.Random, q: int) -> list[dict[str, Any]]:
    out = []
    for i in range(q):
        filters: dict[str, Any] = {"dataset": rng.choice(DATASETS)}
        if i % 2:
            filters["arch"] = rng.choice(ARCHS)
        out.append(
            {
                "kind": rng.choice(KINDS),
                "metric": rng.choice(("acc", "f1")),
                "metric_mode": "max",
                "filters": filters,
                "level": "session",
            }
        )
    return out


def explain_best(store: str, example: dict[str, Any]) -> dict[str, Any]:
    """The SQL ``best`` runs for ``example`` (session level), and SQLite's plans for it."""
    query = ArtifactQuery(
        equals={"session_id": SESSION, "kind": example["kind"]},
        labels=example["filters"],
        metric=example["metric"],
        metric_order=example["metric_mode"],
        limit=2,  # search_page asks for one more than the page
    )
    from sqlalchemy.dialects import sqlite  # noqa: PLC0415 - only for compiling

    def compiled(statement: Any) -> str:
        return str(
            statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
        )

    with sqlite3.connect(f"file:{store}/index.db?mode=ro", uri=True) as conn:
        # best walks the ranking up to its FIRST_WALK-th row first (SqlIndex._rows): that
        # edge, read off the index, then the walk itself, which is what answers at once
        # when the filters pass one row in a few hundred or more.
        edge_sql = compiled(ranking_edge(query, FIRST_WALK))
        edge = conn.execute(edge_sql).fetchone()
        until = None
        if edge is not None:
            until = QueryPosition(metric_value=edge[0], created_at=edge[1], artifact_id=edge[2])
        sql = compiled(build_select(query, until=until))
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        edge_plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + edge_sql)]
    conn.close()
    return {"sql": sql, "plan": plan, "edge_sql": edge_sql, "edge_plan": edge_plan}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=int, required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--store", required=True)
    parser.add_argument("--gen-budget", type=float, default=float("inf"))
    parser.add_argument("--query-budget", type=float, default=float("inf"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="skip generation: query the store an earlier run left at --store (for iterating)",
    )
    args = parser.parse_args()

    if args.reuse:
        saved, gen_s = stored_count(args.store), 0.0
    else:
        saved, gen_s = asyncio.run(generate(args.store, args.artifacts, args.runs, args.gen_budget))
    rng = random.Random(99)
    q, qb = args.queries, args.query_budget
    result: dict[str, Any] = {"requested": args.artifacts, "saved": saved, "gen_seconds": gen_s}
    # level="run" queries see run 0 (about N / runs artifacts); level="session" sees all.
    with satchel.Context(store=args.store, run_id=run_id(0), session_id=SESSION) as ctx:
        arts = ctx.sync_artifacts()
        t0 = time.perf_counter()
        arts.search(query="malachite", mode="lexical", limit=10)
        result["catch_up_seconds"] = time.perf_counter() - t0

        structured = structured_queries(rng, q)
        result["structured_s"], result["structured_hits"] = timed(arts.search_page, structured, qb)
        best = best_queries(rng, q)
        result["best_s"], result["best_hits"] = timed(arts.best, best, qb)
        result["best_explain"] = explain_best(args.store, best[0])
        text = {"mode": "lexical", "limit": 10, "level": "session"}
        lexical = [{"query": " ".join(rng.sample(VOCAB, 2)), **text} for _ in range(q)]
        result["lexical_s"], result["lexical_hits"] = timed(arts.search, lexical, qb)
        fuzzy = [{"query": rng.choice(list(MISSPELT.values())), **text} for _ in range(q)]
        result["fuzzy_s"], result["fuzzy_hits"] = timed(arts.search, fuzzy, qb)
        # A fuzzy query finds the word it misspells: the top hit's text names it.
        top = arts.search(query="malachyte", mode="lexical", limit=1, level="session")
        result["fuzzy_top_ok"] = bool(top) and "malachite" in arts.load_text_by_id(
            top[0].artifact_id
        )
    for key in ("structured", "best", "lexical", "fuzzy"):
        secs = result[f"{key}_s"]
        result[f"{key}_p50_ms"] = median(secs) * 1e3
        result[f"{key}_p95_ms"] = percentile(secs, 95) * 1e3
        result[f"{key}_n"] = len(secs)
    emit(result)


if __name__ == "__main__":
    main()
