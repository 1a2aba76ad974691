"""Validation of names, file keys, labels, metrics and tags (issue 2, "Names and file keys").

A name is any printable Unicode, NFC-normalised, at most 255 bytes. A file key is
``/``-separated segments of printable Unicode with no backslash, NUL or control character, no
empty, ``.`` or ``..`` segment, no leading ``/``, at most 255 bytes a segment. Anything else
is refused with an error naming the offending character and position.
"""

from __future__ import annotations

import math
import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import remote_too
from satchel import (
    InvalidFileKeyError,
    InvalidMetadataError,
    InvalidNameError,
    ValidationError,
)
from satchel.validation import (
    validate_file_key,
    validate_labels,
    validate_metrics,
    validate_name,
    validate_tags,
)

# -- names ----------------------------------------------------------------------------------


def test_names_are_nfc_normalised():
    decomposed = "cafe\u0301 results.txt"
    assert validate_name(decomposed) == "caf\u00e9 results.txt"
    assert unicodedata.is_normalized("NFC", validate_name("A\u030a\u212b"))
    assert validate_name("caf\u00e9") == "caf\u00e9"


@pytest.mark.parametrize(
    "name",
    ["results.txt", "50% of a&b #1?.txt", "a/b/c", "..", " spaced ", "日本語のモデル", "🚀.bin"],
)
def test_printable_names_are_accepted_unchanged(name):
    assert validate_name(name) == name


def test_name_length_is_counted_in_utf8_bytes():
    assert validate_name("a" * 255) == "a" * 255
    assert validate_name("é" * 127) == "é" * 127  # 254 bytes
    with pytest.raises(InvalidNameError, match="256 bytes"):
        validate_name("a" * 256)
    with pytest.raises(InvalidNameError):
        validate_name("é" * 128)  # 128 characters, 256 bytes
    with pytest.raises(InvalidNameError):
        validate_name("🚀" * 64)  # 256 bytes
    # Normalisation happens before the limit: 255 decomposed "é" would be 765 bytes.
    assert validate_name("e\u0301" * 127) == "é" * 127


@pytest.mark.parametrize(
    ("name", "code", "position"),
    [
        ("ab\x07c", "U+0007", 2),
        ("\nstart", "U+000A", 0),
        ("end\x00", "U+0000", 3),
        ("tab\there", "U+0009", 3),
        ("del\x7f", "U+007F", 3),
        ("zero\u200bwidth", "U+200B", 4),
        ("line\u2028sep", "U+2028", 4),
    ],
)
def test_control_characters_in_names_are_named_with_their_position(name, code, position):
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    message = str(info.value)
    assert code in message
    assert f"position {position}" in message


@pytest.mark.parametrize("name", ["", "   ", 3, None, b"bytes"])
def test_empty_blank_and_non_string_names_are_refused(name):
    with pytest.raises(InvalidNameError):
        validate_name(name)


# -- file keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "a.txt",
        "dir/sub/file.bin",
        "...",
        ".hidden/..dotdot..",
        "50% & #1?.txt",
        "space in name/x",
        "~",
        "a" * 255,
        "/".join(["d"] * 500),
    ],
)
def test_valid_file_keys_are_accepted(key):
    assert validate_file_key(key) == key


@pytest.mark.parametrize("key", ["cafe\u0301.txt", "caf\u00e9.txt", "Å/Å", "ﬁ.txt"])
def test_unicode_file_keys_are_kept_unchanged(key):
    # Not normalised: a directory must come back byte-identical.
    assert validate_file_key(key) == key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("/etc/passwd", "relative"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("", "empty"),
        (".", "'.'"),
        ("a/./b", "'.'"),
        ("..", "'..'"),
        ("a/../b", "'..'"),
        ("../x", "'..'"),
        ("a/..", "'..'"),
        ("a\\b", "backslash at position 1"),
        ("..\\x", "backslash at position 2"),
        ("a\x00b", "U+0000"),
        ("a/b\nc", "U+000A"),
        ("x\ry", "U+000D"),
        ("esc\x1b", "U+001B"),
        ("a" * 256, "256 bytes"),
        ("ok/" + "é" * 128, "256 bytes"),
    ],
)
def test_invalid_file_keys_are_refused(key, expected):
    with pytest.raises(InvalidFileKeyError) as info:
        validate_file_key(key)
    assert expected in str(info.value)


def test_file_key_errors_name_the_position():
    with pytest.raises(InvalidFileKeyError, match="position 6"):
        validate_file_key("dir/ab\x01c")
    with pytest.raises(InvalidFileKeyError, match="position 4"):
        validate_file_key("dir/../x")
    with pytest.raises(InvalidFileKeyError, match="position 2"):
        validate_file_key("a//b")


@pytest.mark.parametrize("key", [None, 3, b"a.txt"])
def test_non_string_file_keys_are_refused(key):
    with pytest.raises(InvalidFileKeyError):
        validate_file_key(key)


_SEGMENT_PARTS = st.sampled_from(
    ["", ".", "..", "...", "a", "é", "e\u0301", "\\", "\x00", "\n", " ", "~", "%2e", "C:", "/"]
)
_KEYS = st.one_of(
    st.text(max_size=60),
    st.lists(st.text(alphabet=".a/\\é\x00", max_size=6), max_size=8).map("/".join),
    st.lists(_SEGMENT_PARTS, min_size=1, max_size=8).map("".join),
    st.lists(st.lists(_SEGMENT_PARTS, max_size=3).map("".join), max_size=6).map("/".join),
)
BASE = "/srv/satchel/local/01ARZ3NDEKTSV4RRFFQ69G5FAV"


@settings(max_examples=400, deadline=None)
@given(_KEYS)
def test_accepted_file_keys_never_leave_the_base_directory(key):
    try:
        validate_file_key(key)
    except InvalidFileKeyError:
        return
    joined = os.path.join(BASE, key)
    resolved = os.path.normpath(joined)
    assert os.path.commonpath([BASE, resolved]) == BASE
    assert resolved != BASE
    assert resolved.startswith(BASE + "/")
    # Nothing is hidden by normalisation: the key is already in normal form.
    assert resolved == joined


# -- labels ---------------------------------------------------------------------------------


def test_labels_accept_strings_finite_numbers_and_booleans():
    labels = {"s": "x", "i": 3, "f": 0.5, "neg": -2, "t": True, "b": False, "pct": "50%"}
    out = validate_labels(labels)
    assert out == labels
    assert type(out["i"]) is int
    assert out["t"] is True
    assert validate_labels(None) == {}


@pytest.mark.parametrize(
    "value",
    [{"nested": 1}, [1, 2], ("t",), None, math.nan, math.inf, -math.inf, b"bytes", {1}, object()],
    ids=["dict", "list", "tuple", "none", "nan", "inf", "-inf", "bytes", "set", "object"],
)
def test_labels_refuse_other_values(value):
    with pytest.raises(InvalidMetadataError):
        validate_labels({"key": value})


@pytest.mark.parametrize("labels", [["a"], "a=b", {3: "x"}, {"": "x"}, {"bad\nkey": "x"}])
def test_labels_refuse_bad_shapes_and_keys(labels):
    with pytest.raises(InvalidMetadataError):
        validate_labels(labels)


# -- metrics -------------------------------------------------------------------------------


def test_metrics_are_finite_numbers():
    out = validate_metrics({"accuracy": 0.98, "epochs": 3, "loss": -1e-9})
    assert out == {"accuracy": 0.98, "epochs": 3.0, "loss": -1e-9}
    assert all(type(v) is float for v in out.values())
    assert validate_metrics(None) == {}


@pytest.mark.parametrize(
    "value",
    [True, False, math.nan, math.inf, -math.inf, "0.9", None, [1.0], 10**400],
    ids=["true", "false", "nan", "inf", "-inf", "str", "none", "list", "huge-int"],
)
def test_metrics_refuse_everything_else(value):
    with pytest.raises(InvalidMetadataError):
        validate_metrics({"m": value})


# -- tags -----------------------------------------------------------------------------------


def test_tags_are_a_sorted_set():
    assert validate_tags(["b", "a", "b", "c", "a"]) == ["a", "b", "c"]
    assert validate_tags(("x",)) == ["x"]
    assert validate_tags({"z", "y"}) == ["y", "z"]
    assert validate_tags(None) == []
    assert validate_tags([]) == []


@pytest.mark.parametrize("tags", ["report", ["ok", 3], ["ok", ""], ["bad\ttag"], [None]])
def test_bad_tags_are_refused(tags):
    with pytest.raises(InvalidMetadataError):
        validate_tags(tags)


def test_validation_errors_are_value_errors():
    for error in (InvalidNameError, InvalidFileKeyError, InvalidMetadataError):
        assert issubclass(error, ValidationError)
        assert issubclass(error, ValueError)


# -- through the facade ---------------------------------------------------------------------


@remote_too
async def test_facade_normalises_names_and_refuses_bad_ones(arts):
    a = await arts.save_text("x", name="cafe\u0301.txt")
    assert a.name == "caf\u00e9.txt"
    assert (await arts.get_by_id(a.artifact_id)).name == "caf\u00e9.txt"
    with pytest.raises(InvalidNameError, match="position 3"):
        await arts.save_text("x", name="bad\x07name")
    with pytest.raises(InvalidNameError):
        await arts.save_json({}, name="n" * 256)
    with pytest.raises(InvalidNameError):
        await arts.ingest_dir(await arts.stage_dir(), name="\x1b")
    assert await arts.list(include_node=False) == [a]


@remote_too
async def test_facade_refuses_bad_metadata_and_saves_nothing(arts):
    bad_calls = [
        {"labels": {"k": None}},
        {"labels": {"k": [1]}},
        {"labels": {"k": math.nan}},
        {"metrics": {"m": True}},
        {"metrics": {"m": math.inf}},
        {"tags": "report"},
        {"tags": ["ok", 1]},
        {"kind": ""},
        {"kind": "bad\nkind"},
    ]
    for kwargs in bad_calls:
        with pytest.raises(ValidationError):
            await arts.save_text("x", **kwargs)
    a = await arts.save_text("x", tags=["b", "a", "b"], metrics={"m": 1})
    assert a.tags == ["a", "b"]
    assert a.metrics == {"m": 1.0}
    assert await arts.list(include_node=False) == [a]


@remote_too
async def test_facade_keeps_unicode_file_keys_and_refuses_bad_ones(arts, tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "cafe\u0301.txt").write_bytes(b"nfd")
    d = await arts.ingest_dir(tree)
    assert [f.path for f in d.files] == ["cafe\u0301.txt"]
    (tree / "back\\slash.txt").write_bytes(b"x")
    with pytest.raises(InvalidFileKeyError, match="position 4"):
        await arts.ingest_dir(tree)
