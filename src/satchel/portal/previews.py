"""Previews of small files: text, JSON and CSV shown as escaped text, raster images shown.

A preview reads the whole file through the store, which verifies its SHA-256 before any
byte is shown (DESIGN.md invariant 3), so only files up to ``PREVIEW_FILE_MAX`` have one;
of those, the first ``PREVIEW_SHOW`` bytes are shown. Previews live under ``/preview/``,
answered with a sandboxing Content-Security-Policy (RELIABILITY.md P8): the text ones are
escaped HTML in a document with no script and an opaque origin, framed by the details page;
an image is served only when its first bytes are those of PNG, JPEG, GIF or WebP (never
SVG, which can carry script), with ``nosniff``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Final, Literal

from satchel.models import ArtifactFile

__all__ = [
    "PREVIEW_FILE_MAX",
    "PREVIEW_SHOW",
    "Preview",
    "PreviewKind",
    "image_type",
    "preview_kind",
    "render_preview",
]

PreviewKind = Literal["text", "json", "csv", "image"]

PREVIEW_FILE_MAX: Final = 4 * 1024 * 1024
PREVIEW_SHOW: Final = 64 * 1024
CSV_ROWS: Final = 100
CSV_COLUMNS: Final = 40

_TEXT_SUFFIXES: Final = frozenset(
    {"txt", "log", "md", "out", "err", "yaml", "yml", "toml", "ini", "cfg", "py", "sh", "jsonl"}
)
_IMAGE_SUFFIXES: Final = frozenset({"png", "jpg", "jpeg", "gif", "webp"})
_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def preview_kind(file: ArtifactFile) -> PreviewKind | None:
    """How a file is previewed, from its name and MIME type; None: not at all."""
    if file.status != "completed" or file.bytes > PREVIEW_FILE_MAX:
        return None
    suffix, mime = _suffix(file.path), (file.mime or "").lower()
    if suffix in _IMAGE_SUFFIXES or mime in {"image/png", "image/jpeg", "image/gif", "image/webp"}:
        return "image"
    if suffix == "json" or mime == "application/json":
        return "json"
    if suffix in {"csv", "tsv"} or mime in {"text/csv", "text/tab-separated-values"}:
        return "csv"
    if suffix in _TEXT_SUFFIXES or mime.startswith("text/"):
        return "text"
    return None


def image_type(data: bytes) -> str | None:
    """The raster image type the bytes start with; None for anything else."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    """What a preview page shows: text, or a table; and whether it was cut short."""

    kind: PreviewKind
    text: str | None = None
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False


def _text(data: bytes) -> tuple[str, bool]:
    shown = data[:PREVIEW_SHOW]
    return shown.decode("utf-8", errors="replace"), len(data) > PREVIEW_SHOW


def render_preview(kind: PreviewKind, data: bytes) -> Preview:
    """The preview of a file's (verified) bytes."""
    if kind == "json":
        try:
            pretty = json.dumps(json.loads(data), indent=2, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeDecodeError):
            pretty = data
        text, cut = _text(pretty)
        return Preview(kind="json", text=text, truncated=cut)
    if kind == "csv":
        text, cut = _text(data)
        dialect: type[csv.Dialect] = csv.excel_tab if "\t" in text.split("\n", 1)[0] else csv.excel
        rows: list[list[str]] = []
        try:
            for row in csv.reader(io.StringIO(text), dialect):
                if len(rows) == CSV_ROWS:
                    cut = True
                    break
                rows.append(row[:CSV_COLUMNS])
        except csv.Error:
            return Preview(kind="text", text=text, truncated=cut)
        return Preview(kind="csv", rows=rows, truncated=cut)
    text, cut = _text(data)
    return Preview(kind="text", text=text, truncated=cut)
