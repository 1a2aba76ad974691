"""Figure 5: peak RSS increase of a process while it saves one very large file.

Usage: ``python bench/peak_rss.py --file F --sha256 HEX --store DIR``

This process imports satchel, opens the store and its async facade, then records its RSS,
resets its peak RSS (``/proc/self/clear_refs``), saves the file and reads the peak again.
The increase is the peak during the save minus the RSS just before it; ``ru_maxrss``
after minus before is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import satchel
from _util import emit, maxrss_kib, proc_status_kib, reset_peak_rss


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--store", required=True)
    args = parser.parse_args()

    ctx = satchel.Context(store=args.store, run_id="bench")
    try:
        arts = ctx.artifacts()
        rss_before = proc_status_kib("VmRSS")
        maxrss_before = maxrss_kib()
        hwm_reset = reset_peak_rss()
        start = time.perf_counter()
        artifact = await arts.save_file(args.file, kind="checkpoint")
        elapsed = time.perf_counter() - start
        hwm_after = proc_status_kib("VmHWM")
        maxrss_after = maxrss_kib()
    finally:
        await ctx.aclose()
    emit(
        {
            "bytes": artifact.bytes,
            "seconds": elapsed,
            "rss_before_kib": rss_before,
            "vmhwm_reset": hwm_reset,
            "vmhwm_after_kib": hwm_after,
            "maxrss_before_kib": maxrss_before,
            "maxrss_after_kib": maxrss_after,
            "digest_verified": artifact.sha256 == args.sha256,
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
