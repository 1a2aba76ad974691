"""``satchel usage`` at N artifacts: the time of ``SqlIndex.usage`` on SQLite and PostgreSQL.

Usage: ``python bench/usage.py [--artifacts N] [--sqlite DIR] [--postgres URL] [--repeat R]``

The rows are written through ``SqlIndex.commit_writes`` (the save path's own insert) in
batches: each artifact has one to three files, in 10 orgs of 5 users; a third of the files
reuse one of 1,000 shared contents (dedup within and across orgs), 5% of the artifacts are
pinned and 2% still pending. Reports the best and the median of ``--repeat`` calls of every
org's figures with the store's total, and of one org's, per backend. PostgreSQL runs in a
schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from _util import emit
from satchel.index import ArtifactWrite, open_index
from satchel.index.sql import SqlIndex
from satchel.models import Artifact, ArtifactFile

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 2000


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _artifact(i: int) -> Artifact:
    files = []
    for n in range(1 + i % 3):
        shared = (i + n) % 3 == 0
        key = f"shared-{(i * 7 + n) % 1000}" if shared else f"own-{i}-{n}"
        size = 1000 + (
            zlib.crc32(key.encode()) % 100_000 if not shared else (i * 7 + n) % 1000 * 10
        )
        status = "pending" if i % 50 == 0 and n == 0 else "completed"
        files.append(ArtifactFile(path=f"f{n}.bin", sha256=_digest(key), bytes=size, status=status))
    when = T0 + timedelta(seconds=i)
    return Artifact(
        artifact_id=f"{i:026d}",
        name=f"artifact-{i}",
        kind="model",
        status="pending" if i % 50 == 0 else "completed",
        bytes=sum(f.bytes for f in files),
        created_at=when,
        updated_at=when,
        pinned=i % 20 == 0 and i % 50 != 0,
        org_id=f"org-{i % 10}",
        user_id=f"user-{i % 10}-{i // 10 % 5}",
        files=files,
    )


def _fill(idx: SqlIndex, n: int) -> float:
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        idx.commit_writes(
            [ArtifactWrite(artifact=_artifact(i)) for i in range(first, min(n, first + BATCH))]
        )
    return time.perf_counter() - start


def _time(idx: SqlIndex, repeat: int, org_id: str | None) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        idx.usage(org_id=org_id)
        times.append(time.perf_counter() - start)
    return {"best_s": min(times), "median_s": statistics.median(times)}


def _measure(url: str, n: int, repeat: int) -> dict[str, object]:
    idx = open_index(url)
    assert isinstance(idx, SqlIndex)
    try:
        filled = _fill(idx, n)
        report = idx.usage()
        assert report.total is not None and report.total.artifacts == n - n // 50
        return {
            "fill_s": filled,
            "all_orgs": _time(idx, repeat, None),
            "one_org": _time(idx, repeat, "org-3"),
            "total": report.total.to_dict(),
        }
    finally:
        idx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--sqlite", default=None, help="A directory for the SQLite file.")
    parser.add_argument("--postgres", default=None, help="A PostgreSQL URL (no schema).")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, object] = {"artifacts": args.artifacts}
    with tempfile.TemporaryDirectory(dir=args.sqlite) as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'index.db'}"
        results["sqlite"] = _measure(sqlite_url, args.artifacts, args.repeat)
    if args.postgres:
        schema = f"satchel_usage_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(args.postgres.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = f"{args.postgres}?options={quote(f'-csearch_path={schema},public', safe='')}"
            results["postgres"] = _measure(url, args.artifacts, args.repeat)
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    emit(results)


if __name__ == "__main__":
    main()
