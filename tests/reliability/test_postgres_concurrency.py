"""Concurrency on a shared PostgreSQL index (P5): 16 processes x 100 saves lose no write.

The processes start on a fresh schema, so they also race to migrate it; each saves while
the others do, into one blob store directory and one index, and acknowledges every save
it got back. Afterwards every acknowledged artifact is in the index, with its own bytes,
and the index holds nothing else. A text search then finds them all: the positions the
saves drew in commit order leave no row behind the text index's watermark.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import pgserver
import satchel

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
            saved = arts.save_text(text, name=f"w{worker}-{seq}.txt", labels={"seq": seq})
            print(json.dumps({"id": saved.artifact_id, "text": text}), flush=True)
    """
)


@pytest.mark.slow
def test_sixteen_processes_save_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pgserver.fresh_schema() as index:
        store = tmp_path / "store"
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
                    str(store),
                    index,
                    str(w),
                    str(readies[w]),
                    str(go),
                    str(SAVES),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
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
            print(f"\n{PROCESSES} x {SAVES} saves on PostgreSQL: {elapsed:.1f} s")

        with satchel.Context(store=str(store), index=index) as ctx:
            arts = ctx.sync_artifacts()
            for number, (artifact_id, text) in enumerate(acks.items()):
                got = arts.get_by_id(artifact_id)
                assert got is not None, f"lost write {artifact_id}"
                assert got.sha256 == hashlib.sha256(text.encode()).hexdigest()
                if number % 10 == 0:  # the bytes too (a read verifies them), for a tenth
                    assert arts.load_text_by_id(artifact_id) == text
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
