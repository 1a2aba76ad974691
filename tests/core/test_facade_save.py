"""Save API of the ArtifactFacade (seeds/002 section 1): save_file, save_text, save_json, writer.

Every test runs against both facade twins, every store backend and a satchel server (see
``tests/conftest.py``). Storage is inspected only through the helpers at the top of this
module (on the server's store for a remote context).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

import satchel
from conftest import REMOTE_BACKENDS, remote_too, store_of
from satchel import (
    ArtifactIsDirectoryError,
    InvalidMetadataError,
    NotFoundError,
    ValidationError,
)
from satchel.storage.local import LocalBlobStore

pytestmark = remote_too

CONTEXT_FIELDS = (
    "run_id",
    "graph_id",
    "node_id",
    "tool_name",
    "tool_version",
    "org_id",
    "user_id",
    "session_id",
    "client_id",
    "app_id",
)


# -- storage inspection helpers (the only places that reach into the store) ---------------


def stored_blob_digests(context: satchel.Context) -> set[str]:
    """The SHA-256 of every blob in the blob store (large payloads; small ones are inline)."""
    return {digest.hexdigest for digest, _ in store_of(context).blobs.iter_blobs()}


def leftover_temp_files(context: satchel.Context) -> list[Path]:
    """Temporary blob files left behind (only a local blob store has them)."""
    blobs = store_of(context).blobs
    return list(blobs.iter_temp_files()) if isinstance(blobs, LocalBlobStore) else []


def inline_max(context: satchel.Context) -> int:
    return store_of(context).settings.inline_max


def big_payload(context: satchel.Context, extra: int = 1) -> str:
    """Text larger than ``inline_max`` (so it goes to the blob store), not repetitive."""
    size = inline_max(context) + extra
    return os.urandom(size // 2 + 1).hex()[:size]


async def everything(arts: Any) -> list[satchel.Artifact]:
    """Every artifact of the run, whatever the node."""
    return await arts.list(level="run", include_node=False)


# -- save_text / save_json ---------------------------------------------------------------


async def test_save_text_returns_durable_artifact_equal_to_get_by_id(arts, context):
    a = await arts.save_text(
        "Experiment results",
        name="results.txt",
        labels={"experiment": "A1"},
        metrics={"accuracy": 0.98},
        tags=["report"],
        pin=True,
    )
    assert await arts.get_by_id(a.artifact_id) == a
    assert a.kind == "text"
    assert a.name == "results.txt"
    assert a.status == "completed"
    assert a.sha256 == hashlib.sha256(b"Experiment results").hexdigest()
    assert a.bytes == len(b"Experiment results")
    assert a.labels == {"experiment": "A1"}
    assert a.metrics == {"accuracy": 0.98}
    assert a.tags == ["report"]
    assert a.pinned is True
    assert a.mime == "text/plain"
    assert a.mimetype == a.mime
    assert [(f.path, f.sha256, f.bytes) for f in a.files] == [("results.txt", a.sha256, a.bytes)]
    assert a.created_at is not None
    assert a.created_at.utcoffset() == timedelta(0)
    assert await arts.load_text_by_id(a.artifact_id) == "Experiment results"
    # The id is a record id, never the content hash (seeds/README.md).
    assert a.artifact_id != a.sha256
    assert a.sha256 not in a.artifact_id


async def test_save_json_round_trip(arts):
    payload = {"results": [1, 2, 3], "name": "é", "nested": {"ok": True, "none": None}}
    a = await arts.save_json(payload, name="results.json")
    assert await arts.get_by_id(a.artifact_id) == a
    assert a.kind == "json"
    assert a.mime == "application/json"
    assert await arts.load_json_by_id(a.artifact_id) == payload
    assert json.loads(await arts.load_bytes_by_id(a.artifact_id)) == payload


UNSERIALISABLE_JSON = [
    {"x": math.nan},
    {"x": math.inf},
    [-math.inf],
    {"x": object()},
    {"x": {1, 2}},
    b"bytes",
    {("tuple", "key"): 1},
]


async def test_save_json_refuses_unserialisable_payloads_and_saves_nothing(arts):
    for payload in UNSERIALISABLE_JSON:
        with pytest.raises(ValidationError):
            await arts.save_json(payload)
    assert await everything(arts) == []


async def test_save_text_refuses_non_str(arts):
    for payload in (b"bytes", 3, None, ["a"]):
        with pytest.raises(ValidationError):
            await arts.save_text(payload)
    assert await everything(arts) == []


async def test_invalid_metadata_refused_before_anything_is_saved(arts, context):
    before = stored_blob_digests(context)
    big = big_payload(context)
    with pytest.raises(InvalidMetadataError):
        await arts.save_text(big, metrics={"loss": math.nan})
    with pytest.raises(InvalidMetadataError):
        await arts.save_text(big, labels={"nested": {"a": 1}})
    with pytest.raises(InvalidMetadataError):
        await arts.save_text(big, tags="not-a-list")
    assert await everything(arts) == []
    assert stored_blob_digests(context) == before


# -- context stamping -----------------------------------------------------------------------


async def test_every_save_path_stamps_every_context_field(arts, context, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"file")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "x.txt").write_text("x")
    staged = await arts.stage_path(".bin")
    Path(staged).write_bytes(b"staged")

    saved = [
        await arts.save_text("t"),
        await arts.save_json({"j": 1}),
        await arts.save_file(src, kind="blob"),
        await arts.ingest_file(staged, kind="blob"),
        await arts.ingest_dir(tree),
    ]
    async with arts.writer(kind="log") as w:
        await w.write(b"w")
    saved.append(w.artifact)

    info = context.info
    for a in saved:
        for field in CONTEXT_FIELDS:
            assert getattr(a, field) == getattr(info, field), (a.kind, field)
        assert await arts.get_by_id(a.artifact_id) == a
    # The fixture's context sets every field except client/app: the check above is not vacuous.
    for field in ("run_id", "graph_id", "node_id", "tool_name", "tool_version"):
        assert getattr(info, field) is not None
    for field in ("org_id", "user_id", "session_id"):
        assert getattr(info, field) is not None
    assert {a.artifact_id for a in await everything(arts)} == {a.artifact_id for a in saved}


async def test_client_and_app_ids_are_stamped(open_context):
    ctx = open_context(run_id="r-client", client_id="c1", app_id="app1", org_id="o1")
    a = await ctx.artifacts().save_text("hello")
    # Remote, "o1" names a real org: the context carries its id, as the token says.
    org = ctx.info.org_id
    assert org is not None
    assert (a.client_id, a.app_id, a.org_id, a.run_id) == ("c1", "app1", org, "r-client")
    got = await ctx.artifacts().get_by_id(a.artifact_id)
    assert got is not None
    assert (got.client_id, got.app_id) == ("c1", "app1")


# -- save_file ------------------------------------------------------------------------------


async def test_save_file_keeps_the_callers_file_by_default(arts, tmp_path):
    src = tmp_path / "output.txt"
    src.write_bytes(b"keep me")
    a = await arts.save_file(src, kind="text", labels={"category": "logs"})
    assert src.read_bytes() == b"keep me"
    assert await arts.get_by_id(a.artifact_id) == a
    assert await arts.load_bytes_by_id(a.artifact_id) == b"keep me"
    assert a.labels == {"category": "logs"}
    by_str = await arts.save_file(str(src), kind="text")
    assert by_str.name == "output.txt"
    assert await arts.load_bytes_by_id(by_str.artifact_id) == b"keep me"
    assert src.read_bytes() == b"keep me"


async def test_save_file_cleanup_deletes_the_file_once_saved(arts, context, tmp_path):
    for data in (b"delete me", big_payload(context).encode()):  # inline, then a real blob
        src = tmp_path / "output.bin"
        src.write_bytes(data)
        a = await arts.save_file(src, kind="blob", cleanup=True)
        assert not src.exists()
        assert await arts.load_bytes_by_id(a.artifact_id) == data


async def test_save_file_of_missing_file_or_directory_saves_nothing(arts, tmp_path):
    with pytest.raises(NotFoundError):
        await arts.save_file(tmp_path / "missing.bin", kind="blob")
    with pytest.raises(FileNotFoundError):
        await arts.save_file(tmp_path / "missing.bin", kind="blob", cleanup=True)
    with pytest.raises(ArtifactIsDirectoryError):
        await arts.save_file(tmp_path, kind="blob")
    assert tmp_path.is_dir()
    assert await everything(arts) == []


async def test_save_file_name_derivation(arts, tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"w")

    by_file = await arts.save_file(src, kind="model")
    assert by_file.name == "weights.bin"
    assert by_file.files[0].path == "weights.bin"

    by_uri = await arts.save_file(src, kind="model", suggested_uri="s3://bucket/models/best.pt")
    assert by_uri.name == "best.pt"
    assert by_uri.files[0].path == "best.pt"
    assert by_uri.labels["suggested_uri"] == "s3://bucket/models/best.pt"

    by_name = await arts.save_file(
        src, kind="model", name="custom.ckpt", suggested_uri="s3://bucket/models/best.pt"
    )
    assert by_name.name == "custom.ckpt"
    assert by_name.files[0].path == "custom.ckpt"

    for a in (by_file, by_uri, by_name):
        assert await arts.get_by_id(a.artifact_id) == a
        assert await arts.load_bytes_by_id(a.artifact_id) == b"w"

    text = await arts.save_text("t", suggested_uri="file:///logs/run1/train.log")
    assert text.name == "train.log"
    assert text.files[0].path == "train.log"
    assert text.labels["suggested_uri"] == "file:///logs/run1/train.log"

    # seeds/001: "%", "&" and other characters break Grid's sync; satchel names are data.
    special = "50% of a&b #1?.txt"
    odd = await arts.save_text("special", name=special)
    got = await arts.get_by_id(odd.artifact_id)
    assert got is not None
    assert got.name == special
    assert await arts.load_text_by_id(odd.artifact_id) == "special"


async def test_mime_inferred_from_name_and_overridable(arts, tmp_path):
    src = tmp_path / "table.csv"
    src.write_bytes(b"a,b\n1,2\n")
    csv = await arts.save_file(src, kind="dataset")
    assert csv.mime == "text/csv"
    assert csv.files[0].mime == "text/csv"

    renamed = await arts.save_file(src, kind="dataset", name="table.json")
    assert renamed.mime == "application/json"

    overridden = await arts.save_file(src, kind="dataset", mime="application/x-custom")
    assert overridden.mime == "application/x-custom"
    assert (await arts.get_by_id(overridden.artifact_id)).mime == "application/x-custom"

    unknown = tmp_path / "blob.unknownext"
    unknown.write_bytes(b"?")
    assert (await arts.save_file(unknown, kind="blob")).mime == "application/octet-stream"

    assert (await arts.save_text("t", mime="text/markdown")).mime == "text/markdown"


# -- large payloads -------------------------------------------------------------------------


async def test_payload_larger_than_inline_max_round_trips(arts, context, store_kind):
    text = big_payload(context)
    assert len(text.encode()) > inline_max(context)
    a = await arts.save_text(text, name="big.txt")
    assert a.bytes == len(text.encode())
    assert a.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert await arts.load_text_by_id(a.artifact_id) == text
    assert await arts.get_by_id(a.artifact_id) == a
    assert a.sha256 in stored_blob_digests(context)
    if store_kind in REMOTE_BACKENDS:
        # A server names the artifact, never where it keeps the bytes (docs/client.md).
        assert a.uri == f"satchel://{a.artifact_id}"
        assert await arts.load_text(a.uri) == text
    if store_kind == "local":
        assert a.uri is not None
        parts = urlsplit(a.uri)
        assert parts.scheme == "file"
        # The URI names the durable blob itself.
        assert Path(unquote(parts.path)).read_bytes() == text.encode()

    # The boundary: exactly inline_max bytes, and one more.
    exact = "z" * inline_max(context)
    for payload in (exact, exact + "z"):
        b = await arts.save_text(payload)
        assert await arts.load_text_by_id(b.artifact_id) == payload


# -- identical bytes: two records, one blob -------------------------------------------------


async def test_identical_bytes_are_two_artifacts_sharing_one_blob(arts, context):
    text = big_payload(context, extra=1000)
    before = stored_blob_digests(context)
    first = await arts.save_text(
        text, labels={"v": 1}, metrics={"m": 1.0}, tags=["first"], pin=True, name="one.txt"
    )
    second = await arts.save_text(
        text, labels={"v": 2}, metrics={"m": 2.0}, tags=["second"], pin=False, name="two.txt"
    )
    assert first.artifact_id != second.artifact_id
    assert first.sha256 == second.sha256
    assert stored_blob_digests(context) - before == {first.sha256}

    got1 = await arts.get_by_id(first.artifact_id)
    got2 = await arts.get_by_id(second.artifact_id)
    assert got1 == first
    assert got2 == second
    assert (got1.labels, got1.metrics, got1.tags, got1.pinned, got1.name) == (
        {"v": 1},
        {"m": 1.0},
        ["first"],
        True,
        "one.txt",
    )
    assert (got2.labels, got2.metrics, got2.tags, got2.pinned, got2.name) == (
        {"v": 2},
        {"m": 2.0},
        ["second"],
        False,
        "two.txt",
    )

    # Pinning one does not touch the other.
    await arts.pin(second.artifact_id, True)
    await arts.pin(first.artifact_id, False)
    assert (await arts.get_by_id(first.artifact_id)).pinned is False
    assert (await arts.get_by_id(second.artifact_id)).pinned is True
    assert await arts.load_text_by_id(first.artifact_id) == text
    assert await arts.load_text_by_id(second.artifact_id) == text
    assert len(await everything(arts)) == 2

    # Small payloads (kept inline) are separate records too.
    a = await arts.save_text("tiny", labels={"who": "a"})
    b = await arts.save_text("tiny", labels={"who": "b"}, pin=True)
    assert a.artifact_id != b.artifact_id
    assert a.sha256 == b.sha256
    assert (await arts.get_by_id(a.artifact_id)).labels == {"who": "a"}
    assert (await arts.get_by_id(a.artifact_id)).pinned is False
    assert (await arts.get_by_id(b.artifact_id)).labels == {"who": "b"}
    assert (await arts.get_by_id(b.artifact_id)).pinned is True


async def test_identical_bytes_through_every_save_path_share_one_blob(arts, context, tmp_path):
    data = big_payload(context, extra=5000).encode()
    before = stored_blob_digests(context)
    src = tmp_path / "same.bin"
    src.write_bytes(data)
    staged = await arts.stage_path(".bin")
    Path(staged).write_bytes(data)
    saved = [
        await arts.save_text(data.decode()),
        await arts.save_file(src, kind="blob"),
        await arts.save_file(src, kind="blob"),
        await arts.ingest_file(staged, kind="blob"),
    ]
    async with arts.writer(kind="blob") as w:
        await w.write(data)
    saved.append(w.artifact)
    assert len({a.artifact_id for a in saved}) == 5
    assert {a.sha256 for a in saved} == {hashlib.sha256(data).hexdigest()}
    assert stored_blob_digests(context) - before == {saved[0].sha256}
    for a in saved:
        assert await arts.load_bytes_by_id(a.artifact_id) == data


# -- writer ---------------------------------------------------------------------------------


async def test_writer_streams_many_chunks_across_inline_max(arts, context):
    chunk = os.urandom(1000)
    count = inline_max(context) // len(chunk) * 3 + 7
    before = stored_blob_digests(context)
    async with arts.writer(kind="binary") as w:
        for i in range(count):
            await w.write(chunk[i % 7 :] + chunk[: i % 7])
    expected = b"".join(chunk[i % 7 :] + chunk[: i % 7] for i in range(count))
    a = w.artifact
    assert a is not None
    assert len(expected) > inline_max(context)
    assert a.bytes == len(expected)
    assert a.sha256 == hashlib.sha256(expected).hexdigest()
    assert a.kind == "binary"
    assert await arts.get_by_id(a.artifact_id) == a
    assert await arts.load_bytes_by_id(a.artifact_id) == expected
    assert stored_blob_digests(context) - before == {a.sha256}


async def test_writer_small_payload_and_empty_payload(arts):
    async with arts.writer(kind="binary") as w:
        await w.write(b"some ")
        await w.write(bytearray(b"data"))
        await w.write(memoryview(b"!"))
    assert await arts.load_bytes_by_id(w.artifact.artifact_id) == b"some data!"

    async with arts.writer(kind="binary") as empty:
        pass
    assert empty.artifact.bytes == 0
    assert empty.artifact.sha256 == hashlib.sha256(b"").hexdigest()
    assert await arts.load_bytes_by_id(empty.artifact.artifact_id) == b""


async def test_writer_labels_tags_metrics_pin_and_planned_ext(arts):
    async with arts.writer(kind="log", planned_ext=".log", pin=True) as w:
        await w.write(b"Log entry 1\n")
        w.add_labels({"source": "app", "tags": ["weekly", "report"]})
        w.add_labels({"level": 2})
        w.add_metrics({"lines": 1})
        w.add_metrics({"errors": 0.5})
    a = w.artifact
    assert a is not None
    got = await arts.get_by_id(a.artifact_id)
    assert got == a
    assert got.labels == {"source": "app", "level": 2}
    assert "tags" not in got.labels
    assert got.tags == ["report", "weekly"]
    assert got.metrics == {"lines": 1.0, "errors": 0.5}
    assert got.pinned is True
    assert got.kind == "log"
    assert got.files[0].path.endswith(".log")
    assert got.mime == "text/plain"
    assert await arts.load_bytes_by_id(a.artifact_id) == b"Log entry 1\n"

    async with arts.writer(kind="dataset", planned_ext="csv") as w2:
        await w2.write(b"a,b\n")
    assert w2.artifact.files[0].path.endswith(".csv")
    assert w2.artifact.mime == "text/csv"


async def test_writer_refuses_bad_arguments_before_writing(arts):
    with pytest.raises(ValidationError):
        async with arts.writer(kind="log", planned_ext="../evil") as w:
            await w.write(b"never")
    with pytest.raises(ValidationError):
        async with arts.writer(kind="log", labels={"x": [1]}) as w:
            await w.write(b"never")

    with pytest.raises(InvalidMetadataError):
        async with arts.writer(kind="log") as w:
            await w.write(b"data")
            w.add_metrics({"loss": math.inf})
    with pytest.raises(InvalidMetadataError):
        async with arts.writer(kind="log") as w:
            await w.write(b"data")
            w.add_labels({"bad": None})
    assert await everything(arts) == []


class Boom(Exception):
    pass


async def test_writer_exception_discards_everything_and_reraises(arts, context):
    before = stored_blob_digests(context)
    for payload in (os.urandom(100), os.urandom(inline_max(context) * 2)):  # inline, spilled
        with pytest.raises(Boom, match="mid-write"):
            async with arts.writer(kind="checkpoint", planned_ext=".pt") as w:
                await w.write(payload[: len(payload) // 2])
                w.add_labels({"epoch": 3})
                await w.write(payload[len(payload) // 2 :])
                raise Boom("mid-write")
        assert w.artifact is None
    assert await everything(arts) == []
    assert await arts.list(level="org", include_node=False) == []
    assert stored_blob_digests(context) == before
    assert leftover_temp_files(context) == []
    # The store is still usable afterwards.
    a = await arts.save_text("after")
    assert [x.artifact_id for x in await everything(arts)] == [a.artifact_id]
