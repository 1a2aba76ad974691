"""How long retention planning takes over 100,000 artifacts (``satchel.retention.expired``).

Usage: ``python bench/retention_plan.py [--artifacts N] [--index sqlite|postgres] [--work DIR]``

Seeds N completed artifacts (half checkpoints with an ``acc`` metric, half logs, over 200
runs, 5 % pinned, over 60 days) into a fresh index, then times ``expired`` for each of
three policies alone and for the three together (what ``satchel gc`` plans), best of
three. Prints one ``BENCH-RESULT`` line.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _util import emit
from satchel.index import ArtifactWrite, open_index
from satchel.models import Artifact, ArtifactFile, Run, new_id
from satchel.retention import RetentionPolicy, expired

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SHA = "cd" * 32


def seed(index_url: str, count: int) -> None:
    index = open_index(index_url)
    rng = random.Random(7)
    runs = [f"run-{i:03d}" for i in range(200)]
    for run_id in runs:
        index.ensure_run(Run(run_id=run_id, status="done", started_at=NOW))
    batch: list[ArtifactWrite] = []
    for n in range(count):
        created = NOW - timedelta(seconds=rng.randrange(60 * 86400))
        checkpoint = n % 2 == 0
        artifact = Artifact(
            artifact_id=new_id(),
            name=f"ckpt-{n % 7}.pt" if checkpoint else "train.log",
            kind="checkpoint" if checkpoint else "log",
            run_id=rng.choice(runs),
            sha256=SHA,
            bytes=1,
            created_at=created,
            updated_at=created,
            metrics={"acc": rng.random()} if checkpoint else {},
            pinned=rng.random() < 0.05,
            files=[ArtifactFile(path="f", sha256=SHA, bytes=1, status="completed")],
        )
        batch.append(ArtifactWrite(artifact=artifact, inline_blobs={SHA: b"x"}))
        if len(batch) == 2000:
            index.commit_writes(batch)
            batch = []
    if batch:
        index.commit_writes(batch)
    index.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--index", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="satchel-retention-"))
    if args.index == "sqlite":
        run(f"sqlite:///{work / 'index.db'}", args.artifacts)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import pgserver  # noqa: PLC0415 - the tests' PostgreSQL helper: a schema of its own

    try:
        run(pgserver.index_url(), args.artifacts, index_kind="postgres")
    finally:
        pgserver.drop_created()


def run(url: str, count: int, *, index_kind: str = "sqlite") -> None:
    started = time.perf_counter()
    seed(url, count)
    seeded = time.perf_counter() - started
    policies = {
        "ttl_30d_everything": RetentionPolicy(ttl_seconds=30 * 86400),
        "checkpoints_last3_best2_per_run": RetentionPolicy(
            kind="checkpoint", group_by="run", keep_last=3, keep_best=2, metric="acc"
        ),
        "logs_last5_per_name": RetentionPolicy(kind="log", group_by="name", keep_last=5),
    }
    index = open_index(url)
    figures: dict[str, float] = {}
    counts: dict[str, int] = {}
    cases = {**{k: [v] for k, v in policies.items()}, "all_three": list(policies.values())}
    for name, chosen in cases.items():
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            found = expired(index, now=NOW, policies=chosen)
            best = min(best, time.perf_counter() - t)
        figures[name] = round(best, 3)
        counts[name] = len(found)
    index.close()
    emit(
        {
            "artifacts": count,
            "index": index_kind,
            "seed_s": round(seeded, 1),
            "plan_s": figures,
            "expired": counts,
        }
    )


if __name__ == "__main__":
    main()
