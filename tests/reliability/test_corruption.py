"""Corruption (P4, DESIGN invariant 3): damage stored bytes behind the store's back; every
read path then raises ``IntegrityError``, never returns wrong bytes, and leaves no partial
copy behind. Both facade twins; large blobs on the local store, inline blobs on every store.

The damaged bytes are chosen so that a read that skipped verification would still "work":
a flipped digit keeps a JSON document valid, so only the digest check can catch it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import satchel
from satchel.hashing import Digest

Read = tuple[str, Callable[[], Awaitable[Any]]]


@pytest.fixture
def store_kind() -> str:
    """Large blobs live in files only on the local store; inline tests widen this."""
    return "local"


def json_document(seed: str, size: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    values = []
    while len(values) * 8 < size:
        values.append(rnd.randrange(10**6, 10**7))
    return {"seed": seed, "values": values}


def digit_offset(data: bytes) -> int:
    """An offset in the middle of ``data`` holding a digit (XOR 1 keeps it a digit)."""
    start = len(data) // 2
    return next(i for i in range(start, len(data)) if chr(data[i]).isdigit())


def blob_path(context: satchel.Context, sha256: str) -> Path:
    blobs: Any = context.store.blobs
    return Path(blobs.blob_path(Digest(hexdigest=sha256)))


def damage_blob_file(path: Path, how: str) -> None:
    """Damage a read-only blob file the way a disk or a careless hand would."""
    if how == "delete":
        path.unlink()
        return
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[digit_offset(bytes(data))] ^= 1
    elif how == "truncate":
        del data[len(data) // 2 :]
    elif how == "append":
        data += b"0"
    else:
        raise ValueError(how)
    path.write_bytes(bytes(data))
    path.chmod(0o444)


def index_db(context: satchel.Context) -> Path:
    url = context.store.index.url
    assert url.startswith("sqlite:///")
    return Path(url.removeprefix("sqlite:///"))


def damage_inline_row(context: satchel.Context, sha256: str, how: str) -> None:
    """Change an ``inline_blobs`` row with the stdlib driver, outside satchel."""
    with contextlib.closing(sqlite3.connect(index_db(context))) as db:
        (data,) = db.execute("SELECT data FROM inline_blobs WHERE sha256 = ?", (sha256,)).fetchone()
        data = bytearray(data)
        if how == "delete":
            db.execute("DELETE FROM inline_blobs WHERE sha256 = ?", (sha256,))
        else:
            if how == "flip":
                data[digit_offset(bytes(data))] ^= 1
            elif how == "truncate":
                del data[len(data) // 2 :]
            else:
                raise ValueError(how)
            db.execute("UPDATE inline_blobs SET data = ? WHERE sha256 = ?", (bytes(data), sha256))
        db.commit()


def file_reads(arts: Any, art: satchel.Artifact) -> list[Read]:
    """Every way to read a file artifact's bytes or get a local copy of them."""
    aid = art.artifact_id
    ref = f"satchel://{aid}"
    return [
        ("load_bytes_by_id", lambda: arts.load_bytes_by_id(aid)),
        ("load_text_by_id", lambda: arts.load_text_by_id(aid)),
        ("load_json_by_id", lambda: arts.load_json_by_id(aid)),
        ("load_bytes(satchel://)", lambda: arts.load_bytes(ref)),
        ("load_text(satchel://)", lambda: arts.load_text(ref)),
        ("load_json(satchel://)", lambda: arts.load_json(ref)),
        ("load_bytes(artifact.uri)", lambda: arts.load_bytes(art.uri)),
        ("load_json(artifact.uri)", lambda: arts.load_json(art.uri)),
        ("as_local_file(artifact)", lambda: arts.as_local_file(art)),
        ("as_local_file(satchel://)", lambda: arts.as_local_file(ref)),
        ("as_local_file(artifact.uri)", lambda: arts.as_local_file(art.uri)),
    ]


def blob_location_reads(arts: Any, path: Path) -> list[Read]:
    """Reads naming the store's own blob file by plain path (not a URL)."""
    return [
        ("load_bytes(blob path)", lambda: arts.load_bytes(str(path))),
        ("as_local_file(blob path)", lambda: arts.as_local_file(str(path))),
    ]


async def assert_reads_fail(reads: list[Read], context: satchel.Context) -> None:
    """Each read raises IntegrityError; no materialised file is left in the local area."""
    wrong: list[str] = []
    for name, read in reads:
        try:
            result = await read()
        except satchel.IntegrityError:
            continue
        except Exception as exc:
            wrong.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{name}: returned {type(result).__name__} instead of raising")
    assert not wrong, "read paths that did not raise IntegrityError:\n" + "\n".join(wrong)
    leftovers = [p for p in context.store.local_dir.rglob("*") if not p.is_dir()]
    assert leftovers == [], f"partial materialised files left behind: {leftovers}"


async def save_control(arts: Any) -> tuple[satchel.Artifact, dict[str, Any]]:
    """An undamaged artifact that must keep loading next to the damaged ones."""
    doc = json_document("control", 40_000)
    return await arts.save_json(doc, name="control.json"), doc


async def assert_control_intact(arts: Any, art: satchel.Artifact, doc: Any) -> None:
    assert await arts.load_json_by_id(art.artifact_id) == doc
    assert await arts.load_json(f"satchel://{art.artifact_id}") == doc
    if art.uri.startswith("file://"):
        assert await arts.load_json(art.uri) == doc


@pytest.mark.parametrize("how", ["flip", "truncate", "delete", "append"])
async def test_damaged_large_blob(arts: Any, context: satchel.Context, how: str) -> None:
    control, control_doc = await save_control(arts)
    doc = json_document("large", 60_000)
    art = await arts.save_json(doc, name="weights.json", kind="checkpoint")
    assert art.bytes > context.settings.inline_max
    assert art.uri.startswith("file://")
    path = blob_path(context, art.sha256)
    assert Path(art.uri.removeprefix("file://")) == path
    damage_blob_file(path, how)

    await assert_reads_fail(file_reads(arts, art) + blob_location_reads(arts, path), context)
    await assert_control_intact(arts, control, control_doc)


async def test_damaged_blob_of_a_saved_file(
    arts: Any, context: satchel.Context, tmp_path: Path
) -> None:
    """The same through ``save_file`` and a streamed ``writer`` artifact."""
    source = tmp_path / "metrics.json"
    source.write_text(json.dumps(json_document("file", 50_000)))
    by_file = await arts.save_file(source, kind="metric")
    async with arts.writer(kind="metric", planned_ext=".json") as w:
        data = json.dumps(json_document("stream", 50_000)).encode()
        for start in range(0, len(data), 10_000):
            await w.write(data[start : start + 10_000])
    by_writer = w.artifact
    for art in (by_file, by_writer):
        damage_blob_file(blob_path(context, art.sha256), "flip")
    await assert_reads_fail(file_reads(arts, by_file) + file_reads(arts, by_writer), context)
    assert source.read_text() == json.dumps(json_document("file", 50_000))


@pytest.mark.parametrize("store_kind", ["local", "memory+sqlite"])
@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
async def test_damaged_inline_blob(arts: Any, context: satchel.Context, how: str) -> None:
    control, control_doc = await save_control(arts)
    doc = {"accuracy": 0.98123, "loss": 0.0421, "epoch": 17}
    art = await arts.save_json(doc, name="metrics.json", kind="metric")
    assert art.bytes <= context.settings.inline_max
    assert await arts.load_json_by_id(art.artifact_id) == doc
    damage_inline_row(context, art.sha256, how)

    await assert_reads_fail(file_reads(arts, art), context)
    await assert_control_intact(arts, control, control_doc)


@pytest.mark.parametrize("damaged", ["large", "inline"])
@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
async def test_damaged_file_inside_directory(
    arts: Any, context: satchel.Context, tmp_path: Path, damaged: str, how: str
) -> None:
    tree = {
        "model.json": json.dumps(json_document("dir-model", 30_000)).encode(),
        "config.json": b'{"layers": 12, "dropout": 0.125}',
        "sub/data.json": json.dumps(json_document("dir-data", 30_000)).encode(),
        "sub/small.json": b'{"rows": 31415, "cols": 27}',
    }
    root = tmp_path / "tree"
    for key, data in tree.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    art = await arts.ingest_dir(root, kind="dataset")
    assert art.is_dir
    files = {f.path: f for f in art.files}
    key = "sub/data.json" if damaged == "large" else "sub/small.json"
    if damaged == "large":
        damage_blob_file(blob_path(context, files[key].sha256), how)
    else:
        damage_inline_row(context, files[key].sha256, how)

    ref = f"satchel://{art.artifact_id}"
    reads: list[Read] = [
        ("as_local_dir(artifact)", lambda: arts.as_local_dir(art)),
        ("as_local_dir(satchel://)", lambda: arts.as_local_dir(ref)),
        ("load_bytes(satchel://id/file)", lambda: arts.load_bytes(f"{ref}/{key}")),
        ("load_json(satchel://id/file)", lambda: arts.load_json(f"{ref}/{key}")),
        ("as_local_file(satchel://id/file)", lambda: arts.as_local_file(f"{ref}/{key}")),
    ]
    await assert_reads_fail(reads, context)
    # The undamaged files of the same artifact still read.
    assert await arts.load_bytes(f"{ref}/model.json") == tree["model.json"]
    assert await arts.load_bytes(f"{ref}/config.json") == tree["config.json"]


async def test_damage_after_a_good_copy_never_serves_wrong_bytes(
    arts: Any, context: satchel.Context
) -> None:
    """A copy materialised before the damage is correct; a tampered copy is not reused."""
    doc = json_document("copied", 40_000)
    art = await arts.save_json(doc, name="copied.json")
    local = Path(await arts.as_local_file(art))
    assert json.loads(local.read_text()) == doc
    damage_blob_file(blob_path(context, art.sha256), "flip")
    # The local copy now differs from the stored (damaged) blob's bytes only by the flip;
    # tamper with the local copy too: it must not be handed out again.
    data = bytearray(local.read_bytes())
    data[digit_offset(bytes(data))] ^= 1
    local.write_bytes(bytes(data))
    with pytest.raises(satchel.IntegrityError):
        await arts.as_local_file(art)
    with pytest.raises(satchel.IntegrityError):
        await arts.load_bytes_by_id(art.artifact_id)
    assert not any(p.name.endswith(".part") for p in context.store.local_dir.rglob("*"))


def test_blob_files_are_read_only(context: satchel.Context) -> None:
    """Stored blobs are 0o444, which is why the damage helpers chmod first."""
    art = context.sync_artifacts().save_json(json_document("ro", 40_000))
    mode = os.stat(blob_path(context, art.sha256)).st_mode & 0o777
    assert mode == 0o444
