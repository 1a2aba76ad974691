"""Read side of the ArtifactFacade (seeds/002 sections 2, 4 and 5): get_by_id, pin, lineage,
load_*_by_id, load_*(uri), as_local_file, as_local_dir.

seeds/README.md: nothing a caller sends becomes a URL satchel fetches; an artifact URI names
an artifact and, for a directory, one of its files by a validated key.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import satchel
from conftest import facade_of, remote_too, store_of
from satchel import (
    ArtifactIsDirectoryError,
    ArtifactNotDirectoryError,
    InvalidFileKeyError,
    InvalidURIError,
    NotFoundError,
    ValidationError,
)
from satchel.uris import artifact_uri

pytestmark = remote_too

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

DIR_FILES = {
    "a.txt": b"alpha",
    "nested/b.json": b'{"b": 2}',
    "nested/deeper/c.bin": bytes(range(256)) * 100,
    "odd/50% & #1?.txt": b"odd",
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root: str | Path) -> dict[str, bytes]:
    base = Path(root)
    out: dict[str, bytes] = {}
    for path in base.rglob("*"):
        assert not path.is_symlink(), path
        if path.is_file():
            out[path.relative_to(base).as_posix()] = path.read_bytes()
    return out


def big_bytes(context: satchel.Context) -> bytes:
    """More than ``inline_max``: stored as a blob, so its ``uri`` names the blob store."""
    return os.urandom(store_of(context).settings.inline_max + 1234)


async def save_bytes(arts: Any, tmp_path: Path, data: bytes, name: str = "payload.bin") -> Any:
    src = tmp_path / f"src-{os.urandom(4).hex()}" / name
    src.parent.mkdir()
    src.write_bytes(data)
    return await arts.save_file(src, kind="blob")


@contextmanager
def counting_http_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records every request it gets."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"fetched")

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- get_by_id / pin ------------------------------------------------------------------------


async def test_get_by_id_of_unknown_id_is_none(arts):
    assert await arts.get_by_id(UNKNOWN_ID) is None
    assert await arts.get_by_id("no-such-artifact") is None
    with pytest.raises(ValidationError):
        await arts.get_by_id("")


async def test_an_id_holding_nul_is_an_unknown_id(arts):
    # PostgreSQL refuses U+0000 in a query parameter: still "not found", never an index error.
    await arts.save_text("something to find past")
    nul_id = UNKNOWN_ID[:-1] + "\x00"
    assert await arts.get_by_id(nul_id) is None
    with pytest.raises(NotFoundError):
        await arts.load_bytes_by_id(nul_id)
    with pytest.raises(NotFoundError):
        await arts.pin(nul_id)


async def test_pin_and_unpin_are_reflected_by_get_by_id(arts):
    a = await arts.save_text("pin me")
    assert a.pinned is False
    await arts.pin(a.artifact_id, True)
    assert (await arts.get_by_id(a.artifact_id)).pinned is True
    await arts.pin(a.artifact_id)  # seed default: pinned=True
    assert (await arts.get_by_id(a.artifact_id)).pinned is True
    await arts.pin(a.artifact_id, False)
    got = await arts.get_by_id(a.artifact_id)
    assert got.pinned is False
    assert got.updated_at >= a.updated_at
    with pytest.raises(NotFoundError):
        await arts.pin(UNKNOWN_ID, True)
    with pytest.raises(FileNotFoundError):
        await arts.pin(UNKNOWN_ID, False)


# -- load by id -----------------------------------------------------------------------------


async def test_load_by_id(arts, tmp_path):
    text = await arts.save_text("héllo\nwörld")
    assert await arts.load_bytes_by_id(text.artifact_id) == "héllo\nwörld".encode()
    assert await arts.load_text_by_id(text.artifact_id) == "héllo\nwörld"
    payload = {"foo": "bar", "count": 42, "list": [1.5, None, True]}
    js = await arts.save_json(payload)
    assert await arts.load_json_by_id(js.artifact_id) == payload
    assert await arts.load_text_by_id(js.artifact_id) == json.dumps(payload, ensure_ascii=False)


async def test_load_text_and_json_by_id_honour_encoding_and_errors(arts, tmp_path):
    latin = await save_bytes(arts, tmp_path, "café".encode("latin-1"), "latin.txt")
    assert await arts.load_text_by_id(latin.artifact_id, encoding="latin-1") == "café"
    with pytest.raises(UnicodeDecodeError):
        await arts.load_text_by_id(latin.artifact_id)
    assert await arts.load_text_by_id(latin.artifact_id, errors="replace") == "caf\ufffd"
    assert await arts.load_text_by_id(latin.artifact_id, errors="ignore") == "caf"

    utf16 = await save_bytes(arts, tmp_path, '{"k": "vé"}'.encode("utf-16"), "u16.json")
    assert await arts.load_json_by_id(utf16.artifact_id, encoding="utf-16") == {"k": "vé"}
    assert await arts.load_text_by_id(utf16.artifact_id, encoding="utf-16") == '{"k": "vé"}'
    uri = f"satchel://{utf16.artifact_id}"
    assert await arts.load_json(uri, encoding="utf-16") == {"k": "vé"}
    assert await arts.load_text(uri, encoding="utf-16") == '{"k": "vé"}'
    assert await arts.load_text(f"satchel://{latin.artifact_id}", errors="replace") == "caf\ufffd"


async def test_unknown_id_raises_not_found_which_is_a_file_not_found_error(arts):
    for load in (arts.load_bytes_by_id, arts.load_text_by_id, arts.load_json_by_id):
        with pytest.raises(NotFoundError):
            await load(UNKNOWN_ID)
        with pytest.raises(FileNotFoundError):
            await load(UNKNOWN_ID)
    for load in (arts.load_bytes, arts.load_text, arts.load_json):
        with pytest.raises(FileNotFoundError):
            await load(f"satchel://{UNKNOWN_ID}")
    with pytest.raises(FileNotFoundError):
        await arts.as_local_file(f"satchel://{UNKNOWN_ID}")
    with pytest.raises(FileNotFoundError):
        await arts.as_local_dir(f"satchel://{UNKNOWN_ID}")


async def test_invalid_json_raises_json_decode_error(arts, tmp_path):
    a = await arts.save_text("{not json", name="broken.json")
    with pytest.raises(json.JSONDecodeError) as info:
        await arts.load_json_by_id(a.artifact_id)
    assert info.value.pos == 1
    with pytest.raises(json.JSONDecodeError):
        await arts.load_json(f"satchel://{a.artifact_id}")
    local = tmp_path / "broken.json"
    local.write_text("[1, 2,")
    with pytest.raises(json.JSONDecodeError):
        await arts.load_json(str(local))


async def test_directory_artifact_is_not_a_file(arts, tmp_path):
    d = await arts.ingest_dir(write_tree(tmp_path / "d", DIR_FILES))
    for load in (arts.load_bytes_by_id, arts.load_text_by_id, arts.load_json_by_id):
        with pytest.raises(IsADirectoryError):
            await load(d.artifact_id)
    with pytest.raises(ArtifactIsDirectoryError):
        await arts.load_bytes(f"satchel://{d.artifact_id}")
    with pytest.raises(IsADirectoryError):
        await arts.as_local_file(d)
    with pytest.raises(IsADirectoryError):
        await arts.as_local_file(f"satchel://{d.artifact_id}")


# -- load by URI ----------------------------------------------------------------------------


async def test_load_bytes_of_satchel_uris(arts, tmp_path):
    a = await arts.save_text("by uri")
    assert await arts.load_bytes(f"satchel://{a.artifact_id}") == b"by uri"
    assert await arts.load_text(f"satchel://{a.artifact_id}") == "by uri"
    # A file artifact's single file may be named too.
    assert await arts.load_bytes(f"satchel://{a.artifact_id}/{a.files[0].path}") == b"by uri"
    with pytest.raises(NotFoundError):
        await arts.load_bytes(f"satchel://{a.artifact_id}/other.txt")

    d = await arts.ingest_dir(write_tree(tmp_path / "d", DIR_FILES))
    for key, data in DIR_FILES.items():
        assert await arts.load_bytes(f"satchel://{d.artifact_id}/{quote(key)}") == data
    assert await arts.load_json(f"satchel://{d.artifact_id}/nested/b.json") == {"b": 2}
    with pytest.raises(NotFoundError):
        await arts.load_bytes(f"satchel://{d.artifact_id}/nested/missing.txt")
    with pytest.raises(NotFoundError):
        await arts.load_bytes(f"satchel://{d.artifact_id}/nested")  # a folder, not a file


async def test_artifact_uri_helper_round_trips_every_valid_key(arts, tmp_path):
    # satchel.uris.artifact_uri builds the URI of a file inside an artifact; keys may hold
    # "%", "#", "?" and spaces (seeds/001), which must survive the URI round trip.
    d = await arts.ingest_dir(write_tree(tmp_path / "d", DIR_FILES))
    for key, data in DIR_FILES.items():
        assert await arts.load_bytes(artifact_uri(d.artifact_id, key)) == data, key


async def test_load_bytes_of_the_artifacts_own_uri(arts, context, tmp_path):
    small = await arts.save_text("small")
    assert await arts.load_bytes(small.uri) == b"small"
    data = big_bytes(context)
    big = await save_bytes(arts, tmp_path, data)
    assert big.uri is not None
    assert await arts.load_bytes(big.uri) == data
    assert Path(await arts.as_local_file(big.uri)).read_bytes() == data
    d = await arts.ingest_dir(write_tree(tmp_path / "d", DIR_FILES))
    assert read_tree(await arts.as_local_dir(d.uri)) == DIR_FILES


async def test_load_bytes_of_local_paths(arts, tmp_path):
    src = tmp_path / "caller's file.txt"
    src.write_bytes(b"local bytes")
    assert await arts.load_bytes(str(src)) == b"local bytes"
    assert await arts.load_bytes(src) == b"local bytes"
    assert await arts.load_bytes(src.as_uri()) == b"local bytes"
    assert await arts.load_text(src.as_uri()) == "local bytes"
    with pytest.raises(NotFoundError):
        await arts.load_bytes(str(tmp_path / "missing.txt"))
    with pytest.raises(FileNotFoundError):
        await arts.load_bytes((tmp_path / "missing.txt").as_uri())


async def test_foreign_urls_are_refused_and_nothing_is_fetched(arts):
    with counting_http_server() as (base, seen):
        for uri in (
            f"{base}/x",
            f"{base.replace('http', 'https')}/x",
            "s3://other-bucket/x",
            "gs://bucket/x",
            "ftp://host/x",
            "file://remote-host/etc/passwd",
            "satchel://",
        ):
            for load in (arts.load_bytes, arts.load_text, arts.load_json):
                with pytest.raises(InvalidURIError):
                    await load(uri)
            with pytest.raises(ValueError):
                await arts.load_bytes(uri)
            with pytest.raises(InvalidURIError):
                await arts.as_local_file(uri)
            with pytest.raises(InvalidURIError):
                await arts.as_local_dir(uri)
    assert seen == []


async def test_satchel_uri_paths_cannot_escape(arts, tmp_path):
    d = await arts.ingest_dir(write_tree(tmp_path / "d", DIR_FILES))
    aid = d.artifact_id
    for path in ("../x", "nested/../a.txt", "./a.txt", "%2e%2e/x", "a%5Cb", "nested//b.json"):
        with pytest.raises(InvalidFileKeyError):
            await arts.load_bytes(f"satchel://{aid}/{path}")
        with pytest.raises(ValidationError):
            await arts.as_local_file(f"satchel://{aid}/{path}")


# -- as_local_file / as_local_dir -------------------------------------------------------


async def test_as_local_file_materialises_a_verified_copy_named_by_the_file_key(arts, tmp_path):
    a = await save_bytes(arts, tmp_path, b"weights", "model.bin")
    by_artifact = await arts.as_local_file(a)
    assert os.path.basename(by_artifact) == "model.bin"
    assert Path(by_artifact).read_bytes() == b"weights"
    assert os.path.isabs(by_artifact)
    # Same path again, and the same path by URI.
    assert await arts.as_local_file(a) == by_artifact
    assert await arts.as_local_file(f"satchel://{a.artifact_id}") == by_artifact
    # The caller's copy is not the stored blob: changing it never changes the artifact.
    Path(by_artifact).write_bytes(b"tampered")
    assert await arts.as_local_file(a) == by_artifact
    assert Path(by_artifact).read_bytes() == b"weights"
    Path(by_artifact).write_bytes(b"")
    assert Path(await arts.as_local_file(a)).read_bytes() == b"weights"
    os.unlink(by_artifact)
    assert Path(await arts.as_local_file(a)).read_bytes() == b"weights"
    # Replaced by a symlink: restored as a regular file, the link's target is untouched.
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"victim")
    os.unlink(by_artifact)
    os.symlink(victim, by_artifact)
    restored = await arts.as_local_file(a)
    assert not os.path.islink(restored)
    assert Path(restored).read_bytes() == b"weights"
    assert victim.read_bytes() == b"victim"
    assert await arts.load_bytes_by_id(a.artifact_id) == b"weights"


async def test_as_local_file_of_a_large_artifact_and_of_a_directory_member(arts, context, tmp_path):
    data = big_bytes(context)
    a = await save_bytes(arts, tmp_path, data, "big.bin")
    path = await arts.as_local_file(a)
    assert os.path.basename(path) == "big.bin"
    assert Path(path).read_bytes() == data

    d = await arts.ingest_dir(write_tree(tmp_path / "d", DIR_FILES))
    member = await arts.as_local_file(f"satchel://{d.artifact_id}/nested/deeper/c.bin")
    assert os.path.basename(member) == "c.bin"
    assert Path(member).read_bytes() == DIR_FILES["nested/deeper/c.bin"]


async def test_file_and_directory_operations_do_not_mix(arts, tmp_path):
    a = await arts.save_text("file")
    with pytest.raises(NotADirectoryError):
        await arts.as_local_dir(a)
    with pytest.raises(ArtifactNotDirectoryError):
        await arts.as_local_dir(f"satchel://{a.artifact_id}")
    d = await arts.ingest_dir(write_tree(tmp_path / "d", {"x.txt": b"x"}))
    with pytest.raises(IsADirectoryError):
        await arts.as_local_file(d)
    # Local paths: a directory is not a file and a file is not a directory.
    with pytest.raises(IsADirectoryError):
        await arts.as_local_file(str(tmp_path))
    f = tmp_path / "plain.txt"
    f.write_bytes(b"p")
    with pytest.raises(NotADirectoryError):
        await arts.as_local_dir(str(f))


async def test_as_local_dir_restores_a_modified_copy(arts, tmp_path):
    d = await arts.ingest_dir(write_tree(tmp_path / "d", DIR_FILES))
    local = Path(await arts.as_local_dir(d))
    assert read_tree(local) == DIR_FILES
    (local / "a.txt").write_bytes(b"changed")
    (local / "extra.txt").write_bytes(b"extra")
    (local / "nested" / "deeper" / "c.bin").unlink()
    again = await arts.as_local_dir(d)
    assert read_tree(again) == DIR_FILES


async def test_must_exist_for_local_paths(arts, tmp_path):
    f = tmp_path / "present.txt"
    f.write_bytes(b"here")
    assert Path(await arts.as_local_file(str(f))).read_bytes() == b"here"
    assert Path(await arts.as_local_file(f.as_uri())).read_bytes() == b"here"
    assert Path(await arts.as_local_dir(str(tmp_path))) == tmp_path.resolve()

    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError):
        await arts.as_local_file(str(missing))
    with pytest.raises(FileNotFoundError):
        await arts.as_local_file(str(missing), must_exist=True)
    assert await arts.as_local_file(str(missing), must_exist=False) == str(missing.resolve())
    assert not missing.exists()

    missing_dir = tmp_path / "missing-dir"
    with pytest.raises(FileNotFoundError):
        await arts.as_local_dir(str(missing_dir))
    assert await arts.as_local_dir(str(missing_dir), must_exist=False) == str(missing_dir.resolve())
    assert not missing_dir.exists()


# -- lineage --------------------------------------------------------------------------------


async def test_lineage_records_producer_and_users(arts, context, open_context, facade_kind):
    a = await arts.save_text("shared result")
    produced = await arts.lineage(a.artifact_id)
    assert [(o.event, o.run_id, o.node_id, o.artifact_id) for o in produced] == [
        ("produced", context.run_id, context.info.node_id, a.artifact_id)
    ]
    assert produced[0].at.utcoffset() is not None

    consumer = open_context(
        run_id="r-consumer", node_id="n-eval", org_id="o1", user_id="u1", session_id="s1"
    )
    other = facade_of(consumer, facade_kind)
    assert await other.load_text_by_id(a.artifact_id) == "shared result"
    await other.load_bytes(f"satchel://{a.artifact_id}")
    await other.as_local_file(a)

    events = await other.lineage(a.artifact_id)
    assert events[0].event == "produced"
    assert {(o.event, o.run_id, o.node_id) for o in events} == {
        ("produced", context.run_id, context.info.node_id),
        ("used", "r-consumer", "n-eval"),
    }
    assert [o.at for o in events] == sorted(o.at for o in events)
    # A plain metadata read is not a use.
    third = facade_of(open_context(run_id="r-peek", org_id="o1"), facade_kind)
    assert await third.get_by_id(a.artifact_id) is not None
    assert "r-peek" not in {o.run_id for o in await arts.lineage(a.artifact_id)}


async def test_lineage_of_an_unknown_id_is_not_found(arts):
    # As pin and the loads, and as a server answers (404): not an empty history.
    with pytest.raises(NotFoundError):
        await arts.lineage(UNKNOWN_ID)
