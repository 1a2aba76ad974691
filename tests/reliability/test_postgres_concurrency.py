"""Concurrency on a shared PostgreSQL index (P5): 16 processes x 100 saves lose no write.

The processes start on a fresh schema, so they also race to migrate it; each saves while
the others do, into one blob store and one index, and acknowledges every save it got
back. The store is a local directory, and then the scale pair's: a fresh prefix in the
session's SeaweedFS bucket (issue 4's "16 processes x 100 saves against PostgreSQL +
SeaweedFS"); the children reach it with the ``AWS_*`` keys the ``seaweed`` fixture put in
the environment, as a user's processes would. These texts are small enough to be kept
inline in the index by default, so on S3 the children save with ``SATCHEL_INLINE_MAX=0``:
every save is then a put-if-absent to the bucket and a PostgreSQL commit. Afterwards every
acknowledged artifact is in the index, and reading it back through satchel (which checks
SHA-256) gives its own bytes; the index and the store hold nothing else. A text search then
finds them all (by name: only inline texts have their content indexed): the positions the
saves drew in commit order leave no row behind the text index's watermark.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import pgserver
import satchel
from _seaweed import Seaweed, unique_prefix
from satchel.storage import open_blob_store

PROCESSES = 16
SAVES = 100

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import satchel

    store, index, worker, ready, go = sys.argv[1:6]
    with satchel.Context(store=store, index=index, run_id="run-" + worker) as ctx:
        arts = ctx.sync_artifacts()
        Path(ready).touch()
        while not Path(go).exists():
            time.sleep(0.005)
        for seq in range(int(sys.argv[6])):
            text = f"worker {worker} save {seq} pelican"
            saved = arts.save_text(text, name=f"pelican-w{worker}-{seq}.txt", labels={"seq": seq})
            print(json.dumps({"id": saved.artifact_id, "text": text}), flush=True)
    """
)


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty blob store of ``kind``: a directory, or a prefix in the bucket."""
    if kind == "s3":
        server: Seaweed = request.getfixturevalue("seaweed")
        return server.url(unique_prefix())
    return str(tmp_path / "store")


@pytest.mark.slow
@pytest.mark.parametrize("store_kind", ["local", "s3"])
def test_sixteen_processes_save_at_once(
    store_kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pgserver.fresh_schema() as index:
        store = store_url(store_kind, tmp_path, request)
        env = dict(os.environ)
        if store_kind == "s3":
            env["SATCHEL_INLINE_MAX"] = "0"
        go = tmp_path / "go"
        readies = [tmp_path / f"ready-{w}" for w in range(PROCESSES)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-W",
                    "error",
                    "-c",
                    CHILD,
                    store,
                    index,
                    str(w),
                    str(readies[w]),
                    str(go),
                    str(SAVES),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for w in range(PROCESSES)
        ]
        try:
            deadline = time.monotonic() + 120
            while not all(r.exists() for r in readies):
                dead = [p for p in procs if p.poll() is not None]
                assert not dead, dead[0].communicate()[1]
                assert time.monotonic() < deadline, "the workers never got ready"
                time.sleep(0.01)
            started = time.monotonic()
            go.touch()
            results = [p.communicate(timeout=300) for p in procs]
            elapsed = time.monotonic() - started
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        acks: dict[str, str] = {}
        for proc, (out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0 and not err, err
            lines = [json.loads(line) for line in out.splitlines()]
            assert len(lines) == SAVES
            acks.update((a["id"], a["text"]) for a in lines)
        assert len(acks) == PROCESSES * SAVES
        with capsys.disabled():
            print(f"\n{PROCESSES} x {SAVES} saves, {store_kind} + PostgreSQL: {elapsed:.1f} s")

        digests = {hashlib.sha256(text.encode()).hexdigest() for text in acks.values()}
        with satchel.Context(store=store, index=index) as ctx:
            arts = ctx.sync_artifacts()
            for artifact_id, text in acks.items():
                got = arts.get_by_id(artifact_id)
                assert got is not None, f"lost write {artifact_id}"
                assert got.sha256 == hashlib.sha256(text.encode()).hexdigest()
                assert arts.load_text_by_id(artifact_id) == text  # the read checks SHA-256
            found = arts.search(query="pelican", level="org", limit=PROCESSES * SAVES)
            assert {a.artifact_id for a in found} == set(acks)
        engine = sa.create_engine(index.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as conn:
                count = conn.execute(sa.text("SELECT count(*) FROM artifacts")).scalar()
                seqs = conn.execute(sa.text("SELECT count(DISTINCT seq) FROM artifacts")).scalar()
        finally:
            engine.dispose()
        assert count == seqs == PROCESSES * SAVES
        blobs = open_blob_store(store)
        try:  # on S3 every text is a blob of its own, and nothing else is under the prefix
            expected = digests if store_kind == "s3" else set()  # local: all inline
            assert {d.hexdigest for d, _ in blobs.iter_blobs()} == expected
        finally:
            blobs.close()
