"""Shared by the reliability tests: payloads, save helpers, the child process, store checks.

Run as a script (``python -W error _harness.py <config.json>``) this module is the child
process of the crash, kill and concurrency tests; imported, it gives the parent the same
payloads and the checks it runs on a store afterwards. Expected digests are computed here
with ``hashlib`` from the sources, independently of satchel's own hashing.

A payload is a JSON-able dict naming what one save stores:

* ``{"kind": "text", "text": str}``: ``save_text``
* ``{"kind": "json", "value": Any}``: ``save_json``
* ``{"kind": "file", "path": str}``: ``save_file``
* ``{"kind": "dir", "path": str}``: ``ingest_dir``
* ``{"kind": "writer", "path": str, "piece": int}``: the file's bytes streamed through
  ``writer()`` in pieces of ``piece`` bytes

Every crash test checks with ``check_after_crash``: ``fsck --read-data`` of the store finds
no damage (warnings, the garbage a crash leaves, are allowed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import satchel
from satchel import _faults
from satchel.fsck import FsckReport, fsck
from satchel.gc import GcReport, collect_garbage
from satchel.storage.local import LocalBlobStore
from satchel.store import ArtifactStore

HERE = Path(__file__).resolve()
KIB = 1024
MIB = 1024 * KIB
INLINE_MAX = 16 * KIB  # the default ``Settings.inline_max``
EXIT_POINT_NOT_REACHED = 3
STORE_ENTRIES = {"index.db", "index.db-wal", "index.db-shm", "blobs", "tmp", "staging", "local"}
_BLOB_FILE = re.compile(r"[0-9a-f]{2}/[0-9a-f]{62}")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(n: int, seed: str) -> bytes:
    return random.Random(seed).randbytes(n)


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def json_bytes(value: Any) -> bytes:
    """The bytes ``save_json`` stores (compact JSON, UTF-8, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


# -- what a payload should store --------------------------------------------------------


def expected_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``{"type": "file", "sha256", "bytes"}`` or ``{"type": "dir", "files": {path: sha}}``."""
    kind = payload["kind"]
    if kind == "dir":
        root = Path(payload["path"])
        files = {
            p.relative_to(root).as_posix(): sha(p.read_bytes())
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
        return {"type": "dir", "files": files}
    if kind == "text":
        data = payload["text"].encode("utf-8")
    elif kind == "json":
        data = json_bytes(payload["value"])
    else:
        data = Path(payload["path"]).read_bytes()
    return {"type": "file", "sha256": sha(data), "bytes": len(data)}


def blob_digests_of(payload: Mapping[str, Any]) -> set[str]:
    """Digests of the bytes of a payload that go to the blob store (larger than inline)."""
    exp = expected_of(payload)
    if exp["type"] == "file":
        return {exp["sha256"]} if exp["bytes"] > INLINE_MAX else set()
    root = Path(payload["path"])
    return {
        digest for key, digest in exp["files"].items() if (root / key).stat().st_size > INLINE_MAX
    }


# -- saving a payload -------------------------------------------------------------------


def _pieces(path: str, size: int) -> Iterable[bytes]:
    with open(path, "rb") as fh:
        while piece := fh.read(size):
            yield piece


async def save_async(arts: Any, payload: Mapping[str, Any], labels: Mapping[str, Any]) -> Any:
    """Save a payload through the async facade (or anything with its API)."""
    kind = payload["kind"]
    if kind == "text":
        return await arts.save_text(payload["text"], labels=labels)
    if kind == "json":
        return await arts.save_json(payload["value"], labels=labels)
    if kind == "file":
        return await arts.save_file(payload["path"], kind="checkpoint", labels=labels)
    if kind == "dir":
        return await arts.ingest_dir(payload["path"], kind="dataset", labels=labels)
    if kind == "writer":
        async with arts.writer(kind="model", planned_ext=".bin", labels=labels) as w:
            for piece in _pieces(payload["path"], payload["piece"]):
                await w.write(piece)
        return w.artifact
    raise ValueError(kind)


def save_sync(arts: satchel.SyncArtifactFacade, payload: Mapping[str, Any], labels: Any) -> Any:
    """Save a payload through the blocking facade."""
    kind = payload["kind"]
    if kind == "text":
        return arts.save_text(payload["text"], labels=labels)
    if kind == "json":
        return arts.save_json(payload["value"], labels=labels)
    if kind == "file":
        return arts.save_file(payload["path"], kind="checkpoint", labels=labels)
    if kind == "dir":
        return arts.ingest_dir(payload["path"], kind="dataset", labels=labels)
    if kind == "writer":
        with arts.writer(kind="model", planned_ext=".bin", labels=labels) as w:
            for piece in _pieces(payload["path"], payload["piece"]):
                w.write(piece)
        return w.artifact
    raise ValueError(kind)


# -- the child process ------------------------------------------------------------------


def record(fh: Any, entry: Mapping[str, Any]) -> None:
    """Append one JSON line and make it durable (write, flush, fsync)."""
    fh.write(json.dumps(entry) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of an ack file; a torn last line (killed mid-write) is ignored."""
    if not path.exists():
        return []
    out = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            assert number == len(lines) - 1, f"torn line {number} in the middle of {path}"
    return out


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _wait_for(path: Path, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


async def _crash(cfg: dict[str, Any]) -> None:
    """Acknowledged saves, then one more save that SIGKILLs itself at ``cfg["point"]``.

    ``cfg["twin"]`` picks the facade: ``"async"`` or ``"sync"`` (whose blocking saves
    commit on the caller's thread instead of the group committer's).
    """
    ctx = satchel.Context(store=cfg["store"], run_id=cfg["run_id"])
    if cfg["twin"] == "async":
        arts = ctx.artifacts()

        async def save(payload: Any, labels: Any) -> Any:
            return await save_async(arts, payload, labels)
    else:
        sync_arts = ctx.sync_artifacts()

        async def save(payload: Any, labels: Any) -> Any:
            return save_sync(sync_arts, payload, labels)

    with open(cfg["ack"], "a") as ack:
        for seq, payload in cfg["acked"]:
            art = await save(payload, {"seq": seq})
            record(ack, {"seq": seq, "id": art.artifact_id})
    point = cfg["point"]

    def hook(name: str) -> None:
        if name == point:
            _kill_self()

    _faults.set_hook(hook)
    await save(cfg["final"], {"seq": "final"})
    _faults.set_hook(None)
    await ctx.aclose()
    sys.exit(EXIT_POINT_NOT_REACHED)


def loop_payload(scratch: Path, seq: str, i: int) -> dict[str, Any]:
    """The ``i``-th save of the kill-at-random-moments loop: a mix of every save kind."""
    rnd = random.Random(seq)
    choice = i % 6
    if choice in (0, 1):
        return {"kind": "text", "text": f"loop {seq} " + "x" * rnd.randrange(1, 2000)}
    if choice == 2:
        return {"kind": "json", "value": {"seq": seq, "values": list(range(rnd.randrange(3000)))}}
    if choice == 3:
        path = scratch / f"{seq}.bin"
        path.write_bytes(random_bytes(rnd.randrange(20 * KIB, 1 * MIB), seq))
        return {"kind": "file", "path": str(path)}
    if choice == 4:
        root = scratch / f"{seq}.d"
        write_tree(
            root,
            {
                "big.bin": random_bytes(rnd.randrange(20 * KIB, 600 * KIB), seq + "big"),
                "notes.txt": f"notes {seq}".encode(),
                "sub/more.bin": random_bytes(rnd.randrange(40 * KIB), seq + "more"),
            },
        )
        return {"kind": "dir", "path": str(root)}
    path = scratch / f"{seq}.stream"
    path.write_bytes(random_bytes(rnd.randrange(10 * KIB, 800 * KIB), seq))
    return {"kind": "writer", "path": str(path), "piece": 64 * KIB}


def _loop(cfg: dict[str, Any]) -> None:
    """Save in a loop, logging an intent before and an ack after each save, until killed."""
    scratch = Path(cfg["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    with (
        satchel.Context(store=cfg["store"], run_id=cfg["run_id"]) as ctx,
        open(cfg["log"], "a") as log,
    ):
        arts = ctx.sync_artifacts()
        for i in range(cfg["max"]):
            seq = f"{cfg['round']}-{i}"
            payload = loop_payload(scratch, seq, i)
            record(log, {"intent": seq, "expect": expected_of(payload)})
            art = save_sync(arts, payload, {"seq": seq})
            record(log, {"ack": seq, "id": art.artifact_id})


def worker_payload(scratch: Path, seq: str, i: int) -> dict[str, Any]:
    """Mostly small texts, a few large files and JSON documents."""
    if i % 40 == 7:
        path = scratch / f"{seq}.bin"
        path.write_bytes(random_bytes(48 * KIB + i, seq))
        return {"kind": "file", "path": str(path)}
    if i % 40 == 27:
        return {"kind": "json", "value": {"seq": seq, "values": list(range(5000))}}
    return {"kind": "text", "text": f"text {seq}"}


def _worker(cfg: dict[str, Any]) -> None:
    """One of many processes saving ``cfg["n"]`` artifacts at once into one store."""
    scratch = Path(cfg["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    payloads = [worker_payload(scratch, f"{cfg['run_id']}-{i}", i) for i in range(cfg["n"])]
    Path(cfg["ready"]).touch()
    _wait_for(Path(cfg["go"]))
    acks = []
    with satchel.Context(store=cfg["store"], run_id=cfg["run_id"]) as ctx:
        arts = ctx.sync_artifacts()
        for i, payload in enumerate(payloads):
            seq = f"{cfg['run_id']}-{i}"
            art = save_sync(arts, payload, {"seq": seq})
            acks.append({"seq": seq, "id": art.artifact_id, "expect": expected_of(payload)})
    with open(cfg["ack"], "w") as fh:
        for entry in acks:
            record(fh, entry)


def _same(cfg: dict[str, Any]) -> None:
    """Save one (shared) file at the same moment as the other processes."""
    with satchel.Context(store=cfg["store"], run_id=cfg["run_id"]) as ctx:
        arts = ctx.sync_artifacts()
        arts.get_by_id("warm-up")
        Path(cfg["ready"]).touch()
        _wait_for(Path(cfg["go"]))
        art = arts.save_file(cfg["path"], kind="checkpoint")
        with open(cfg["ack"], "w") as fh:
            record(fh, {"id": art.artifact_id})


def _ryw(cfg: dict[str, Any]) -> None:
    """Line protocol on stdin/stdout: ``save <text>`` -> id, ``get <id>`` -> JSON text."""
    with satchel.Context(store=cfg["store"], run_id=cfg["run_id"]) as ctx:
        arts = ctx.sync_artifacts()
        arts.get_by_id("warm-up")  # a pooled connection exists before the other side writes
        print("ready", flush=True)
        for line in sys.stdin:
            command, _, arg = line.rstrip("\n").partition(" ")
            if command == "save":
                print(arts.save_text(arg).artifact_id, flush=True)
            elif command == "get":
                found = arts.get_by_id(arg)
                text = None if found is None else arts.load_text_by_id(arg)
                print(json.dumps(text), flush=True)
            else:
                break


async def _gather(cfg: dict[str, Any]) -> None:
    """``asyncio.gather`` of many ``save_text``; ack them all, then die by SIGKILL."""
    ctx = satchel.Context(store=cfg["store"], run_id=cfg["run_id"])
    arts = ctx.artifacts()
    saved = await asyncio.gather(
        *(arts.save_text(f"gather {i}", labels={"i": i}) for i in range(cfg["n"]))
    )
    with open(cfg["ack"], "w") as fh:
        record(fh, {"ids": [a.artifact_id for a in saved]})
    _kill_self()


def remote_context(cfg: Mapping[str, Any]) -> satchel.Context:
    """The remote SDK on ``cfg["url"]`` with ``cfg["token"]``, its client state in
    ``cfg["home"]`` (where the resume journal of a save cut short is kept)."""
    settings = satchel.Settings.load(
        environ={}, home=cfg["home"], store=cfg["url"], upload_chunk=cfg["chunk"]
    )
    return satchel.Context(settings=settings, token=cfg["token"], run_id=cfg["run_id"])


def _remote(cfg: dict[str, Any]) -> None:
    """Acknowledged saves through a server, then arm its crash hook and save once more.

    The server is the process that dies; this one is killed by the test afterwards.
    """
    with remote_context(cfg) as ctx, open(cfg["ack"], "a") as ack:
        arts = ctx.sync_artifacts()
        for seq, payload in cfg["acked"]:
            art = save_sync(arts, payload, {"seq": seq})
            record(ack, {"seq": seq, "id": art.artifact_id})
        Path(cfg["armed"]).touch()
        save_sync(arts, cfg["final"], {"seq": "final"})
    sys.exit(EXIT_POINT_NOT_REACHED)


def main(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    mode = cfg["mode"]
    if mode == "crash":
        asyncio.run(_crash(cfg))
    elif mode == "loop":
        _loop(cfg)
    elif mode == "worker":
        _worker(cfg)
    elif mode == "same":
        _same(cfg)
    elif mode == "ryw":
        _ryw(cfg)
    elif mode == "gather":
        asyncio.run(_gather(cfg))
    elif mode == "remote":
        _remote(cfg)
    else:
        raise ValueError(mode)


# -- the parent's side ------------------------------------------------------------------


def child_command(tmp: Path, cfg: Mapping[str, Any]) -> list[str]:
    """The command line of a child process running ``cfg`` (written to a file in ``tmp``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / f"child-{time.monotonic_ns()}-{random.randrange(1 << 30)}.json"
    config.write_text(json.dumps(cfg))
    return [sys.executable, "-W", "error", str(HERE), str(config)]


def child_env() -> dict[str, str]:
    """The environment of a child: no ``SATCHEL_*`` settings leak in from outside."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}


@dataclass
class IndexRows:
    """The raw rows of a store's SQLite index, read with the stdlib driver."""

    artifacts: dict[str, str] = field(default_factory=dict)  # artifact_id -> status
    blob_refs: set[str] = field(default_factory=set)  # digests of non-inline files
    inline_refs: set[str] = field(default_factory=set)  # digests of inline files
    inline: dict[str, bytes] = field(default_factory=dict)  # inline_blobs rows


def read_index(store: Path) -> IndexRows:
    rows = IndexRows()
    with contextlib.closing(sqlite3.connect(store / "index.db")) as db:
        for artifact_id, status in db.execute("SELECT artifact_id, status FROM artifacts"):
            rows.artifacts[artifact_id] = status
        for digest, inline in db.execute('SELECT sha256, "inline" FROM artifact_files'):
            (rows.inline_refs if inline else rows.blob_refs).add(digest)
        for digest, data in db.execute("SELECT sha256, data FROM inline_blobs"):
            rows.inline[digest] = bytes(data)
    return rows


def stored_blobs(store: Path) -> dict[str, Path]:
    """Every file under ``blobs/``; each must be a complete blob under its own digest."""
    base = store / "blobs" / "sha256"
    found: dict[str, Path] = {}
    for path in sorted((store / "blobs").rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(base).as_posix() if base in path.parents else None
        assert rel is not None and _BLOB_FILE.fullmatch(rel), f"stray file in blobs/: {path}"
        digest = rel.replace("/", "")
        assert sha(path.read_bytes()) == digest, f"incomplete or wrong blob under {digest}"
        found[digest] = path
    return found


@dataclass
class Garbage:
    temp_files: list[Path]
    orphan_blobs: set[str]


def check_layout(store: Path, *, allowed_orphans: set[str]) -> Garbage:
    """Nothing partial under a name that claims completeness; the rest is collectable.

    Checks: only known entries at the top of the store; ``tmp/`` holds only ``*.part`` temp
    files; every blob file is complete under its digest; every referenced blob and inline
    row exists and matches its digest; unreferenced blobs are among ``allowed_orphans``.
    """
    names = {p.name for p in store.iterdir()}
    assert names <= STORE_ENTRIES, f"unexpected entries in the store: {names - STORE_ENTRIES}"
    temp_files = list(LocalBlobStore(store).iter_temp_files())
    in_tmp = sorted((store / "tmp").iterdir())
    assert in_tmp == temp_files, f"tmp/ holds more than temp files: {in_tmp}"
    blobs = stored_blobs(store)
    rows = read_index(store)
    missing = rows.blob_refs - set(blobs)
    assert not missing, f"referenced blobs are missing: {missing}"
    for digest in rows.inline_refs:
        assert digest in rows.inline, f"inline blob {digest} is referenced but absent"
    for digest, data in rows.inline.items():
        assert sha(data) == digest, f"inline blob {digest} does not match its digest"
    orphans = set(blobs) - rows.blob_refs
    assert orphans <= allowed_orphans, f"unexpected unreferenced blobs: {orphans}"
    return Garbage(temp_files=temp_files, orphan_blobs=orphans)


def verify_artifact(
    arts: satchel.SyncArtifactFacade, art: satchel.Artifact, exp: Mapping[str, Any]
) -> None:
    """The artifact's record and its loaded bytes match what was saved."""
    assert art.status == "completed"
    if exp["type"] == "file":
        assert not art.is_dir
        assert (art.sha256, art.bytes) == (exp["sha256"], exp["bytes"])
        data = arts.load_bytes_by_id(art.artifact_id)
        assert sha(data) == exp["sha256"] and len(data) == exp["bytes"]
        assert sha(arts.load_bytes(art.uri)) == exp["sha256"]
        return
    assert art.is_dir
    assert {f.path: f.sha256 for f in art.files} == exp["files"]
    root = Path(arts.as_local_dir(art))
    got = {
        p.relative_to(root).as_posix(): sha(p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    assert got == exp["files"]


def check_store(
    store: Path,
    *,
    run_id: str,
    acked: Mapping[str, str],
    expected: Mapping[str, Mapping[str, Any]],
    may_exist: set[str],
) -> dict[str, str]:
    """After a crash: acknowledged artifacts verify; every visible artifact is whole.

    ``acked`` maps a save's ``seq`` label to its acknowledged id; ``expected`` maps every
    ``seq`` to what it stores; ``may_exist`` are the saves in flight when the process died.
    Returns the ``seq`` -> id of every artifact in the index.
    """
    with satchel.Context(store=store, run_id=run_id) as ctx:
        arts = ctx.sync_artifacts()
        for seq, artifact_id in acked.items():
            art = arts.get_by_id(artifact_id)
            assert art is not None, f"acknowledged artifact {seq} ({artifact_id}) was lost"
            assert art.labels["seq"] == seq
            verify_artifact(arts, art, expected[seq])
        rows = read_index(store)
        seen: dict[str, str] = {}
        for artifact_id, status in rows.artifacts.items():
            assert status == "completed", f"{artifact_id} is {status} in the index"
            art = arts.get_by_id(artifact_id)
            assert art is not None, f"{artifact_id} is in the index but get_by_id misses it"
            seq = art.labels["seq"]
            assert seq not in seen, f"two artifacts for one save {seq}"
            seen[seq] = artifact_id
            if acked.get(seq) != artifact_id:
                assert seq not in acked and seq in may_exist, f"unexpected artifact {seq}"
            verify_artifact(arts, art, expected[seq])
        listed = {a.artifact_id for a in arts.list(level="run")}
        assert listed == set(rows.artifacts)
    return seen


def check_after_crash(store: ArtifactStore) -> FsckReport:
    """The one check every crash test ends with: ``fsck --read-data`` finds no damage.

    Warnings (temp files, orphan blobs, unfinished multipart uploads, stale pending
    artifacts) are what a crash may leave; they are allowed and returned in the report.
    """
    report = fsck(store, read_data=True)
    assert report.ok, f"fsck found damage after a crash: {[d.to_dict() for d in report.damage]}"
    return report


def collect_after_crash(store: ArtifactStore) -> GcReport:
    """Then ``satchel gc`` (no grace period: nothing else writes) clears what the crash
    left, and ``fsck --read-data`` is clean: no damage, no warning."""
    before = fsck(store)
    report = collect_garbage(store, grace=timedelta(0))
    after = fsck(store, read_data=True)
    assert after.ok, f"fsck found damage after gc: {[d.to_dict() for d in after.damage]}"
    assert after.warnings == [], f"gc left warnings: {[w.to_dict() for w in after.warnings]}"
    assert after.artifacts == before.artifacts - report.artifacts_deleted
    return report


def open_store(path: Path) -> ArtifactStore:
    """The embedded store in directory ``path`` (its default SQLite index)."""
    return ArtifactStore.open(satchel.Settings.load(environ={}, store=str(path)))


if __name__ == "__main__":
    main(sys.argv[1])
