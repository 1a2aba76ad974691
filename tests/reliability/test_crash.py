"""Crash matrix (P1, P2, P3): a saving process is SIGKILLed at every named step of every kind
of save, and at random moments. Afterwards every acknowledged artifact is present and
verifies, nothing partial is visible, the leftovers are only temp files and unreferenced
blobs, and saving the same bytes again works.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _harness import (
    KIB,
    MIB,
    blob_digests_of,
    check_after_crash,
    check_layout,
    check_store,
    child_command,
    child_env,
    collect_after_crash,
    expected_of,
    open_store,
    random_bytes,
    read_records,
    save_sync,
    verify_artifact,
    write_tree,
)

import satchel
from satchel import _faults

BLOB_POINTS = ("blob.chunk_written", "blob.fsynced", "blob.committed")
INDEX_POINTS = ("index.before_commit", "index.committed")
#: The named points each kind of save passes, in order.
PASSES = {
    "text": INDEX_POINTS,
    "file": BLOB_POINTS + INDEX_POINTS,
    "dir": (*BLOB_POINTS, "dir.file_stored", *INDEX_POINTS),
    "writer": BLOB_POINTS + INDEX_POINTS,
}
MATRIX = [
    *[("async", kind, point) for kind, points in PASSES.items() for point in points],
    # The blocking twin commits on the caller's thread: its own path to the index.
    *[("sync", kind, point) for kind in ("text", "file") for point in INDEX_POINTS],
]
RUN_ID = "crash-run"


@dataclass(frozen=True)
class Inputs:
    acked: list[tuple[str, dict[str, Any]]]  # saves acknowledged before the crash
    finals: dict[str, dict[str, Any]]  # the save killed mid-way, per kind


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("crash-inputs")
    (root / "acked.bin").write_bytes(random_bytes(64 * KIB, "acked.bin"))
    (root / "acked.stream").write_bytes(random_bytes(100 * KIB, "acked.stream"))
    (root / "final.bin").write_bytes(random_bytes(5 * MIB, "final.bin"))
    (root / "final.stream").write_bytes(random_bytes(4 * MIB + 123, "final.stream"))
    write_tree(
        root / "acked.d",
        {
            "a.txt": b"small acked file\n",
            "b/big.bin": random_bytes(40 * KIB, "acked.d/big"),
            "c/d/e.json": b'{"acked": true}',
        },
    )
    # The first file (in key order) goes to the blob store, so "dir.file_stored" comes
    # after one durable blob and before the others.
    write_tree(
        root / "final.d",
        {
            "a/model.bin": random_bytes(3 * MIB, "final.d/model"),
            "b.txt": "a small file, ünïcode\n".encode(),
            "c/weights.bin": random_bytes(40 * KIB, "final.d/weights"),
            "c/z.json": b'{"final": true}',
        },
    )
    acked = [
        ("acked-text", {"kind": "text", "text": "acknowledged text ✓"}),
        ("acked-json", {"kind": "json", "value": {"acked": [1, 2, 3]}}),
        ("acked-file", {"kind": "file", "path": str(root / "acked.bin")}),
        ("acked-dir", {"kind": "dir", "path": str(root / "acked.d")}),
        ("acked-writer", {"kind": "writer", "path": str(root / "acked.stream"), "piece": 7000}),
    ]
    finals = {
        "text": {"kind": "text", "text": "the save that was killed ✗ " * 20},
        "file": {"kind": "file", "path": str(root / "final.bin")},
        "dir": {"kind": "dir", "path": str(root / "final.d")},
        "writer": {"kind": "writer", "path": str(root / "final.stream"), "piece": 1 * MIB},
    }
    return Inputs(acked=acked, finals=finals)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new, migrated store, copied for each case so that a child need not create one."""
    store = tmp_path_factory.mktemp("template") / "store"
    satchel.Context(store=store).close()
    return store


def _first_blob(payload: dict[str, Any]) -> str:
    """The digest of the first blob a save writes (files are stored in key order)."""
    if payload["kind"] != "dir":
        return expected_of(payload)["sha256"]
    return expected_of(payload)["files"]["a/model.bin"]


def _expected_garbage(point: str, payload: dict[str, Any]) -> tuple[int, set[str]]:
    """How many temp files and which unreferenced blobs a kill at ``point`` leaves."""
    if point in ("blob.chunk_written", "blob.fsynced"):
        return 1, set()
    if point in ("blob.committed", "dir.file_stored"):
        return 0, {_first_blob(payload)}
    if point == "index.before_commit":
        return 0, blob_digests_of(payload)
    return 0, set()


def test_matrix_covers_every_named_point() -> None:
    """Each named point is killed at by this matrix (the SDK's saves), the server's
    (``test_crash_server``), ``satchel run``'s (``test_crash_capture``) or ``satchel gc``'s
    (``test_crash_gc``)."""
    from test_crash_capture import CAPTURE_POINTS  # noqa: PLC0415
    from test_crash_gc import GC_POINTS  # noqa: PLC0415
    from test_crash_server import LOCAL_POINTS, S3_POINTS  # noqa: PLC0415

    sdk = {point for _, _, point in MATRIX}
    covered = sdk | set(LOCAL_POINTS) | set(S3_POINTS) | set(CAPTURE_POINTS) | set(GC_POINTS)
    assert covered == set(_faults.POINTS)
    assert sdk == {p for p in _faults.POINTS if p.startswith(("blob.", "dir.", "index."))}


@pytest.mark.slow
@pytest.mark.parametrize(("twin", "kind", "point"), MATRIX)
def test_sigkill_at_named_point(
    twin: str, kind: str, point: str, inputs: Inputs, empty_store: Path, tmp_path: Path
) -> None:
    store = shutil.copytree(empty_store, tmp_path / "store")
    ack = tmp_path / "ack.jsonl"
    final = inputs.finals[kind]
    cfg = {
        "mode": "crash",
        "twin": twin,
        "store": str(store),
        "run_id": RUN_ID,
        "ack": str(ack),
        "acked": inputs.acked,
        "final": final,
        "point": point,
    }
    proc = subprocess.run(
        child_command(tmp_path / "cfg", cfg),
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, (
        f"the child was not killed at {point} (exit {proc.returncode}): {proc.stderr}"
    )
    assert proc.stderr == ""

    acks = {r["seq"]: r["id"] for r in read_records(ack)}
    assert set(acks) == {seq for seq, _ in inputs.acked}
    expected = {seq: expected_of(p) for seq, p in inputs.acked}
    expected["final"] = expected["again"] = expected_of(final)
    seen = check_store(store, run_id=RUN_ID, acked=acks, expected=expected, may_exist={"final"})
    # Committed means durable: only a kill after the commit leaves the artifact, whole.
    assert ("final" in seen) == (point == "index.committed")

    temps, orphans = _expected_garbage(point, final)
    garbage = check_layout(store, allowed_orphans=orphans)
    assert len(garbage.temp_files) == temps
    assert garbage.orphan_blobs == orphans
    with contextlib.closing(open_store(store)) as opened:
        report = check_after_crash(opened)
    assert {w.key for w in report.warnings if w.kind == "orphan_blob"} == orphans
    assert len([w for w in report.warnings if w.kind == "garbage"]) == temps

    with satchel.Context(store=store, run_id=RUN_ID) as ctx:
        arts = ctx.sync_artifacts()
        again = save_sync(arts, final, {"seq": "again"})
        found = arts.get_by_id(again.artifact_id)
        assert found is not None
        verify_artifact(arts, found, expected["again"])
    # The blobs the killed save left behind are the ones the new save uses.
    assert check_layout(store, allowed_orphans=set()).orphan_blobs == set()
    with contextlib.closing(open_store(store)) as opened:
        collected = collect_after_crash(opened)
    assert collected.leftovers_removed == temps


def _kill_loop_round(cfg: dict[str, Any], tmp: Path, acks_before_kill: int, delay: float) -> str:
    """Start a saving loop, SIGKILL it after some acknowledged saves; returns its stderr."""
    log = Path(cfg["log"])
    with subprocess.Popen(
        child_command(tmp, cfg),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    ) as proc:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            acked = [r for r in read_records(log) if "ack" in r]
            if len(acked) >= acks_before_kill:
                break
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"the loop ended by itself: {stderr}"
    return stderr


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    seed = random.randrange(1 << 32)
    rnd = random.Random(seed)
    store = tmp_path / "store"
    run_id = "loop-run"
    records: list[dict[str, Any]] = []
    for round_no in range(4):
        # One log per round: a line torn by the kill stays the last line of its file.
        log = tmp_path / f"log-{round_no}.jsonl"
        cfg = {
            "mode": "loop",
            "store": str(store),
            "run_id": run_id,
            "log": str(log),
            "scratch": str(tmp_path / "scratch"),
            "round": round_no,
            "max": 1_000_000,
        }
        # Round 0 may die while opening a new store; later ones after some saves.
        if round_no == 0:
            stderr = _kill_loop_round(cfg, tmp_path / "cfg", 0, rnd.uniform(0.0, 0.4))
        else:
            stderr = _kill_loop_round(cfg, tmp_path / "cfg", rnd.randint(1, 12), rnd.random() / 20)
        assert stderr == "", f"seed {seed}: {stderr}"

        records += read_records(log)
        intents = {r["intent"]: r["expect"] for r in records if "intent" in r}
        acks = {r["ack"]: r["id"] for r in records if "ack" in r}
        in_flight = {s for s in intents if s not in acks and s.startswith(f"{round_no}-")}
        assert len(in_flight) <= 1, f"seed {seed}: {in_flight}"
        may_exist = set(intents) - set(acks)
        check_store(store, run_id=run_id, acked=acks, expected=intents, may_exist=may_exist)
        allowed: set[str] = set()
        for exp in intents.values():
            allowed |= {exp["sha256"]} if exp["type"] == "file" else set(exp["files"].values())
        check_layout(store, allowed_orphans=allowed)
        with contextlib.closing(open_store(store)) as opened:
            check_after_crash(opened)
    # What the kills left (orphan blobs, temp files) goes with a collection.
    with contextlib.closing(open_store(store)) as opened:
        collect_after_crash(opened)
