"""The CAS key layout is pinned: changing it would orphan every blob already stored."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from satchel.errors import ValidationError
from satchel.hashing import Digest
from satchel.storage.layout import FANOUT_DIRS, blob_key, digest_from_key

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HELLO_SHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"  # b"hello"

HEX = "0123456789abcdef"
hex64 = st.text(alphabet=HEX, min_size=64, max_size=64)


def test_pinned_keys() -> None:
    assert blob_key(Digest(hexdigest=EMPTY_SHA256)) == (
        "sha256/e3/b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert blob_key(Digest(hexdigest=HELLO_SHA256)) == (
        "sha256/2c/f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
    assert blob_key(Digest(hexdigest="0" * 64)) == "sha256/00/" + "0" * 62
    assert blob_key(Digest(hexdigest="f" * 64)) == "sha256/ff/" + "f" * 62


def test_pinned_digests_are_real_sha256() -> None:
    assert hashlib.sha256(b"").hexdigest() == EMPTY_SHA256
    assert hashlib.sha256(b"hello").hexdigest() == HELLO_SHA256


def test_digest_from_key_pinned() -> None:
    key = "sha256/2c/f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert digest_from_key(key) == Digest(hexdigest=HELLO_SHA256)


def test_fanout_dirs_are_the_256_two_digit_prefixes() -> None:
    assert len(FANOUT_DIRS) == 256
    assert len(set(FANOUT_DIRS)) == 256
    assert FANOUT_DIRS[0] == "00"
    assert FANOUT_DIRS[-1] == "ff"
    assert all(len(d) == 2 and set(d) <= set(HEX) for d in FANOUT_DIRS)


@given(hex64)
def test_round_trip_over_hex(value: str) -> None:
    digest = Digest(hexdigest=value)
    key = blob_key(digest)
    algorithm, fanout, name = key.split("/")
    assert algorithm == "sha256"
    assert fanout == value[:2]
    assert fanout in FANOUT_DIRS
    assert name == value[2:]
    assert digest_from_key(key) == digest


@given(st.binary(max_size=256))
def test_round_trip_over_content(data: bytes) -> None:
    digest = Digest(hexdigest=hashlib.sha256(data).hexdigest())
    assert digest_from_key(blob_key(digest)) == digest


GOOD = "sha256/2c/f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
TAIL = GOOD[len("sha256/2c/") :]

HOSTILE_KEYS = [
    "",
    "sha256",
    "sha256/",
    "sha256/2c",
    "sha256/2c/",
    "../" + GOOD,
    GOOD + "/..",
    "sha256/../" + TAIL,
    "sha256/2c/../" + TAIL[3:],
    "sha256/2c/" + TAIL[:-2] + "..",
    "./" + GOOD,
    "/" + GOOD,
    GOOD + "/",
    "sha256//2c/" + TAIL,
    "sha256/2c//" + TAIL,
    GOOD.upper(),
    "sha256/2C/" + TAIL,
    "sha256/2c/" + TAIL.upper(),
    "SHA256/2c/" + TAIL,
    "sha256/2c/" + TAIL[:-1],  # 61 hex digits
    "sha256/2c/" + TAIL + "0",  # 63
    "sha256/2/" + "c" + TAIL,  # fan-out of one digit
    "sha256/2cf/" + TAIL[1:],
    "sha256/2c/" + TAIL[:30] + "/" + TAIL[30:],  # extra segment
    GOOD + "/extra",
    "extra/" + GOOD,
    "sha256\\2c\\" + TAIL,
    "sha256/2c\\" + TAIL,
    "sha256\\..\\..\\etc\\passwd",
    "sha1/2c/" + TAIL,
    "sha1/2a/" + "a" * 38,
    "md5/2c/" + TAIL,
    "sha512/2c/" + TAIL,
    "sha256/2c/" + TAIL[:-1] + "g",
    "sha256/2c/" + TAIL[:-1] + " ",
    " " + GOOD,
    GOOD + "\n",
    GOOD + "\x00",
    "sha256/2c/" + TAIL[:-1] + "\u0660",  # ARABIC-INDIC DIGIT ZERO: a digit, not hex
    "sha256/\uff12c/" + TAIL,  # FULLWIDTH DIGIT TWO
    "sha256/2c/" + TAIL + ".part",
    "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    HELLO_SHA256,
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_refused(key: str) -> None:
    with pytest.raises(ValidationError):
        digest_from_key(key)


@given(st.text(max_size=80))
def test_any_accepted_key_is_canonical(key: str) -> None:
    try:
        digest = digest_from_key(key)
    except ValidationError:
        return
    assert blob_key(digest) == key
