"""A full disk (P10): a save larger than the free space fails loudly and saves nothing.

The store lives on a real, small file system: a 16 MiB ``tmpfs`` mounted for the test
(``mount -t tmpfs -o size=16m``; the tests run as root on the project's machines). Where
mounting is not permitted the same tests run against an injected ``ENOSPC``: ``os.write``
and ``os.pwrite`` of the blob store and of the server's staging fail once the bytes
written pass the "free space" (``Disk.injected`` says which one ran).

Each save kind (``save_file``, a ``writer()`` stream, a directory ingest) and an upload to a
server: the error reaches the caller as ``InsufficientStorageError`` (a ``StorageError``,
errno ``ENOSPC``, code ``insufficient_storage``; HTTP 507 from the server), the index holds
no artifact for it, no temp file remains, ``fsck`` finds no damage, and once space is freed
the same save succeeds.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _harness import KIB, MIB, check_after_crash, open_store, random_bytes, read_index, sha

import satchel
import satchel.server.staging as staging_module
import satchel.storage.local as local_module
from satchel.config import Settings
from satchel.server import ServerSettings, create_app
from serverkit import SECRET, World, create, serving, state_of

SIZE = "16m"
#: Free bytes left on the disk before the save that does not fit.
LEFT = 1 * MIB
BIG = 3 * MIB


class _CappedOS:
    """The ``os`` module of a patched satchel module, whose writes fail with ENOSPC once
    ``Disk`` says the space is used up (the fallback when no file system can be mounted)."""

    def __init__(self, disk: Disk) -> None:
        self._disk = disk

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        self._disk.take(len(memoryview(data).cast("B")))
        return os.write(fd, data)

    def pwrite(self, fd: int, data: Any, offset: int) -> int:
        self._disk.take(len(memoryview(data).cast("B")))
        return os.pwrite(fd, data, offset)


class Disk:
    """A small file system at ``root``: ``fill`` it up to ``LEFT`` free bytes, ``free`` it."""

    def __init__(self, root: Path, *, injected: bool) -> None:
        self.root = root
        self.injected = injected
        self._filler = root / "filler"
        self._left: int | None = None

    def fill(self, left: int = LEFT) -> None:
        if self.injected:
            self._left = left
            return
        st = os.statvfs(self.root)
        size = st.f_bavail * st.f_frsize - left
        block = b"\0" * MIB
        with self._filler.open("wb") as fh:
            while size > 0:
                size -= fh.write(block[: min(size, MIB)])
            fh.flush()
            os.fsync(fh.fileno())

    def free(self) -> None:
        self._left = None
        self._filler.unlink(missing_ok=True)

    def take(self, n: int) -> None:
        if self._left is None:
            return
        if n > self._left:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._left -= n


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    root = tmp_path / "disk"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(root)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        fake = Disk(root, injected=True)
        monkeypatch.setattr(local_module, "os", _CappedOS(fake))
        monkeypatch.setattr(staging_module, "os", _CappedOS(fake))
        yield fake
        return
    try:
        yield Disk(root, injected=False)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


Save = Callable[[satchel.SyncArtifactFacade], satchel.Artifact]


def _saves(src: Path) -> dict[str, tuple[Save, dict[str, str]]]:
    """Each kind of save of more bytes than ``LEFT``, with what it stores by key."""
    src.mkdir()
    big = random_bytes(BIG, "enospc-file")
    (src / "big.bin").write_bytes(big)
    tree = {"a.bin": random_bytes(100 * KIB, "enospc-a"), "b/big.bin": big}
    for key, data in tree.items():
        (src / "tree" / key).parent.mkdir(parents=True, exist_ok=True)
        (src / "tree" / key).write_bytes(data)

    def writer(arts: satchel.SyncArtifactFacade) -> satchel.Artifact:
        with arts.writer(kind="model", planned_ext=".bin") as w:
            for start in range(0, len(big), 256 * KIB):
                w.write(big[start : start + 256 * KIB])
        assert w.artifact is not None
        return w.artifact

    return {
        "save_file": (
            lambda arts: arts.save_file(src / "big.bin", kind="checkpoint"),
            {"big.bin": sha(big)},
        ),
        "writer": (writer, {"model.bin": sha(big)}),
        "ingest_dir": (
            lambda arts: arts.ingest_dir(src / "tree", kind="dataset"),
            {k: sha(v) for k, v in tree.items()},
        ),
    }


@pytest.mark.parametrize("kind", ["save_file", "writer", "ingest_dir"])
def test_a_save_larger_than_the_free_space_fails_loudly(
    disk: Disk, tmp_path: Path, kind: str
) -> None:
    store = disk.root / "store"
    save, files = _saves(tmp_path / "src")[kind]
    with satchel.Context(store=store, run_id="full") as ctx:
        arts = ctx.sync_artifacts()
        before = arts.save_text("saved before the disk filled up")
        disk.fill()
        with pytest.raises(satchel.StorageError) as info:
            save(arts)
        error = info.value
        assert isinstance(error, satchel.InsufficientStorageError)
        assert (error.errno, error.code) == (errno.ENOSPC, "insufficient_storage")
        assert "No space left on device" in str(error)
        assert set(read_index(store).artifacts) == {before.artifact_id}
        assert [a.artifact_id for a in arts.list(level="run")] == [before.artifact_id]
        assert list((store / "tmp").iterdir()) == [], "a temp file was left behind"
        with contextlib.closing(open_store(store)) as opened:
            report = check_after_crash(opened)
        # A directory's files that fitted are stored blobs nothing references yet.
        assert {w.kind for w in report.warnings} <= {"orphan_blob"}

        disk.free()
        art = save(arts)
        assert art.status == "completed"
        found = arts.get_by_id(art.artifact_id)
        assert found is not None
        assert {f.path: f.sha256 for f in found.files} == files
        if not art.is_dir:
            assert sha(arts.load_bytes_by_id(art.artifact_id)) == next(iter(files.values()))
    with contextlib.closing(open_store(store)) as opened:
        assert not check_after_crash(opened).warnings


async def test_an_upload_to_a_full_server_is_507(disk: Disk, tmp_path: Path) -> None:
    """The disk of the server's uploads and blobs is full (its index is elsewhere): 507
    with a stable code; the SDK raises, keeps its resume record, and once space is freed
    the same save resumes the same artifact."""
    home = tmp_path / "server"
    settings = ServerSettings.load(
        environ={},
        store=Settings.load(
            environ={},
            home=str(home),
            store=str(disk.root / "blobs"),
            index=f"sqlite:///{home / 'index.db'}",
        ),
        secret=SECRET,
        upload_dir=str(disk.root / "uploads"),
    )
    app = create_app(settings)
    try:
        world = World(app)
        owner = world.member("owner", "a")
        data = random_bytes(BIG, "enospc-upload")
        disk.fill()
        async with world.client("owner") as http:
            made = await create(http, {"w.bin": data}, inline=False)
            aid = made["artifact_id"]
            answer = await http.put(
                f"/api/v1/artifacts/{aid}/uploads/w.bin", params={"offset": 0}, content=data
            )
            assert answer.status_code == 507, answer.text
            assert answer.json()["error"]["code"] == "insufficient_storage"
            assert answer.headers["content-type"] == "application/json"
            got = await http.get(f"/api/v1/artifacts/{aid}")
            assert got.json()["status"] == "pending"
            state = (await http.get(f"/api/v1/artifacts/{aid}/uploads/w.bin")).json()
            assert state["received"] < len(data)

        source = tmp_path / "w.bin"
        source.write_bytes(data)
        with serving(app) as url:
            client = Settings.load(
                environ={}, home=str(tmp_path / "client"), store=url, upload_chunk=1 * MIB
            )
            with satchel.Context(settings=client, token=owner.token, run_id="up") as ctx:
                arts = ctx.sync_artifacts()
                with pytest.raises(satchel.InsufficientStorageError) as info:
                    arts.save_file(source, kind="checkpoint")
                assert info.value.errno == errno.ENOSPC
                assert arts.list(level="run") == []
                records = list((tmp_path / "client").glob("remote/*/uploads/*.json"))
                assert len(records) == 1, "the save's resume record was dropped"
                pending = json.loads(records[0].read_text())["artifact_id"]
                disk.free()
                art = arts.save_file(source, kind="checkpoint")
                assert (art.artifact_id, art.status) == (pending, "completed")
                assert sha(arts.load_bytes_by_id(art.artifact_id)) == sha(data)
        report = check_after_crash(state_of(app).store)
        assert not [w for w in report.warnings if w.kind != "stale_pending"]
    finally:
        state_of(app).close()


def test_a_full_disk_under_the_index_is_an_index_error(disk: Disk) -> None:
    """SQLite's own writes fail (``database or disk is full``): the save raises the index's
    error, never a driver error about a connection already thrown away; once space is
    freed, the same store saves again."""
    if disk.injected:
        pytest.fail("this machine cannot mount a size-limited file system for the index")
    store = disk.root / "store"
    with satchel.Context(store=store, run_id="full-index") as ctx:
        arts = ctx.sync_artifacts()
        before = arts.save_text("saved before the disk filled up")
        disk.fill(left=64 * KIB)
        with pytest.raises(satchel.SatchelError) as info:
            for n in range(200):  # inline texts: every byte goes into the index
                arts.save_text(random_bytes(15 * KIB, f"inline-{n}").hex()[: 15 * KIB])
        assert info.value.code in ("index_error", "insufficient_storage"), repr(info.value)
        disk.free()
        after = arts.save_text("saved once space was freed")
        assert arts.load_text(after.uri) == "saved once space was freed"
        assert arts.load_text(before.uri) == "saved before the disk filled up"
    with contextlib.closing(open_store(store)) as opened:
        check_after_crash(opened)
