"""Figures 1 and 2: ``save_file`` of a large file vs ``shutil.copyfile`` + fsync, and dedup.

Usage: ``python bench/large_file.py --file F --sha256 HEX --work DIR [--runs 3]``

The source file is read once first, so both sides read a warm page cache (nothing is
dropped from it). Each run alternates: the peer copies the file to a new path and fsyncs
the copy; satchel saves it into a fresh store (a first save: new store, empty hash cache)
and then saves it again in the same process (dedup). The best run of each side counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time

import satchel
from _util import emit, read_whole


def copy_and_fsync(src: str, dst: str) -> float:
    start = time.perf_counter()
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


async def satchel_run(src: str, store: str, expected: str) -> tuple[float, float, bool]:
    ctx = satchel.Context(store=store, run_id="bench")
    try:
        arts = ctx.artifacts()
        start = time.perf_counter()
        first = await arts.save_file(src, kind="checkpoint")
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        again = await arts.save_file(src, kind="checkpoint")
        again_s = time.perf_counter() - start
        ok = first.sha256 == expected == again.sha256 and first.artifact_id != again.artifact_id
    finally:
        await ctx.aclose()
    return first_s, again_s, ok


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    size = read_whole(args.file)  # warm the page cache for both sides
    peer: list[float] = []
    first: list[float] = []
    again: list[float] = []
    verified = True
    for run in range(args.runs):
        dst = os.path.join(args.work, f"copy-{run}.bin")
        peer.append(copy_and_fsync(args.file, dst))
        os.unlink(dst)
        store = os.path.join(args.work, f"store-{run}")
        first_s, again_s, ok = await satchel_run(args.file, store, args.sha256)
        shutil.rmtree(store)
        first.append(first_s)
        again.append(again_s)
        verified = verified and ok
    emit(
        {
            "bytes": size,
            "copyfile_fsync_s": peer,
            "save_file_first_s": first,
            "save_file_again_s": again,
            "digest_verified": verified,
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
