"""The two runtimes of the default embedder, side by side: `python bench/embedders.py`.

For each runtime (sentence-transformers on PyTorch, NumPy), in a fresh child process so
that one runtime's imports and memory never count for the other:

* load: wall time of ``default_embedder(runtime)`` in a new process (imports included),
  and the process's peak RSS after loading and after the batch below;
* query: latency of embedding one short query, p50 and p95 over 100 (after 5 warm-ups);
* batch: throughput of one ``embed`` call over 256 varied texts (corpus-like, 5 to 60
  words), in texts per second, best of 3;
* agreement: the largest component difference between the two runtimes' vectors.

Prints a table, the machine's load average before and after, and one ``BENCH-RESULT``
line per runtime. Uses the interpreter it runs under, which needs both runtimes (the dev
install, or `.venv-bench` made by `bench/run`): `.venv/bin/python bench/embedders.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

from _util import RESULT_PREFIX, emit, median, percentile

RUNTIMES = ("sentence-transformers", "numpy")
WORDS = (
    "resnet",
    "checkpoint",
    "validation",
    "accuracy",
    "weekly",
    "report",
    "churn",
    "model",
    "speech",
    "transcripts",
    "imagenet",
    "epoch",
    "learning",
    "rate",
    "tokenizer",
    "bert",
    "finetuned",
    "sentiment",
    "tabular",
    "baseline",
    "forecast",
    "electricity",
    "demand",
    "tumour",
    "segmentation",
    "translation",
    "german",
    "english",
    "f1",
    "recall",
    "precision",
    "dataset",
    "split",
    "seed",
    "run",
    "loss",
    "curve",
    "confusion",
    "matrix",
    "embeddings",
    "vision",
    "audio",
)


def texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(5, 60))) for _ in range(count)]


def child(runtime: str) -> None:
    started = time.perf_counter()
    from satchel.search.embed import default_embedder  # noqa: PLC0415

    embedder = default_embedder(runtime)
    load_s = time.perf_counter() - started
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    query = "which model recognises spoken words best"
    for _ in range(5):
        embedder.embed([query])
    latencies = []
    for _ in range(100):
        t = time.perf_counter()
        embedder.embed([query])
        latencies.append((time.perf_counter() - t) * 1000)
    batch = texts(256)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        vectors = embedder.embed(batch)
        best = min(best, time.perf_counter() - t)
    emit(
        {
            "runtime": runtime,
            "load_s": load_s,
            "rss_load_mib": rss_load,
            "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "query_p50_ms": median(latencies),
            "query_p95_ms": percentile(latencies, 95),
            "batch_texts_per_s": len(batch) / best,
            "vectors_head": [v[:16] for v in vectors[:32]],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=RUNTIMES)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    results = {}
    load_before = os.getloadavg()[0]
    for runtime in RUNTIMES:
        out = subprocess.run(
            [sys.executable, __file__, "--child", runtime],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        line = next(x for x in out.splitlines() if x.startswith(RESULT_PREFIX))
        results[runtime] = json.loads(line[len(RESULT_PREFIX) :])
    a, b = (results[r].pop("vectors_head") for r in RUNTIMES)
    diff = max(abs(x - y) for va, vb in zip(a, b, strict=True) for x, y in zip(va, vb, strict=True))
    print(
        f"{'runtime':<22}{'load s':>8}{'RSS MiB':>9}{'peak MiB':>10}"
        f"{'query p50':>11}{'p95 ms':>8}{'batch/s':>9}"
    )
    for runtime, r in results.items():
        print(
            f"{runtime:<22}{r['load_s']:>8.2f}{r['rss_load_mib']:>9.0f}{r['rss_peak_mib']:>10.0f}"
            f"{r['query_p50_ms']:>11.2f}{r['query_p95_ms']:>8.2f}{r['batch_texts_per_s']:>9.0f}"
        )
        emit(r)
    print(f"largest difference between the runtimes' vectors: {diff:.1e}")
    # The figures depend on what else the machine runs: say how busy it was.
    print(f"load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
