"""The content-addressed key layout, both directions, one pure module.

A blob with SHA-256 ``abcdef...`` lives under the key ``sha256/ab/cdef...``: the algorithm,
the first two hex digits as a fan-out directory, the other 62 as the name. Keys derive only
from digests, never from anything a caller names. ``tests/core/test_layout.py`` pins it.
"""

from __future__ import annotations

import re
from typing import Final

from satchel.errors import ValidationError
from satchel.hashing import ALGORITHM, Digest

__all__ = ["FANOUT_DIRS", "blob_key", "digest_from_key"]

_KEY = re.compile(rf"{ALGORITHM}/([0-9a-f]{{2}})/([0-9a-f]{{62}})")
FANOUT_DIRS: Final = tuple(f"{i:02x}" for i in range(256))


def blob_key(digest: Digest) -> str:
    """The relative key of a blob: ``sha256/<2 hex>/<62 hex>``."""
    value = digest.hexdigest
    return f"{digest.algorithm}/{value[:2]}/{value[2:]}"


def digest_from_key(key: str) -> Digest:
    """The digest a key names; refuses anything that is not exactly a blob key."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise ValidationError(f"not a blob key: {key!r}")
    return Digest(hexdigest=match.group(1) + match.group(2))
