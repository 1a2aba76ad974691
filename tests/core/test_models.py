"""Value types: the Artifact dict round trip, RFC 3339 times, and ULIDs."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import satchel.models
from satchel.errors import ValidationError
from satchel.models import (
    DIRECTORY_MIME,
    Artifact,
    ArtifactFile,
    format_time,
    new_id,
    parse_time,
)

RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# -- strategies -------------------------------------------------------------------------------

times = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9999, 12, 30),
    timezones=st.just(UTC),
)
texts = st.text(max_size=20)
opt_text = st.none() | texts
finite = st.floats(allow_nan=False, allow_infinity=False)
label_values = st.one_of(
    texts, st.integers(min_value=-(2**63), max_value=2**63), finite, st.booleans()
)
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
files = st.builds(
    ArtifactFile,
    path=st.text(min_size=1, max_size=30),
    sha256=hex64,
    bytes=st.integers(min_value=0, max_value=2**50),
    mime=opt_text,
    status=st.sampled_from(["pending", "completed"]),
)
artifacts = st.builds(
    Artifact,
    artifact_id=st.text(min_size=1, max_size=26),
    name=opt_text,
    kind=opt_text,
    status=st.sampled_from(["pending", "completed", "failed"]),
    run_id=opt_text,
    graph_id=opt_text,
    node_id=opt_text,
    tool_name=opt_text,
    tool_version=opt_text,
    model_id=opt_text,
    model_version=opt_text,
    sha256=st.none() | hex64,
    bytes=st.none() | st.integers(min_value=0, max_value=2**50),
    mime=opt_text,
    created_at=st.none() | times,
    updated_at=st.none() | times,
    tags=st.lists(texts, max_size=5, unique=True),
    labels=st.dictionaries(texts, label_values, max_size=5),
    metrics=st.dictionaries(texts, finite, max_size=5),
    pinned=st.booleans(),
    uri=opt_text,
    preview_uri=opt_text,
    org_id=opt_text,
    user_id=opt_text,
    client_id=opt_text,
    app_id=opt_text,
    session_id=opt_text,
    files=st.lists(files, max_size=4),
)


def typed(value: Any) -> Any:
    """A comparable form that tells True from 1 and 1.0 from 1 (== does not)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def assert_identical(got: Artifact, expected: Artifact) -> None:
    assert got == expected
    assert typed(got.labels) == typed(expected.labels)
    assert typed(got.metrics) == typed(expected.metrics)
    for name in ("created_at", "updated_at"):
        value = getattr(got, name)
        if value is not None:
            assert value.utcoffset() == timedelta(0)


# -- to_dict / from_dict ------------------------------------------------------------------------


@given(artifacts)
def test_dict_round_trip_is_identity(artifact: Artifact) -> None:
    assert_identical(Artifact.from_dict(artifact.to_dict()), artifact)


@given(artifacts)
def test_json_round_trip_is_identity(artifact: Artifact) -> None:
    text = json.dumps(artifact.to_dict(), allow_nan=False)
    assert_identical(Artifact.from_dict(json.loads(text)), artifact)


@given(artifacts)
def test_to_dict_times_are_rfc3339_z(artifact: Artifact) -> None:
    data = artifact.to_dict()
    for name in ("created_at", "updated_at"):
        value = getattr(artifact, name)
        if value is None:
            assert data[name] is None
            continue
        assert isinstance(data[name], str)
        assert RFC3339_Z.fullmatch(data[name]), data[name]
        assert data[name].endswith("Z")
        assert datetime.fromisoformat(data[name]) == value


@given(artifacts)
def test_to_dict_does_not_share_mutable_state(artifact: Artifact) -> None:
    data = artifact.to_dict()
    data["tags"].append("extra")
    data["labels"]["extra"] = 1
    data["metrics"]["extra"] = 1.0
    assert "extra" not in artifact.tags
    assert "extra" not in artifact.labels
    assert "extra" not in artifact.metrics
    assert all(isinstance(f, dict) for f in data["files"])


def test_to_dict_shape() -> None:
    when = datetime(2026, 11, 23, 11, 20, 0, 5, tzinfo=UTC)
    artifact = Artifact(
        artifact_id="a1",
        mime="text/plain",
        created_at=when,
        updated_at=when,
        files=[ArtifactFile(path="x.txt", sha256="0" * 64, bytes=3)],
    )
    data = artifact.to_dict()
    assert data["created_at"] == "2026-11-23T11:20:00.000005Z"
    assert data["files"] == [
        {"path": "x.txt", "sha256": "0" * 64, "bytes": 3, "mime": None, "status": "completed"}
    ]
    assert data["mime"] == "text/plain"
    assert set(data) == set(Artifact.__dataclass_fields__)


def test_to_dict_converts_other_zones_to_utc() -> None:
    tz = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2026, 1, 1, 5, 30, 0, 250000, tzinfo=tz)
    data = Artifact(artifact_id="a", created_at=local).to_dict()
    assert data["created_at"] == "2026-01-01T00:00:00.250000Z"
    back = Artifact.from_dict(data)
    assert back.created_at == local
    assert back.created_at is not None
    assert back.created_at.tzinfo == UTC


def test_from_dict_accepts_mimetype() -> None:
    artifact = Artifact.from_dict({"artifact_id": "a", "mimetype": "image/png"})
    assert artifact.mime == "image/png"
    assert artifact.mimetype == "image/png"
    both = Artifact.from_dict({"artifact_id": "a", "mime": "text/plain", "mimetype": "x/y"})
    assert both.mime == "text/plain"
    file = ArtifactFile.from_dict({"path": "p", "sha256": "0" * 64, "bytes": 1, "mimetype": "a/b"})
    assert file.mime == "a/b"


def test_from_dict_ignores_unknown_keys_and_fills_defaults() -> None:
    artifact = Artifact.from_dict(
        {"artifact_id": "a", "unknown": 1, "tags": None, "labels": None, "metrics": None}
    )
    assert artifact == Artifact(artifact_id="a")
    assert (artifact.tags, artifact.labels, artifact.metrics, artifact.files) == ([], {}, {}, [])


def test_from_dict_parses_offsets_to_utc() -> None:
    artifact = Artifact.from_dict({"artifact_id": "a", "created_at": "2026-01-01T02:00:00.5+02:00"})
    assert artifact.created_at == datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert artifact.created_at is not None
    assert artifact.created_at.tzinfo == UTC


def test_mimetype_property_and_is_dir() -> None:
    assert Artifact(artifact_id="a", mime="text/csv").mimetype == "text/csv"
    assert Artifact(artifact_id="a").mimetype is None
    assert Artifact(artifact_id="a", mime=DIRECTORY_MIME).is_dir
    assert not Artifact(artifact_id="a", mime="text/csv").is_dir


def test_artifact_is_frozen() -> None:
    artifact = Artifact(artifact_id="a")
    with pytest.raises(AttributeError):
        artifact.name = "b"  # type: ignore[misc]


# -- times --------------------------------------------------------------------------------


def test_format_time_refuses_naive_datetime() -> None:
    with pytest.raises(ValidationError):
        format_time(datetime(2026, 1, 1, 12, 0, 0))
    with pytest.raises(ValidationError):
        Artifact(artifact_id="a", created_at=datetime(2026, 1, 1)).to_dict()


def test_format_time_is_fixed_width() -> None:
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"


@given(times, times)
def test_format_time_text_order_is_time_order(a: datetime, b: datetime) -> None:
    assert (format_time(a) < format_time(b)) == (a < b)
    assert parse_time(format_time(a)) == a


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z", "2026-01-01 nope"]
)
def test_parse_time_refuses_bad_or_zoneless_text(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_time(text)


# -- ULIDs --------------------------------------------------------------------------------


def decode_ms(ulid: str) -> int:
    value = 0
    for char in ulid[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_new_id_shape_and_time() -> None:
    before = time.time_ns() // 1_000_000
    ulid = new_id()
    after = time.time_ns() // 1_000_000
    assert len(ulid) == 26
    assert set(ulid) <= set(CROCKFORD)
    assert before <= decode_ms(ulid) <= after


def test_new_ids_are_unique_and_sorted_in_creation_order() -> None:
    made = [new_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert all(len(u) == 26 for u in made)


def test_new_ids_monotonic_within_one_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = time.time_ns() + 5_000_000
    monkeypatch.setattr(satchel.models, "time", SimpleNamespace(time_ns=lambda: frozen))
    made = [new_id() for _ in range(5000)]
    assert {u[:10] for u in made} == {made[0][:10]}  # one millisecond
    assert decode_ms(made[0]) == frozen // 1_000_000
    assert len(set(made)) == len(made)
    assert made == sorted(made)


def test_new_ids_monotonic_when_the_clock_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_id()
    earlier = time.time_ns() - 10_000_000_000
    monkeypatch.setattr(satchel.models, "time", SimpleNamespace(time_ns=lambda: earlier))
    later = [new_id() for _ in range(100)]
    assert [first, *later] == sorted({first, *later})


def test_new_ids_unique_across_threads() -> None:
    per_thread = 2000
    results: list[list[str]] = []
    barrier = threading.Barrier(8)
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        made = [new_id() for _ in range(per_thread)]
        with lock:
            results.append(made)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [u for made in results for u in made]
    assert len(everything) == 8 * per_thread
    assert len(set(everything)) == len(everything)
    for made in results:
        assert made == sorted(made)


@settings(max_examples=25)
@given(st.integers(min_value=2, max_value=50))
def test_ids_sort_like_their_creation(count: int) -> None:
    made = [new_id() for _ in range(count)]
    assert sorted(made) == made
