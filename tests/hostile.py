"""The hostile input corpus (RELIABILITY P6, P9): data only, shared by the SDK, HTTP and CLI
tests (``tests/reliability/test_hostile_*.py``, ``tests/cli/test_hostile_cli.py``).

Every entry is something a caller may send and satchel must refuse with a clear error (or,
for names, keep as inert data): traversal in every encoding, absolute paths and URLs, NUL
and other control characters, lone surrogates, over-long text, non-finite numbers, deep and
huge JSON. Nothing here is a path to open; the tests decide what each surface must answer.
"""

from __future__ import annotations

from typing import Final

#: Traversal, each encoding its own entry: raw, percent-encoded, double-encoded, backslashed,
#: absolute (POSIX, Windows, UNC), as a URL, with NUL, and Unicode lookalikes of ``.``/``/``.
TRAVERSAL: Final[list[str]] = [
    "..",
    "../x",
    "../../../../etc/passwd",
    "a/../../x",
    "./x",
    "x/.",
    "%2e%2e",
    "%2e%2e/x",
    "%2E%2E%2Fx",
    "%252e%252e",
    "%252e%252e%252fx",
    "..%2f",
    "..%2fx",
    "..%5cx",
    "%2e%2e%5c",
    "%c0%ae%c0%ae/x",
    "..\\x",
    "a\\..\\..\\x",
    "\\\\server\\share\\x",
    "/etc/passwd",
    "//etc/passwd",
    "C:\\x",
    "C:/x",
    "file:///etc/passwd",
    "x\x00.txt",
    "..\x00/x",
    "\u2024\u2024/x",
    "\uff0e\uff0e/x",
    "\u2025/x",
    "..\u2215x",
    "..\uff0fx",
]

#: The entries of ``TRAVERSAL`` that are valid file keys: the percent signs and lookalikes
#: are ordinary characters of one segment, never decoded, so they can only ever name a
#: file *inside* the artifact. Every other entry must be refused as a file key.
INERT_KEYS: Final[frozenset[str]] = frozenset(
    {
        "%2e%2e",
        "%2e%2e/x",
        "%2E%2E%2Fx",
        "%252e%252e",
        "%252e%252e%252fx",
        "..%2f",
        "..%2fx",
        "..%5cx",
        "%2e%2e%5c",
        "%c0%ae%c0%ae/x",
        "C:/x",
        "\u2024\u2024/x",
        "\uff0e\uff0e/x",
        "\u2025/x",
        "..\u2215x",
        "..\uff0fx",
    }
)

#: File keys that must be refused: traversal that would escape, control characters, lone
#: surrogates, over-long keys and segments.
BAD_KEYS: Final[list[str]] = [
    *(k for k in TRAVERSAL if k not in INERT_KEYS),
    "",
    "a//b",
    "a/",
    "tab\there",
    "new\nline",
    "esc\x1b[31m",
    "bidi\u202eflip",
    "lone\ud800surrogate",
    "a" * 256,
    "/".join(["d"] * 2049),
]

#: Artifact names that are refused: control characters, NUL, surrogates, blank, over-long.
BAD_NAMES: Final[list[str]] = [
    "",
    "   ",
    "nul\x00name",
    "bell\x07",
    "line\nbreak",
    "bidi\u202e",
    "lone\ud800",
    "n" * 256,
    "\u00e9" * 128,
]

#: Names that look like paths but are only data: accepted, and never become a path.
INERT_NAMES: Final[list[str]] = ["..", "../../../../etc/passwd", "/etc/passwd", "C:\\x"]

#: ``suggested_uri`` values: never fetched, never a path; refused when not printable.
BAD_SUGGESTED_URIS: Final[list[str]] = [
    "file:///etc/passwd\x00",
    "s3://bucket/\nkey",
    "u" * 2049,
    "satchel://\ud800",
]
INERT_SUGGESTED_URIS: Final[list[str]] = [
    "file:///etc/passwd",
    "../../../../etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "s3://someone-else/secret.bin",
    "satchel://../../x",
]

#: URIs given to ``load_*``: refused (``InvalidURIError``/``InvalidFileKeyError``) or not
#: found; never fetched, never read outside the store.
BAD_LOAD_URIS: Final[list[str]] = [
    "http://127.0.0.1:1/x",
    "https://example.com/model.bin",
    "s3://someone-else/secret.bin",
    "ftp://example.com/x",
    "gs://bucket/x",
    "file://remote-host/etc/passwd",
    "satchel://",
    "satchel:///x",
    "satchel://x\x00",
    "/etc/passwd\x00.txt",
]

#: ``satchel://<id>/<path>`` suffixes that try to leave the artifact.
BAD_SATCHEL_PATHS: Final[list[str]] = [
    "..",
    "../x",
    "%2e%2e/x",
    "a/%2e%2e/%2e%2e/x",
    "..%2fx",
    "%2fetc%2fpasswd",
    "..\\x",
    "%5c..%5cx",
    "x%00",
]

#: Artifact ids: the server's ids are ULIDs; these must answer "not found" or be refused.
BAD_IDS: Final[list[str]] = [
    "..",
    "../x",
    "%2e%2e",
    "..%2f..%2f",
    "/etc/passwd",
    "C:\\x",
    "x\x00",
    "\u2024\u2024",
    "i" * 5000,
    "' OR 1=1 --",
    "*",
    "%",
]

#: Label keys that are refused (not printable, empty, over-long).
BAD_LABEL_KEYS: Final[list[str]] = ["", "k\x00", "k\n", "k\ud800", "k" * 256]

#: Label values that are refused: not a string / finite number / boolean, NUL, surrogates,
#: out of range, over-long.
BAD_LABEL_VALUES: Final[list[object]] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    2**63,
    -(2**63) - 1,
    10**400,
    "v\x00",
    "v\ud800",
    "v" * 4097,
    {"nested": {"x": 1}},
    [1, 2],
    None,
    b"bytes",
]

#: Metric values that are refused.
BAD_METRIC_VALUES: Final[list[object]] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    10**400,
    True,
    "0.9",
    None,
    [1.0],
]

#: The same as JSON text, for bodies parsed by a JSON reader (Python's reads them all).
BAD_NUMBER_LITERALS: Final[list[str]] = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e309",
    "-1e309",
    "1" + "0" * 400,
    "9" * 5000,
]

#: Non-UTF-8 byte strings (as file names, bodies, query strings).
NON_UTF8: Final[list[bytes]] = [
    b"\xff\xfe",
    b"\xc0\xae\xc0\xae",
    b"caf\xe9",
    b"\xed\xa0\x80",
    b"\x80",
]

#: Over-long text for each kind of field.
LONG_NAME: Final = "n" * 256
LONG_LABEL_KEY: Final = "k" * 256
LONG_LABEL_VALUE: Final = "v" * 4097
LONG_TAG: Final = "t" * 256
LONG_KIND: Final = "k" * 256
LONG_SEARCH: Final = "find " * 2000
TOO_MANY_LABELS: Final[dict[str, int]] = {f"k{i}": i for i in range(257)}
TOO_MANY_TAGS: Final[list[str]] = [f"t{i}" for i in range(257)]

#: Nesting depth of the deep JSON documents (well past any recursion limit).
DEEP: Final = 10_000
#: Size of the huge JSON body (over any server's body limit).
HUGE_BYTES: Final = 50 * 1024 * 1024


def deep_json(depth: int = DEEP) -> bytes:
    """``[[[...]]]`` nested ``depth`` times."""
    return b"[" * depth + b"]" * depth


def deep_object(depth: int = DEEP) -> bytes:
    """``{"a":{"a":...}}`` nested ``depth`` times."""
    return b'{"a":' * depth + b"1" + b"}" * depth


def huge_json(size: int = HUGE_BYTES) -> bytes:
    """A valid JSON document of about ``size`` bytes: one long string."""
    return b'{"name":"' + b"x" * size + b'"}'


#: A JSON object with the same key twice (a reader keeps the last: never an error, never
#: two values).
DUPLICATE_KEYS: Final = b'{"name": "first", "name": "second", "files": []}'

#: Bodies that are not JSON at all, or not UTF-8.
NOT_JSON: Final[list[bytes]] = [
    b"",
    b"{",
    b"[1,",
    b"\xff\xfe{}",
    b'{"name": "\xff"}',
    b"null",
    b"[]",
    b'"string"',
    b"1e309",
]

#: What a tar member may be named to escape the directory it is unpacked into.
TAR_ESCAPES: Final[list[str]] = [
    "../evil",
    "a/../../evil",
    "/tmp/evil",
    "./../evil",
    "..\\evil",
    "a//b",
]
