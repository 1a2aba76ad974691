"""Corruption on every read path but the embedded SDK's (``test_corruption.py``): a flipped
byte, a truncated blob and a missing blob, on both server backend pairs (local directory +
SQLite, SeaweedFS S3 + PostgreSQL), each read over a real socket.

* The server's streamed download and a Range request: never a clean answer with wrong bytes.
  A missing blob is a clean ``500 integrity_error`` (found before anything is sent); a
  flipped or truncated one is found only once the whole blob is read, after the headers
  went out, so the server cuts the connection and the client sees a body shorter than its
  ``Content-Length`` (httpx: ``RemoteProtocolError``). The promise for ranges
  (docs/api.md): the server reads and hashes the whole blob for a range too, so a range
  that does not hold the flipped byte fails the same way and sends none of its bytes.
* A signed link: on a local store the server streams it (verified, as above). On S3 the
  link redirects to a presigned URL of the bucket, which serves whatever it holds: no
  server check is possible there. The redirect carries ``X-Satchel-SHA256`` so whoever
  follows it can check; the SDK never downloads through links but through the API, and
  raises ``IntegrityError``.
* The remote SDK, ``satchel artifacts download`` and ``satchel artifacts get`` (against the
  server, and embedded on both pairs): ``IntegrityError`` / ``error[integrity_error]`` and
  exit 1, and no file, partial or wrong, in the download directory.
* ``fsck`` (the function, and ``satchel fsck`` on the server's store) names the artifact
  and exits 1: the quick check finds a truncated or missing blob, ``--read-data`` a flipped
  byte (which keeps the size).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import obstore as obs
import pytest
from typer.testing import CliRunner, Result

import satchel
import satchel.client._download
from conftest import CONTEXT_FIELDS
from remotekit import RemoteWorld, on_both_pairs
from satchel.cli.app import app as cli_app
from satchel.config import Settings
from satchel.fsck import fsck
from satchel.hashing import Digest
from satchel.server.downloads import CHUNK
from satchel.storage import BlobStore
from satchel.storage.layout import blob_key
from satchel.storage.local import LocalBlobStore
from satchel.storage.s3 import BLOBS, S3BlobStore
from satchel.store import ArtifactStore

#: Larger than the server's read chunk (512 KiB) several times over: the flipped byte, near
#: the end, is read long after the headers and the first bytes of the body went out.
SIZE = 3 * 1024 * 1024 + 17
FLIP_AT = SIZE - 10
HOW = ["flip", "truncate", "delete"]


def damage(blobs: BlobStore, sha256: str, how: str) -> None:
    """Damage a stored blob behind the store's back: on its disk or in its bucket."""
    digest = Digest(hexdigest=sha256)
    if isinstance(blobs, S3BlobStore):
        key = BLOBS + blob_key(digest)
        if how == "delete":
            obs.delete(blobs.obstore, key)
            return
        data = bytearray(obs.get(blobs.obstore, key).bytes())
    else:
        assert isinstance(blobs, LocalBlobStore)
        path = blobs.blob_path(digest)
        if how == "delete":
            path.unlink()
            return
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
    if how == "flip":
        data[FLIP_AT] ^= 1
    else:
        del data[SIZE // 2 :]
    if isinstance(blobs, S3BlobStore):
        obs.put(blobs.obstore, key, bytes(data))
    else:
        path.write_bytes(bytes(data))


@dataclass
class Fetched:
    status: int
    headers: httpx.Headers
    body: bytes
    cut: httpx.HTTPError | None  # the body ended before its Content-Length


def fetch(url: str, headers: dict[str, str] | None = None) -> Fetched:
    """A plain HTTP GET over the socket, recording how the body ended."""
    body = bytearray()
    cut: httpx.HTTPError | None = None
    with httpx.Client(timeout=30) as client, client.stream("GET", url, headers=headers) as r:
        try:
            for piece in r.iter_raw():
                body += piece
        except httpx.HTTPError as exc:
            cut = exc
    return Fetched(r.status_code, r.headers, bytes(body), cut)


def assert_refused(got: Fetched, how: str, *, length: int) -> None:
    """What the client sees of a damaged blob: a clean 500 when it is missing, else an
    answer whose body is cut short of its announced length; never the announced bytes."""
    if how == "delete":
        assert got.status == 500, got
        assert json.loads(got.body)["error"]["code"] == "integrity_error"
        return
    assert got.status in (200, 206)
    assert int(got.headers["content-length"]) == length
    assert isinstance(got.cut, httpx.RemoteProtocolError), got.cut
    assert len(got.body) < length


def cli(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
    if code:
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result


def assert_download_refused(args: list[str], into: Path) -> None:
    """A CLI download of damaged bytes: exit 1, ``error[integrity_error]``, nothing in DIR."""
    result = cli(*args, code=1)
    assert result.stderr.startswith("error[integrity_error]: "), result.stderr
    assert result.stdout == ""
    assert [p for p in into.rglob("*") if not p.is_dir()] == []


def store_target(store: ArtifactStore) -> list[str]:
    target = ["--store", str(store.settings.store)]
    if store.settings.index is not None:
        target += ["--index", store.settings.index]
    return target


def assert_fsck_names(store: ArtifactStore, artifact_id: str, how: str) -> None:
    """``fsck`` and ``satchel fsck`` name the damaged artifact, and only it; exit 1."""
    quick = fsck(store)
    if how == "flip":
        assert quick.ok  # the size is right: only reading the bytes can tell
        cli("fsck", *store_target(store))
    else:
        assert quick.damaged_artifacts == [artifact_id]
    assert fsck(store, read_data=True).damaged_artifacts == [artifact_id]
    args = ["fsck", *(["--read-data"] if how == "flip" else []), *store_target(store)]
    out = cli(*args, code=1).stdout
    assert f"damaged: {artifact_id} " in out
    assert "DAMAGED: 1 damaged artifacts, 1 damaged files" in out
    report = json.loads(cli(*args, "--json", code=1).stdout)
    assert report["damaged_artifacts"] == [artifact_id]


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A download cut short is tried again (resuming with Range) after a pause: no pause
    # here, where every try meets the same damage.
    monkeypatch.setattr(satchel.client._download, "_BACKOFF", (0.0,) * 4)
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_SERVER", "SATCHEL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("SATCHEL_CREDENTIALS", str(tmp_path / "credentials.json"))
    yield


@on_both_pairs
@pytest.mark.parametrize("how", HOW)
def test_every_server_read_path_refuses_a_damaged_blob(
    remote: RemoteWorld, tmp_path: Path, clean_env: None, how: str
) -> None:
    ctx = remote.context(run_id="r1")
    arts = ctx.sync_artifacts()
    data = os.urandom(SIZE)
    (tmp_path / "weights.bin").write_bytes(data)
    art = arts.save_file(tmp_path / "weights.bin", kind="checkpoint")
    control_data = os.urandom(SIZE)
    (tmp_path / "control.bin").write_bytes(control_data)
    control = arts.save_file(tmp_path / "control.bin", kind="checkpoint")
    assert art.sha256
    store = remote.store
    damage(store.blobs, art.sha256, how)

    member = remote.member()
    auth = {"Authorization": f"Bearer {member.token}"}
    file_url = f"{remote.url}/api/v1/artifacts/{art.artifact_id}/files/weights.bin"
    # The streamed download.
    assert_refused(fetch(file_url, auth), how, length=SIZE)
    # Ranges: one that holds none of the damage (the server reads the whole blob all the
    # same, and holds back the range's bytes until the check passed), and one that does.
    # Bytes go out a read chunk behind the blob's reading: a range inside one chunk sends
    # nothing; one across the last two chunks may send its part in the first of them, but
    # never the last one, which holds the end of the blob (and here the flipped byte).
    for header, first in (("bytes=0-99", 0), ("bytes=-100", SIZE - 100)):
        got = fetch(file_url, {**auth, "Range": header})
        assert_refused(got, how, length=100)
        if how != "delete":
            assert got.status == 206
            assert got.body == data[first : first + len(got.body)]
            if first == 0 or how == "truncate":
                assert got.body == b""
            else:
                assert len(got.body) == 100 - SIZE % CHUNK and FLIP_AT >= SIZE - SIZE % CHUNK
    # The undamaged artifact streams whole.
    control_url = f"{remote.url}/api/v1/artifacts/{control.artifact_id}/files/control.bin"
    good = fetch(control_url, auth)
    assert (good.status, good.cut, good.body) == (200, None, control_data)

    # A signed link.
    made = httpx.post(
        f"{remote.url}/api/v1/artifacts/{art.artifact_id}/links", json={}, headers=auth
    )
    assert made.status_code == 201, made.text
    link = made.json()["url"]
    if isinstance(store.blobs, S3BlobStore):
        # The server cannot check what the bucket serves: the redirect names the digest for
        # whoever follows it, and the bytes behind it are what the bucket holds.
        redirect = httpx.get(link)
        assert redirect.status_code == 307
        assert redirect.headers["x-satchel-sha256"] == art.sha256
        behind = fetch(redirect.headers["location"])
        if how == "delete":
            assert behind.status == 404
        else:
            assert behind.status == 200 and behind.cut is None
            assert hashlib.sha256(behind.body).hexdigest() != art.sha256
    else:
        assert_refused(fetch(link), how, length=SIZE)

    # The remote SDK (what follows a link's artifact for a user: the API, verified).
    with pytest.raises(satchel.IntegrityError):
        arts.load_bytes_by_id(art.artifact_id)
    with pytest.raises(satchel.IntegrityError):
        arts.as_local_file(art)
    assert arts.load_bytes_by_id(control.artifact_id) == control_data

    # The CLI against the server: download and get.
    server = ["--server", remote.url, "--token", member.token]
    into = tmp_path / "downloads"
    assert_download_refused(
        ["artifacts", "download", art.artifact_id, "-p", str(into), *server], into
    )
    fetched = tmp_path / "fetched"
    assert_download_refused(
        ["artifacts", "get", "r1", "--download-dir", str(fetched), *server], fetched
    )
    ok = cli("artifacts", "download", control.artifact_id, "-p", str(into), *server)
    assert Path(ok.stdout.strip()).read_bytes() == control_data

    assert_fsck_names(store, art.artifact_id, how)


@pytest.fixture(params=["local", "s3+postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("how", HOW)
def test_the_embedded_cli_refuses_a_damaged_blob(
    settings: Settings, tmp_path: Path, clean_env: None, how: str
) -> None:
    data = os.urandom(SIZE)
    (tmp_path / "weights.bin").write_bytes(data)
    with satchel.Context(settings=settings, **CONTEXT_FIELDS) as ctx:
        art = ctx.sync_artifacts().save_file(tmp_path / "weights.bin", kind="checkpoint")
        assert art.sha256
        damage(ctx.store.blobs, art.sha256, how)
        target = store_target(ctx.store)
        into = tmp_path / "downloads"
        assert_download_refused(
            ["artifacts", "download", art.artifact_id, "-p", str(into), *target], into
        )
        fetched = tmp_path / "fetched"
        assert_download_refused(
            ["artifacts", "get", CONTEXT_FIELDS["run_id"], "-d", str(fetched), *target],
            fetched,
        )
        assert_fsck_names(ctx.store, art.artifact_id, how)
