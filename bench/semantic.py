"""Semantic search figures: query latency over N artifacts, and the embedding costs.

Usage: ``python bench/semantic.py --artifacts N --embed-sample S --queries Q --store DIR``

N artifacts are saved through the SDK (async facade, ``asyncio.gather`` in batches), each
with a name, kind, labels, metrics, tags and a short text. Embedding all of them with the
real model would take about 25 ms each on this machine (40 minutes for 100,000), so:

1. the first S artifacts are embedded by the real catch-up (``SemanticSearch.catch_up``
   with all-MiniLM-L6-v2), which is timed and reported as artifacts per second;
2. every other artifact gets the vector of one of those S real documents, with a little
   noise added and normalised again, stored through the same ``store_vectors`` call and
   watermark as the catch-up. The ranking's cost depends on the number of vectors, not on
   where they came from.

Then, warm, over Q varied queries (half with a kind or label filter, session level):
the query's embedding time alone; the search excluding the embedding (ranking every vector,
SQL filter check, loading the artifacts), which is the figure with the target; and the whole
``search(mode="semantic")`` call as a user sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

import numpy as np

import satchel
from _util import emit, median, percentile
from satchel.facade._scope import scope_query
from satchel.search.embed import default_embedder
from satchel.search.semantic import SemanticSearch, pack

BATCH = 2000
SESSION = "bench-session"
KINDS = ("model", "dataset", "report", "checkpoint", "eval", "plot")
TOPICS = (
    "image classification on photos of animals",
    "sentiment analysis of product reviews",
    "speech recognition of meeting recordings",
    "object detection of cars and pedestrians",
    "machine translation from german to english",
    "tabular churn prediction for telecom customers",
    "medical image segmentation of tumours",
    "time series forecasting of electricity demand",
    "recommendation of movies from viewing history",
    "question answering over wikipedia passages",
)
QUERIES = (
    "which model recognises spoken words best",
    "checkpoints of the photo classifier",
    "forecast of power consumption",
    "predicting customers who leave",
    "translation quality between languages",
    "finding tumours in scans",
    "detecting people on the road",
    "what do users think of the product",
    "suggesting films to watch",
    "answering questions from an encyclopedia",
)


def one_artifact(rng: random.Random, i: int) -> dict[str, Any]:
    kind = KINDS[i % len(KINDS)]
    topic = TOPICS[i % len(TOPICS)]
    return {
        "payload": f"{topic}, experiment {i}, variant {rng.randrange(1000)}\n",
        "name": f"{kind}-{i:07d}",
        "kind": kind,
        "labels": {"dataset": f"ds{rng.randrange(20):02d}", "split": rng.choice(("val", "test"))},
        "metrics": {"acc": round(rng.random(), 6), "f1": round(rng.random(), 6)},
        "tags": [f"tag{rng.randrange(30):02d}"],
    }


async def generate(store: str, n: int) -> float:
    rng = random.Random(7)
    start = time.perf_counter()
    ctx = satchel.Context(store=store, run_id="run-0000", session_id=SESSION)
    try:
        arts = ctx.artifacts()
        for first in range(0, n, BATCH):
            batch = [one_artifact(rng, i) for i in range(first, min(n, first + BATCH))]
            await asyncio.gather(*(arts.save_text(b.pop("payload"), **b) for b in batch))
    finally:
        await ctx.aclose(status="done")
    return time.perf_counter() - start


def fill(index: Any, searcher: SemanticSearch, sample: int) -> dict[str, float]:
    """Embed ``sample`` artifacts for real, then give the rest noisy copies of those."""
    t0 = time.perf_counter()
    real: list[np.ndarray] = []
    while len(real) < sample:
        docs, position = index.pending_documents(searcher.model, min(256, sample - len(real)))
        if not docs:
            break
        vectors = searcher.embedder.embed([text for _, text in docs])
        index.store_vectors(
            searcher.model,
            [(i, pack(v)) for (i, _), v in zip(docs, vectors, strict=True)],
            position,
        )
        real.extend(np.asarray(v, dtype=np.float32) for v in vectors)
    embed_s = time.perf_counter() - t0
    rng = np.random.default_rng(3)
    copied = 0
    t0 = time.perf_counter()
    while True:
        docs, position = index.pending_documents(searcher.model, 5000)
        if not docs:
            break
        base = np.stack([real[rng.integers(len(real))] for _ in docs])
        noisy = base + rng.normal(0, 0.02, base.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        index.store_vectors(
            searcher.model, [(i, pack(v)) for (i, _), v in zip(docs, noisy, strict=True)], position
        )
        copied += len(docs)
    return {
        "embedded": len(real),
        "embed_seconds": embed_s,
        "embed_per_s": len(real) / embed_s,
        "copied": copied,
        "copy_seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=int, required=True)
    parser.add_argument("--embed-sample", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--store", required=True)
    args = parser.parse_args()

    result: dict[str, Any] = {"artifacts": args.artifacts}
    result["gen_seconds"] = asyncio.run(generate(args.store, args.artifacts))
    t0 = time.perf_counter()
    embedder = default_embedder()
    result["model_load_seconds"] = time.perf_counter() - t0
    searcher = SemanticSearch(embedder)
    rng = random.Random(11)
    with satchel.Context(
        store=args.store, run_id="run-0000", session_id=SESSION, embedder=embedder
    ) as ctx:
        index = ctx.store.index
        result.update(fill(index, searcher, args.embed_sample))
        arts = ctx.sync_artifacts()
        shapes: list[dict[str, Any]] = []
        for i in range(args.queries):
            filters: dict[str, Any] = {}
            if i % 4 == 1:
                filters["kind"] = rng.choice(KINDS)
            elif i % 4 == 3:
                filters["labels"] = {"dataset": f"ds{rng.randrange(20):02d}"}
            shapes.append({"query": rng.choice(QUERIES), "limit": 10, **filters})
        key = index.url
        embed_s: list[float] = []
        rank_s: list[float] = []
        total_s: list[float] = []
        hits = 0
        # Warm: the first search reads every vector into memory (timed on its own).
        t0 = time.perf_counter()
        searcher.search(index, key, "warm up", scope_query(ctx.info, level="session"), 10)
        result["first_search_seconds"] = time.perf_counter() - t0
        for shape in shapes:
            query = scope_query(
                ctx.info,
                level="session",
                kind=shape.get("kind"),
                filters=shape.get("labels"),
                limit=None,
            )
            assert query is not None
            t0 = time.perf_counter()
            vector = searcher.embed_query(shape["query"])
            t1 = time.perf_counter()
            found = index.get_many(searcher.ranked_ids(index, key, vector, query, 10))
            t2 = time.perf_counter()
            embed_s.append(t1 - t0)
            rank_s.append(t2 - t1)
            hits += len(found)
        arts.search(query="warm up", mode="semantic", level="session", limit=10)
        for shape in shapes:
            kwargs = {k: v for k, v in shape.items() if k != "query"}
            t0 = time.perf_counter()
            arts.search(query=shape["query"], mode="semantic", level="session", **kwargs)
            total_s.append(time.perf_counter() - t0)
    for name, secs in (("query_embed", embed_s), ("search", rank_s), ("total", total_s)):
        result[f"{name}_p50_ms"] = median(secs) * 1e3
        result[f"{name}_p95_ms"] = percentile(secs, 95) * 1e3
    result["hits"] = hits
    result["queries"] = len(shapes)
    emit(result)


if __name__ == "__main__":
    main()
