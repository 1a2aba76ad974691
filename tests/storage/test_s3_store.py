"""The S3 store beyond the conformance suite: URL and credentials, the multipart paths,
garbage, signing, and the facade on an ``s3://`` URL alone. Real SeaweedFS, no mocks.

The conformance suite's blobs fit in one part (one create-only PUT); these use 5 MiB parts
so that a 12 MiB blob takes the multipart paths.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import obstore as obs
import pytest

import satchel
from _seaweed import Seaweed, unique_prefix
from satchel.errors import ConfigError, ConflictError, IntegrityError, NotFoundError
from satchel.hashing import Digest
from satchel.storage import BlobGarbage, BlobSigner, DigestFirstUpload, open_blob_store
from satchel.storage.layout import blob_key
from satchel.storage.s3 import S3BlobStore
from satchel.storage.s3_config import S3Credentials, parse_s3_url, resolve

MIB = 1024 * 1024


def digest_of(data: bytes) -> Digest:
    return Digest(hexdigest=hashlib.sha256(data).hexdigest())


@pytest.fixture
def store(seaweed: Seaweed) -> S3BlobStore:
    return S3BlobStore(seaweed.url(unique_prefix()) + "&part_size=5MiB&concurrency=2")


def read_all(store: S3BlobStore, digest: Digest) -> bytes:
    out = bytearray()
    buffer = bytearray(MIB)
    with store.open_read(digest) as reader:
        while n := reader.readinto(buffer):
            out += buffer[:n]
    return bytes(out)


# -- URL and credentials (no server) ----------------------------------------------------


def test_url_parsing_and_canonical_form() -> None:
    loc = parse_s3_url("s3://bucket-1/team/a?endpoint=http://127.0.0.1:8333&part_size=16MiB")
    assert (loc.bucket, loc.prefix, loc.endpoint) == ("bucket-1", "team/a", "http://127.0.0.1:8333")
    assert loc.part_size == 16 * MIB
    assert loc.key("blobs/x") == "team/a/blobs/x"
    assert parse_s3_url(loc.url) == loc
    assert parse_s3_url("s3://bucket-1").url == "s3://bucket-1"
    assert parse_s3_url("s3://bucket-1/").key("tmp/x") == "tmp/x"


@pytest.mark.parametrize(
    "url",
    [
        "s3://Bad_Bucket/x",
        "s3://key:secret@bucket/x",
        "s3://bucket/../x",
        "s3://bucket/a b",
        "s3://bucket/x?unknown=1",
        "s3://bucket/x?part_size=1MiB",
        "s3://bucket/x?part_size=64MiB&concurrency=8",
        "s3://bucket/x?endpoint=file:///etc",
        "gs://bucket/x",
    ],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_s3_url(url)


def test_credentials_come_from_arguments_then_environment_then_profile(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = P\naws_secret_access_key = PS\n"
        "[team]\naws_access_key_id = T\naws_secret_access_key = TS\n"
    )
    (tmp_path / "config").write_text("[profile team]\nregion = eu-west-1\n")
    files = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    env = {**files, "AWS_ACCESS_KEY_ID": "E", "AWS_SECRET_ACCESS_KEY": "ES"}
    loc = parse_s3_url("s3://bucket/x")
    given = S3Credentials(access_key_id="A", secret_access_key="AS")
    assert resolve(loc, given, env)[0] == given
    assert resolve(loc, None, env)[0] == S3Credentials(access_key_id="E", secret_access_key="ES")
    assert resolve(loc, None, files)[0] == S3Credentials(access_key_id="P", secret_access_key="PS")
    creds, region, endpoint = resolve(parse_s3_url("s3://bucket/x?profile=team"), None, files)
    assert (creds, region, endpoint) == (
        S3Credentials(access_key_id="T", secret_access_key="TS"),
        "eu-west-1",
        None,
    )
    assert resolve(loc, None, {**files, "AWS_PROFILE": "team"})[1] == "eu-west-1"
    assert resolve(loc, None, {"HOME": str(tmp_path)}) == (None, "us-east-1", None)
    with pytest.raises(ConfigError):
        resolve(parse_s3_url("s3://bucket/x?profile=nope"), None, files)
    assert "ES" not in repr(resolve(loc, None, env)[0])


def test_create_only_copy_mode_follows_the_endpoint() -> None:
    keys = S3Credentials(access_key_id="a", secret_access_key="b")

    def mode(url: str) -> object:
        config = S3BlobStore(url, credentials=keys, environ={}).obstore.config
        return config.get("copy_if_not_exists") or config.get("aws_copy_if_not_exists")

    assert mode("s3://bucket/x") == "multipart"  # AWS itself
    assert mode("s3://bucket/x?endpoint=http://127.0.0.1:1") == "header:If-None-Match:*"
    assert mode("s3://bucket/x?copy_if_not_exists=multipart&endpoint=http://h:1") == "multipart"


def test_without_obstore_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['obstore'] = None\n"
        "from satchel.storage import open_blob_store\n"
        "from satchel.errors import MissingDependencyError\n"
        "try:\n    open_blob_store('s3://bucket/x')\n"
        "except MissingDependencyError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "satchel[s3]" in out


# -- the multipart paths ----------------------------------------------------------------


def test_store_has_its_optional_abilities(store: S3BlobStore) -> None:
    assert isinstance(store, DigestFirstUpload)
    assert isinstance(store, BlobGarbage)
    assert isinstance(store, BlobSigner)
    assert isinstance(open_blob_store(store.url), S3BlobStore)


def test_streamed_blob_over_one_part_goes_through_a_temporary_key(store: S3BlobStore) -> None:
    data = os.urandom(12 * MIB + 7)
    digest = digest_of(data)
    sink = store.open_sink()
    for start in range(0, len(data), MIB):
        sink.write(data[start : start + MIB])
    assert store.stat(digest) is None  # parts are up, the key is not
    assert sink.commit(digest) is True
    assert read_all(store, digest) == data
    again = store.open_sink()
    again.write(data)
    assert again.commit(digest) is False
    assert dict(store.iter_blobs()) == {digest: len(data)}
    assert list(store.iter_garbage(older_than=timedelta(0))) == []


def test_reads_cross_get_windows(seaweed: Seaweed) -> None:
    store = S3BlobStore(seaweed.url(unique_prefix()) + "&part_size=5MiB", read_window=3 * MIB)
    data = os.urandom(12 * MIB + 5)
    digest = digest_of(data)
    assert store.put_verified(io.BytesIO(data), digest, len(data))
    assert read_all(store, digest) == data  # 1 MiB buffers over 3 MiB windows
    with store.open_read(digest) as reader:
        big = bytearray(20 * MIB)
        got = bytearray()
        while n := reader.readinto(big):
            got += big[:n]
    assert got == data


def test_aborted_stream_leaves_nothing(store: S3BlobStore) -> None:
    sink = store.open_sink()
    sink.write(os.urandom(12 * MIB))
    sink.abort()
    sink.abort()
    assert dict(store.iter_blobs()) == {}
    assert list(store.iter_garbage(older_than=timedelta(0))) == []


def test_put_verified_uploads_once_and_refuses_changed_bytes(store: S3BlobStore) -> None:
    data = os.urandom(12 * MIB)
    digest = digest_of(data)
    progress: list[int] = []
    assert store.put_verified(io.BytesIO(data), digest, len(data), on_progress=progress.append)
    assert progress[-1] == len(data)
    assert read_all(store, digest) == data
    assert store.put_verified(io.BytesIO(data), digest, len(data)) is False

    changed = bytearray(data)
    changed[-1] ^= 1
    other = digest_of(data + b"x")
    with pytest.raises(ConflictError):
        store.put_verified(io.BytesIO(bytes(changed)), other, len(changed))
    with pytest.raises(ConflictError):  # one part: the single-PUT path checks too
        store.put_verified(io.BytesIO(b"short"), other, 5)
    assert store.stat(other) is None
    assert list(store.iter_garbage(older_than=timedelta(0))) == []


# -- garbage and signing ----------------------------------------------------------------


def test_garbage_lists_temp_objects_and_open_uploads_past_the_grace(store: S3BlobStore) -> None:
    obs.put(store.obstore, "tmp/01LEFTOVER", b"left by a crash")
    writer = obs.open_writer(store.obstore, "tmp/01INFLIGHT", buffer_size=5 * MIB)
    writer.write(os.urandom(6 * MIB))
    writer.flush()
    try:
        items = {g.kind: g for g in store.iter_garbage(older_than=timedelta(0))}
        assert set(items) == {"temp_object", "multipart_upload"}
        assert items["temp_object"].key == "tmp/01LEFTOVER"
        assert items["multipart_upload"].key == "tmp/01INFLIGHT"
        assert list(store.iter_garbage(older_than=timedelta(hours=1))) == []
        for item in items.values():
            assert store.remove_garbage(item) is True
            assert store.remove_garbage(item) is False
        assert list(store.iter_garbage(older_than=timedelta(0))) == []
    finally:
        writer.__exit__(RuntimeError, RuntimeError("abandon"), None)


def test_presigned_get_serves_the_raw_bytes(store: S3BlobStore) -> None:
    data = b"signed bytes " * 1000
    digest = digest_of(data)
    sink = store.open_sink()
    sink.write(data)
    sink.commit(digest)
    url = store.presign_get(digest, timedelta(minutes=5))
    assert blob_key(digest) in urlsplit(url).path
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data


def test_presigned_get_answers_the_signed_download_name(store: S3BlobStore) -> None:
    data = b"named bytes"
    digest = digest_of(data)
    sink = store.open_sink()
    sink.write(data)
    sink.commit(digest)
    disposition = "attachment; filename=\"r_sum_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
    url = store.presign_get(
        digest, timedelta(minutes=5), disposition=disposition, content_type="text/plain"
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data
        assert response.headers["Content-Disposition"] == disposition
        assert response.headers["Content-Type"].startswith("text/plain")
    # The headers are signed: a holder of the URL cannot change them.
    forged = url.replace("text%2Fplain", "text%2Fhtml")
    assert forged != url
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    refused.value.close()
    assert refused.value.code == 403


def test_presigned_put_is_adopted_only_with_the_right_digest(store: S3BlobStore) -> None:
    data = b"uploaded by a client" * 500
    digest = digest_of(data)
    upload = store.presign_put(timedelta(minutes=5))
    request = urllib.request.Request(upload.url, data=data, method="PUT")
    urllib.request.urlopen(request, timeout=10).close()
    assert store.stat(digest) is None  # nothing is published before verification
    assert store.adopt_upload(upload.token, digest) is True
    assert read_all(store, digest) == data

    bad = store.presign_put(timedelta(minutes=5))
    request = urllib.request.Request(bad.url, data=b"not what was promised", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()
    wanted = digest_of(b"something else")
    with pytest.raises(IntegrityError):
        store.adopt_upload(bad.token, wanted)
    assert store.stat(wanted) is None
    assert list(store.iter_garbage(older_than=timedelta(0))) == []
    with pytest.raises(NotFoundError):
        store.adopt_upload(store.presign_put(timedelta(minutes=1)).token, wanted)


# -- the facade on an s3:// URL ---------------------------------------------------------


def test_satchel_store_env_alone_works_with_the_index_in_home(
    seaweed: Seaweed, tmp_path: Path
) -> None:
    url = seaweed.url(unique_prefix())
    environ = {"SATCHEL_STORE": url, "SATCHEL_HOME": str(tmp_path / "home")}
    ctx = satchel.Context(settings=satchel.Settings.load(environ=environ), run_id="r1")
    try:
        arts = ctx.sync_artifacts()
        source = tmp_path / "weights.bin"
        source.write_bytes(os.urandom(9 * MIB))
        art = arts.save_file(source, kind="checkpoint")
        assert art.uri is not None
        assert art.uri.startswith(f"s3://{seaweed.bucket}/")
        assert art.uri.endswith(blob_key(Digest(hexdigest=art.sha256)))
        assert arts.load_bytes_by_id(art.artifact_id) == source.read_bytes()
        assert arts.load_bytes(art.uri) == source.read_bytes()
    finally:
        ctx.close()
    assert (tmp_path / "home" / "index.db").is_file()
