"""``fsck --read-data`` vs plain sequential read + SHA-256 of the same bytes (issue 8).

Usage: ``python bench/fsck.py [--quick] [--runs 3] [--store DIR --reuse]``
(``bash bench/run --fsck [--quick]`` runs it in the benchmark venv).

Builds an embedded store (local directory + SQLite, the default) of about 2 GiB in a
realistic mix: 1,500 artifacts of 64 KiB to 4 MiB (sizes log-uniform, random bytes, each
its own blob) and two of 256 MiB (``--quick``: 300 and one of 128 MiB). Then, in each of
``--runs`` rounds, with the page cache dropped before each side (``sync; echo 3 >
/proc/sys/vm/drop_caches``, which needs root; without it both sides read a warm cache and
the output says so):

* the peer: the blob files, each read once in the order fsck reads them (the index's file
  rows, each distinct blob at its first row), one thread, 1 MiB ``readinto`` calls into one
  buffer, ``hashlib.sha256`` over each, the digest compared with the recorded one;
* satchel: ``satchel.fsck.fsck(store, read_data=True)``, the function ``satchel fsck
  --read-data`` runs (the CLI adds only its start-up and printing), index pages included.

The best round of each side counts; MiB/s = 2**20 bytes/s over the blobs' bytes. Prints
one line per figure as ``bench/bench.py`` does and writes ``.bench-out/results-fsck.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import satchel
from _report import Report, log
from _util import KIB, MIB
from satchel.fsck import fsck, iter_file_rows
from satchel.hashing import Digest
from satchel.storage.local import LocalBlobStore
from satchel.store import ArtifactStore

RATIO_TARGET = 0.8
FULL = {"small": 1500, "large": 2, "large_mib": 256}
QUICK = {"small": 300, "large": 1, "large_mib": 128}
PEER_CHUNK = 1 * MIB


def drop_caches() -> bool:
    """Drop the page cache (root only); False when this process may not."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w", encoding="ascii") as fh:
            fh.write("3\n")
    except OSError:
        return False
    return True


def build(root: Path, cfg: dict[str, int]) -> int:
    """Fill a fresh embedded store at ``root``; return the blobs' bytes."""
    rnd = random.Random(8)
    sizes = [
        int(math.exp(rnd.uniform(math.log(64 * KIB + 1), math.log(4 * MIB))))
        for _ in range(cfg["small"])
    ]
    sizes += [cfg["large_mib"] * MIB] * cfg["large"]
    rnd.shuffle(sizes)
    total = 0
    with satchel.Context(store=str(root), run_id="bench-fsck") as ctx:
        arts = ctx.sync_artifacts()
        for i, size in enumerate(sizes):
            kind = "checkpoint" if size >= 64 * MIB else "dataset"
            with arts.writer(kind=kind, name=f"blob-{i}.bin", planned_ext=".bin") as w:
                for start in range(0, size, 16 * MIB):
                    w.write(os.urandom(min(16 * MIB, size - start)))
            total += size
            if i % 250 == 0:
                log(f"saved {i + 1}/{len(sizes)} ({total / MIB:.0f} MiB)")
    return total


def fsck_order(store: ArtifactStore) -> list[tuple[Path, str]]:
    """The blob files in the order fsck reads them, each once, with their digests."""
    blobs = store.blobs
    assert isinstance(blobs, LocalBlobStore)
    seen: set[str] = set()
    order: list[tuple[Path, str]] = []
    for row in iter_file_rows(store):
        if row.inline or row.status != "completed" or row.sha256 in seen:
            continue
        seen.add(row.sha256)
        order.append((blobs.blob_path(Digest(hexdigest=row.sha256)), row.sha256))
    return order


def peer(order: list[tuple[Path, str]]) -> tuple[float, int]:
    """Plain sequential read + SHA-256 of every blob file; (seconds, bytes)."""
    buffer = bytearray(PEER_CHUNK)
    view = memoryview(buffer)
    total = 0
    start = time.perf_counter()
    for path, sha256 in order:
        hasher = hashlib.sha256()
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buffer):
                hasher.update(view[:n])
                total += n
        if hasher.hexdigest() != sha256:
            raise SystemExit(f"peer: {path} does not hash to {sha256}")
    return time.perf_counter() - start, total


def ours(store: ArtifactStore) -> tuple[float, int]:
    start = time.perf_counter()
    report = fsck(store, read_data=True)
    elapsed = time.perf_counter() - start
    if not report.ok or report.warnings:
        raise SystemExit(f"fsck found damage or warnings: {report.to_dict()}")
    return elapsed, report.bytes_read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about 400 MiB instead of 2 GiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", help="build the store here (default: a temporary dir)")
    parser.add_argument("--reuse", action="store_true", help="measure the --store as it is")
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="satchel-bench-fsck-", dir="/tmp"))
    root = Path(args.store) if args.store else work / "store"
    os.environ.setdefault("SATCHEL_HOME", str(work / "home"))
    report = Report("quick fsck" if args.quick else "full fsck", {"config": cfg})
    try:
        if not args.reuse:
            log(f"building a store of {cfg['small']} + {cfg['large']} artifacts at {root}")
            started = time.perf_counter()
            build(root, cfg)
            log(f"built in {time.perf_counter() - started:.0f} s")
        cold = drop_caches()
        settings = satchel.Settings.load(store=str(root))
        store = ArtifactStore.open(settings)
        try:
            order = fsck_order(store)
            size = sum(p.stat().st_size for p, _ in order)
            print(
                f"fsck benchmark: {len(order):,} blobs, {size / MIB:,.0f} MiB, local dir + "
                f"SQLite; page cache {'dropped before each side' if cold else 'WARM (not root)'}"
                f"; best of {args.runs} rounds, sides alternating; load average "
                f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
                flush=True,
            )
            peer_s: list[float] = []
            ours_s: list[float] = []
            for _ in range(args.runs):
                drop_caches()
                seconds, read = peer(order)
                assert read == size
                peer_s.append(seconds)
                drop_caches()
                seconds, read = ours(store)
                assert read == size, (read, size)
                ours_s.append(seconds)
                log(f"peer {peer_s[-1]:.2f} s, fsck {ours_s[-1]:.2f} s")
        finally:
            store.close()
        peer_mibs = size / MIB / min(peer_s)
        ours_mibs = size / MIB / min(ours_s)
        ratio = ours_mibs / peer_mibs
        report.raw["fsck"] = {"bytes": size, "blobs": len(order), "cold": cold}
        report.raw["fsck"] |= {"peer_s": peer_s, "fsck_s": ours_s}
        report.figure(
            "fsck_read_data",
            f"fsck --read-data {size / MIB:,.0f} MiB ({len(order):,} blobs, "
            f"{'cold' if cold else 'warm'}): {ours_mibs:,.0f} MiB/s | sequential read + "
            f"SHA-256 {peer_mibs:,.0f} MiB/s | ratio {ratio:.2f}x (target >= {RATIO_TARGET}x)",
            ratio >= RATIO_TARGET,
            value=ours_mibs,
            peer=peer_mibs,
            unit="MiB/s",
            ratio=ratio,
            target=f">= {RATIO_TARGET}x",
        )
        path = report.write("results-fsck.json")
        print(f"results: {path.name} in .bench-out")
    finally:
        shutil.rmtree(work, ignore_errors=True)  # a --store given is kept
    return 0


if __name__ == "__main__":
    sys.exit(main())
