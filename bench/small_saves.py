"""Figures 3 and 4, satchel's side: many durable ``save_text`` of small texts.

Usage: ``python bench/small_saves.py --mode sync|async-seq|async-gather --ops N --reps R
--work DIR [--store URL --index URL]``

Each repetition opens a fresh store (a directory under ``--work`` with its SQLite index;
or, for the scale figure, the ``--store`` and ``--index`` given, which must be fresh and
allow one repetition only), saves a few warm-up texts (untimed, like the peer's),
then times ``--ops`` saves: one after the other on the sync facade (``sync``) or the async
facade (``async-seq``), or all at once with ``asyncio.gather`` (``async-gather``). Every
save is durable when it returns (SQLite WAL, ``synchronous=FULL``; or a PostgreSQL
commit). Afterwards the run's
artifacts are listed to check that every save landed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import satchel
from _util import emit, small_text

WARMUP = 10


def run_sync(store: str, index: str | None, ops: int) -> tuple[float, int]:
    with satchel.Context(store=store, index=index, run_id="bench") as ctx:
        arts = ctx.sync_artifacts()
        for i in range(WARMUP):
            arts.save_text(small_text(-i - 1), name=f"warmup-{i}.txt")
        start = time.perf_counter()
        for i in range(ops):
            arts.save_text(small_text(i), name=f"log-{i:05d}.txt")
        elapsed = time.perf_counter() - start
        count = len(arts.list(limit=None))
    return elapsed, count


async def run_async(store: str, index: str | None, ops: int, *, gather: bool) -> tuple[float, int]:
    ctx = satchel.Context(store=store, index=index, run_id="bench")
    try:
        arts = ctx.artifacts()
        for i in range(WARMUP):
            await arts.save_text(small_text(-i - 1), name=f"warmup-{i}.txt")
        start = time.perf_counter()
        if gather:
            await asyncio.gather(
                *(arts.save_text(small_text(i), name=f"log-{i:05d}.txt") for i in range(ops))
            )
        else:
            for i in range(ops):
                await arts.save_text(small_text(i), name=f"log-{i:05d}.txt")
        elapsed = time.perf_counter() - start
        count = len(await arts.list(limit=None))
    finally:
        await ctx.aclose()
    return elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("sync", "async-seq", "async-gather"), required=True)
    parser.add_argument("--ops", type=int, required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", required=True)
    parser.add_argument("--store", help="a fresh store URL (one repetition)")
    parser.add_argument("--index", help="a fresh index URL (one repetition)")
    args = parser.parse_args()
    if (args.store or args.index) and args.reps != 1:
        parser.error("--store and --index name one fresh store: use --reps 1")

    seconds: list[float] = []
    landed = True
    for rep in range(args.reps):
        store = args.store or os.path.join(args.work, f"{args.mode}-{rep}")
        if args.mode == "sync":
            elapsed, count = run_sync(store, args.index, args.ops)
        else:
            elapsed, count = asyncio.run(
                run_async(store, args.index, args.ops, gather=args.mode == "async-gather")
            )
        seconds.append(elapsed)
        landed = landed and count == args.ops + WARMUP
    emit({"mode": args.mode, "ops": args.ops, "seconds": seconds, "all_landed": landed})


if __name__ == "__main__":
    main()
