"""S3 under stress, on the session's real SeaweedFS (P1, P3, P5, invariant 6).

* identical 64 MiB content saved by 8 processes at once (half through ``save_file``, the
  hash-first upload, half streamed through ``writer()``, the temporary-key upload): one
  object in the bucket, no leftovers;
* ``kill -9`` of a process in the middle of a multipart upload: nothing under a digest
  key, the incomplete upload is listed as garbage, the next save of the same bytes
  succeeds, and removing the garbage leaves none;
* peak RSS of saving a 2 GiB file stays under 200 MiB above the process's baseline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _harness import check_after_crash, collect_after_crash

import satchel
from _seaweed import Seaweed, unique_prefix
from satchel.hashing import Digest
from satchel.storage.s3 import S3BlobStore
from satchel.store import ArtifactStore

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024
CHILD = HERE / "_s3child.py"


def run_child(tmp: Path, cfg: dict[str, Any], **kwargs: Any) -> subprocess.Popen[str]:
    config = tmp / f"child-{time.monotonic_ns()}.json"
    config.write_text(json.dumps(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    return subprocess.Popen(
        [sys.executable, "-W", "error", str(CHILD), str(config)],
        text=True,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def random_file(path: Path, size: int, seed: int) -> Path:
    """``size`` pseudo-random bytes, written fast (a repeated random block with a seed)."""
    block = os.urandom(MIB) if seed < 0 else seed.to_bytes(8, "big") * (MIB // 8)
    with path.open("wb") as fh:
        for i in range(size // MIB):
            fh.write(i.to_bytes(8, "big") + block[8:])
    return path


def digest_of_file(path: Path) -> Digest:
    with path.open("rb") as fh:
        return Digest(hexdigest=hashlib.file_digest(fh, "sha256").hexdigest())


def config(seaweed: Seaweed, prefix: str, tmp: Path, **extra: Any) -> dict[str, Any]:
    return {
        "store": seaweed.url(prefix),
        "index": f"sqlite:///{tmp / 'index.db'}",
        "home": str(tmp / "home"),
        **extra,
    }


def test_identical_content_from_eight_processes_is_one_object(
    seaweed: Seaweed, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    source = random_file(tmp_path / "same.bin", 64 * MIB, seed=8)
    digest = digest_of_file(source)
    go = tmp_path / "go"
    procs = []
    for i in range(8):
        cfg = config(
            seaweed,
            prefix,
            tmp_path,
            mode="save",
            path=str(source),
            via="file" if i % 2 == 0 else "writer",
            ready=str(tmp_path / f"ready-{i}"),
            go=str(go),
        )
        procs.append(run_child(tmp_path, cfg))
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{i}").exists() for i in range(8)):
        assert all(p.poll() is None for p in procs), procs[0].communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and not err, err
        results.append(json.loads(out))
    assert {r["sha256"] for r in results} == {digest.hexdigest}
    store = S3BlobStore(seaweed.url(prefix))
    assert dict(store.iter_blobs()) == {digest: 64 * MIB}
    assert {r["uri"] for r in results} == {store.blob_uri(digest)}
    assert list(store.iter_garbage(older_than=timedelta(0))) == []
    ctx = satchel.Context(
        settings=satchel.Settings.load(environ={}, **config(seaweed, prefix, tmp_path)),
        run_id="r1",
        user_id="u1",
    )
    try:
        arts = ctx.sync_artifacts()
        found = arts.list(level="run")
        assert len(found) == 8
        for art in found:
            assert arts.load_bytes_by_id(art.artifact_id) == source.read_bytes()
    finally:
        ctx.close()


def test_kill_during_multipart_upload_leaves_only_garbage(seaweed: Seaweed, tmp_path: Path) -> None:
    prefix = unique_prefix()
    source = random_file(tmp_path / "big.bin", 256 * MIB, seed=9)
    digest = digest_of_file(source)
    url = seaweed.url(prefix) + "&part_size=5MiB&concurrency=1"
    store = S3BlobStore(url)
    cfg = config(seaweed, prefix, tmp_path, mode="save", path=str(source), via="file")
    cfg.update(store=url, ready=str(tmp_path / "ready"), go=str(tmp_path / "go"))
    (tmp_path / "go").touch()
    proc = run_child(tmp_path, cfg, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while not list(store.iter_garbage(older_than=timedelta(0))):
            assert proc.poll() is None, f"the child ended before uploading: {proc.communicate()}"
            assert time.monotonic() < deadline, "no multipart upload ever began"
            time.sleep(0.02)
        time.sleep(0.3)  # a few parts in
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    assert store.stat(digest) is None
    assert dict(store.iter_blobs()) == {}
    garbage = list(store.iter_garbage(older_than=timedelta(0)))
    assert [g.kind for g in garbage] == ["multipart_upload"]
    assert garbage[0].key.startswith("blobs/sha256/")
    # A grace period keeps uploads that may still be in flight out of the plan.
    assert list(store.iter_garbage(older_than=timedelta(hours=1))) == []
    settings = satchel.Settings.load(environ={}, **config(seaweed, prefix, tmp_path))
    with contextlib.closing(ArtifactStore.open(settings)) as opened:
        report = check_after_crash(opened)
    assert [w.kind for w in report.warnings] == ["garbage"]

    ctx = satchel.Context(
        settings=satchel.Settings.load(environ={}, **config(seaweed, prefix, tmp_path)),
    )
    try:
        arts = ctx.sync_artifacts()
        art = arts.save_file(source, kind="model")
        assert art.sha256 == digest.hexdigest
        assert arts.load_bytes_by_id(art.artifact_id) == source.read_bytes()
    finally:
        ctx.close()
    assert store.stat(digest) == source.stat().st_size

    with contextlib.closing(ArtifactStore.open(settings)) as opened:
        assert collect_after_crash(opened).leftovers_removed == 1  # the upload: aborted
    for item in garbage:
        assert store.remove_garbage(item) is False  # gone already
    assert list(store.iter_garbage(older_than=timedelta(0))) == []


@pytest.mark.slow
def test_peak_rss_of_a_two_gib_save_stays_bounded(seaweed: Seaweed, tmp_path: Path) -> None:
    size = 2 * 1024 * MIB
    source = tmp_path / "huge.bin"
    with source.open("wb") as fh:  # sparse: instant to make, zeros to read
        fh.truncate(size)
    prefix = unique_prefix()
    results = {}
    for via in ("file", "writer"):
        cfg = config(seaweed, f"{prefix}-{via}", tmp_path / via, mode="rss", path=str(source))
        cfg["via"] = via
        (tmp_path / via).mkdir()
        proc = run_child(tmp_path, cfg)
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0 and not err, err
        results[via] = json.loads(out)
    for via, figures in results.items():
        assert figures["bytes"] == size
        extra = figures["peak"] - figures["baseline"]
        assert extra < 200 * MIB, f"{via}: {extra / MIB:.0f} MiB above baseline"
