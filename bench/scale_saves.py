"""Figure ``--scale``: 1,000 small saves on the scale pair vs embedded vs MLflow on the same pair.

Usage: ``python bench/scale_saves.py --ops N --rounds R --work DIR``

Issue 4 asks for satchel's small-save rate on S3 + PostgreSQL against satchel embedded, and
against MLflow with an S3 artifact root on the same SeaweedFS and a PostgreSQL tracking
store. This child starts one SeaweedFS (the tests' starter, ``tests/_seaweed.py``) and, in
every round, gives each side a fresh PostgreSQL schema (dropped after the round) and a
fresh prefix in the bucket; each side then runs as its own child, the same scripts as
figures 3-4 (``small_saves.py --mode sync``, ``mlflow_peer.py``), so the calls timed are
the same: sequential ``save_text`` / ``log_text`` of the same ~70-byte texts.

Four cases per round, interleaved so that a change in the machine's load hits all alike:

* ``scale``: satchel on S3 + PostgreSQL with its defaults. Texts this small are kept
  inline in the index (``inline_max``, 16 KiB), so a save is one PostgreSQL commit and
  touches no bucket.
* ``scale_blobs``: the same with ``SATCHEL_INLINE_MAX=0``: every save is a put-if-absent
  of the blob to S3, then the PostgreSQL commit; the like-for-like peer of MLflow's.
* ``embedded``: satchel on a local directory and its SQLite index (fsynced, as figure 3).
* ``mlflow``: MLflow ``log_text`` with the experiment's artifact location ``s3://`` on the
  same SeaweedFS (boto3, ``MLFLOW_S3_ENDPOINT_URL``) and a ``postgresql+psycopg://``
  tracking store in its own schema; each call uploads one S3 object.

The PostgreSQL server is ``SATCHEL_TEST_POSTGRES`` (the tests' variable; default the
machine's ``test`` database, trust auth).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, ProgrammingError

from _util import child, emit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _seaweed import Seaweed, running_seaweed

SERVER = os.environ.get("SATCHEL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
CASES = ("scale", "scale_blobs", "embedded", "mlflow")


def admin_engine() -> sa.Engine:
    url = sa.make_url(SERVER).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn, contextlib.suppress(IntegrityError, ProgrammingError):
        # satchel's migration creates it too; here it goes in ``public`` once, for every schema.
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    return engine


@contextlib.contextmanager
def fresh_schema(admin: sa.Engine, driver: str) -> Iterator[str]:
    """A new schema's URL (``search_path`` in the URL, ``public`` kept for pg_trgm)."""
    name = f"satchel_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        options = quote(f"-csearch_path={name},public", safe="")
        yield str(sa.make_url(SERVER).set(drivername=driver)) + f"?options={options}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def child_env(server: Seaweed, **extra: str) -> dict[str, str]:
    """This environment less any ``SATCHEL_*`` setting, plus the S3 keys and endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    env.update(server.env)
    env.update(
        AWS_DEFAULT_REGION=server.env["AWS_REGION"],
        MLFLOW_S3_ENDPOINT_URL=server.endpoint,
        SATCHEL_HOME=os.environ.get("SATCHEL_HOME", ""),
        **extra,
    )
    return {k: v for k, v in env.items() if v}


def one_round(
    server: Seaweed, admin: sa.Engine, work: Path, ops: int, rnd: int
) -> dict[str, dict[str, Any]]:
    common = ["--ops", str(ops), "--reps", "1", "--work", str(work)]
    out: dict[str, dict[str, Any]] = {}
    with fresh_schema(admin, "postgresql+psycopg") as tracking:
        location = f"s3://{server.bucket}/bench-mlflow-{rnd}-{uuid.uuid4().hex[:8]}"
        out["mlflow"] = child(
            "mlflow_peer.py",
            *common,
            "--tracking-uri",
            tracking,
            "--artifact-location",
            location,
            env=child_env(server),
        )
    for case, extra in (("scale", {}), ("scale_blobs", {"SATCHEL_INLINE_MAX": "0"})):
        with fresh_schema(admin, "postgresql") as index:
            store = server.url(f"bench-{case}-{rnd}-{uuid.uuid4().hex[:8]}")
            out[case] = child(
                "small_saves.py",
                "--mode",
                "sync",
                *common,
                "--store",
                store,
                "--index",
                index,
                env=child_env(server, **extra),
            )
    out["embedded"] = child("small_saves.py", "--mode", "sync", *common, env=child_env(server))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    admin = admin_engine()
    seconds: dict[str, list[float]] = {case: [] for case in CASES}
    landed = dict.fromkeys(CASES, True)
    mlflow_version = ""
    try:
        with running_seaweed() as server:
            for rnd in range(args.rounds):
                work = Path(args.work) / f"scale-{rnd}"
                work.mkdir(parents=True)
                results = one_round(server, admin, work, args.ops, rnd)
                for case, res in results.items():
                    seconds[case].extend(res["seconds"])
                    landed[case] = landed[case] and res["all_landed"]
                mlflow_version = results["mlflow"]["mlflow_version"]
    finally:
        admin.dispose()
    emit(
        {
            "ops": args.ops,
            "seconds": seconds,
            "all_landed": landed,
            "mlflow_version": mlflow_version,
        }
    )


if __name__ == "__main__":
    main()
