"""Concurrency (P5): many processes saving into one local store at once lose no write and
never see "database is locked"; a save in one process is visible to the next read in
another; identical bytes saved at once are stored once; a thousand concurrent saves in one
process are a thousand distinct durable artifacts.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from _harness import (
    MIB,
    check_layout,
    child_command,
    child_env,
    random_bytes,
    read_index,
    read_records,
    sha,
    verify_artifact,
)

import satchel

PROCESSES = 8
SAVES = 200


def start(tmp: Path, cfg: dict[str, Any], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        child_command(tmp, cfg), text=True, env=child_env(), stderr=subprocess.PIPE, **kwargs
    )


def release_when_ready(ready: list[Path], go: Path, procs: list[subprocess.Popen[str]]) -> None:
    """Start every child's work at once: wait until all are ready, then create ``go``."""
    deadline = time.monotonic() + 120
    while not all(p.exists() for p in ready):
        dead = [p for p in procs if p.poll() is not None]
        assert not dead, f"a child died before it was ready: {dead[0].communicate()[1]}"
        assert time.monotonic() < deadline, "the children never got ready"
        time.sleep(0.01)
    go.touch()


def finish(procs: list[subprocess.Popen[str]]) -> None:
    """Wait for every child; each must exit 0 with nothing on stderr."""
    errors = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        if proc.returncode != 0 or stderr:
            errors.append(f"exit {proc.returncode}: {stderr}")
    joined = "\n".join(errors)
    assert "database is locked" not in joined
    assert not errors, joined


@pytest.mark.slow
def test_many_processes_lose_no_write(tmp_path: Path) -> None:
    store = tmp_path / "store"
    go = tmp_path / "go"
    cfgs = [
        {
            "mode": "worker",
            "store": str(store),
            "run_id": f"run-{w}",
            "n": SAVES,
            "scratch": str(tmp_path / f"scratch-{w}"),
            "ready": str(tmp_path / f"ready-{w}"),
            "go": str(go),
            "ack": str(tmp_path / f"ack-{w}.jsonl"),
        }
        for w in range(PROCESSES)
    ]
    # The store does not exist yet: the processes also race to create it.
    procs = [start(tmp_path / "cfg", cfg, stdout=subprocess.DEVNULL) for cfg in cfgs]
    try:
        release_when_ready([Path(c["ready"]) for c in cfgs], go, procs)
    finally:
        finish(procs)

    rows = read_index(store)
    assert len(rows.artifacts) == PROCESSES * SAVES
    with satchel.Context(store=store) as ctx:
        arts = ctx.sync_artifacts()
        all_ids: set[str] = set()
        for cfg in cfgs:
            acks = read_records(Path(cfg["ack"]))
            assert len(acks) == SAVES
            ids = {a["id"] for a in acks}
            assert len(ids) == SAVES
            all_ids |= ids
            with satchel.Context(store=store, run_id=cfg["run_id"]) as run_ctx:
                listed = run_ctx.sync_artifacts().list(level="run")
            assert {a.artifact_id for a in listed} == ids
            for ack in acks:
                art = arts.get_by_id(ack["id"])
                assert art is not None, f"lost write {ack['seq']}"
                assert art.labels["seq"] == ack["seq"]
                verify_artifact(arts, art, ack["expect"])
    assert all_ids == set(rows.artifacts)
    garbage = check_layout(store, allowed_orphans=set())
    assert garbage.temp_files == []


@pytest.mark.slow
def test_read_your_writes_across_processes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    satchel.Context(store=store).close()
    sides = [
        start(
            tmp_path / "cfg",
            {"mode": "ryw", "store": str(store), "run_id": f"ryw-{name}"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    try:
        for side in sides:
            assert side.stdout is not None
            assert side.stdout.readline() == "ready\n"

        def ask(side: subprocess.Popen[str], line: str) -> str:
            assert side.stdin is not None and side.stdout is not None
            side.stdin.write(line + "\n")
            side.stdin.flush()
            return side.stdout.readline().rstrip("\n")

        for i in range(30):
            writer, reader = (sides[0], sides[1]) if i % 2 == 0 else (sides[1], sides[0])
            text = f"written-{i}"
            artifact_id = ask(writer, f"save {text}")
            assert artifact_id, "the writer did not answer"
            # The reader learns the id only after the save returned; it must see it.
            assert json.loads(ask(reader, f"get {artifact_id}")) == text
    finally:
        finish(sides)  # closes their stdin: each side's loop ends


@pytest.mark.slow
def test_identical_content_at_once_is_one_blob(tmp_path: Path) -> None:
    store = tmp_path / "store"
    satchel.Context(store=store).close()
    data = random_bytes(4 * MIB, "identical")
    source = tmp_path / "same.bin"
    source.write_bytes(data)
    go = tmp_path / "go"
    cfgs = [
        {
            "mode": "same",
            "store": str(store),
            "run_id": f"same-{w}",
            "path": str(source),
            "ready": str(tmp_path / f"ready-{w}"),
            "go": str(go),
            "ack": str(tmp_path / f"ack-{w}.jsonl"),
        }
        for w in range(PROCESSES)
    ]
    procs = [start(tmp_path / "cfg", cfg, stdout=subprocess.DEVNULL) for cfg in cfgs]
    try:
        release_when_ready([Path(c["ready"]) for c in cfgs], go, procs)
    finally:
        finish(procs)

    ids = {read_records(Path(c["ack"]))[0]["id"] for c in cfgs}
    assert len(ids) == PROCESSES
    garbage = check_layout(store, allowed_orphans=set())
    assert garbage.temp_files == []
    with satchel.Context(store=store) as ctx:
        arts = ctx.sync_artifacts()
        blobs = list(ctx.store.blobs.iter_blobs())
        assert [(d.hexdigest, size) for d, size in blobs] == [(sha(data), len(data))]
        for artifact_id in ids:
            art = arts.get_by_id(artifact_id)
            assert art is not None
            verify_artifact(arts, art, {"type": "file", "sha256": sha(data), "bytes": len(data)})
    assert set(read_index(store).artifacts) == ids


@pytest.mark.slow
def test_thousand_concurrent_saves_in_one_process_are_durable(tmp_path: Path) -> None:
    """``asyncio.gather`` of 1,000 ``save_text``; the process is SIGKILLed right after."""
    store = tmp_path / "store"
    ack = tmp_path / "ack.jsonl"
    n = 1000
    cfg = {"mode": "gather", "store": str(store), "run_id": "gather", "n": n, "ack": str(ack)}
    proc = subprocess.run(
        child_command(tmp_path / "cfg", cfg),
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stderr == ""
    (entry,) = read_records(ack)
    ids = entry["ids"]
    assert len(set(ids)) == n
    with satchel.Context(store=store, run_id="gather") as ctx:
        arts = ctx.sync_artifacts()
        for i, artifact_id in enumerate(ids):
            art = arts.get_by_id(artifact_id)
            assert art is not None, f"acknowledged save {i} was lost"
            assert art.labels == {"i": i}
            assert arts.load_text_by_id(artifact_id) == f"gather {i}"
        assert {a.artifact_id for a in arts.list(level="run")} == set(ids)
    assert set(read_index(store).artifacts) == set(ids)


async def test_thousand_concurrent_saves_in_process(tmp_path: Path) -> None:
    """The same in the test's own event loop: all distinct, all listed, all readable."""
    async with satchel.Context(store=tmp_path / "store") as ctx:
        arts = ctx.artifacts()
        saved = await asyncio.gather(*(arts.save_text(f"t{i}") for i in range(1000)))
        assert len({a.artifact_id for a in saved}) == 1000
        listed = await arts.list(level="run")
        assert {a.artifact_id for a in listed} == {a.artifact_id for a in saved}
        texts = await asyncio.gather(*(arts.load_text_by_id(a.artifact_id) for a in saved))
        assert texts == [f"t{i}" for i in range(1000)]
