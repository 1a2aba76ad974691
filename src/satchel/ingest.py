"""Walking a directory for ingest: which files, under which keys, refusing what escapes.

Rules: regular files are taken; a symlink whose target is a regular file inside the
directory is taken as a copy of that file; a symlink that leaves the directory, a symlink
to a directory, FIFOs, sockets and devices are refused with ``UnsupportedEntryError``.
Empty directories are not recorded (an artifact is a set of files). Entries left out by
``include``/``exclude`` are never opened, validated or refused. ``include`` and
``exclude`` are glob patterns: ``*`` and ``?`` stay inside one path segment, ``**`` crosses
segments, and a pattern without ``/`` matches the file name at any depth (as in
``.gitignore``).
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from satchel.errors import (
    ArtifactNotDirectoryError,
    NotFoundError,
    UnsupportedEntryError,
    ValidationError,
)
from satchel.store import open_regular_file
from satchel.validation import validate_file_key

__all__ = ["DirEntry", "compile_patterns", "walk_directory", "write_tar"]


@dataclass(frozen=True, slots=True)
class DirEntry:
    """A file to ingest: its key inside the artifact and the path to read it from."""

    key: str
    source: Path


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    if not pattern or "\x00" in pattern:
        raise ValidationError(f"not a glob pattern: {pattern!r}")
    anchored = "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(char))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + "".join(out))


def compile_patterns(patterns: Iterable[str] | str | None) -> tuple[re.Pattern[str], ...]:
    """Compile glob patterns (one string or a list) to regular expressions."""
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        patterns = [patterns]
    return tuple(_glob_regex(p) for p in patterns)


def _selected(
    key: str, include: Sequence[re.Pattern[str]], exclude: Sequence[re.Pattern[str]]
) -> bool:
    if include and not any(p.fullmatch(key) for p in include):
        return False
    return not any(p.fullmatch(key) for p in exclude)


def walk_directory(
    root: str | os.PathLike[str],
    *,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
) -> list[DirEntry]:
    """The files of a directory to ingest, sorted by key; refuses entries that escape."""
    base = Path(root)
    try:
        st = os.stat(base)
    except FileNotFoundError as exc:
        raise NotFoundError(f"no such directory: {base}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise ArtifactNotDirectoryError(f"{base} is not a directory")
    real_root = Path(os.path.realpath(base))
    inc, exc_ = compile_patterns(include), compile_patterns(exclude)

    def selected(key: str) -> bool:
        return _selected(key, inc, exc_)

    entries = list(_walk(real_root, real_root, "", selected))
    entries.sort(key=lambda e: e.key.encode("utf-8", "surrogateescape"))
    return entries


def _walk(
    real_root: Path, directory: Path, prefix: str, selected: Callable[[str], bool]
) -> Iterator[DirEntry]:
    # A stack, not recursion: a tree deeper than Python's recursion limit is still a tree.
    pending = [(directory, prefix)]
    while pending:
        here, under = pending.pop()
        with os.scandir(here) as scan:
            items = sorted(scan, key=lambda e: e.name)
        for item in reversed(items):
            if item.is_dir(follow_symlinks=False):
                pending.append((Path(item.path), under + item.name + "/"))
        for item in items:
            if not item.is_dir(follow_symlinks=False):
                yield from _entry(real_root, item, under, selected)


def _entry(
    real_root: Path, item: os.DirEntry[str], prefix: str, selected: Callable[[str], bool]
) -> Iterator[DirEntry]:
    # Excluded entries are never opened, validated or refused: only selected ones are.
    if not selected(prefix + item.name):
        return
    key = validate_file_key(prefix + item.name)
    path = Path(item.path)
    if item.is_symlink():
        yield _resolve_link(real_root, path, key)
    elif item.is_file(follow_symlinks=False):
        yield DirEntry(key, path)
    else:
        mode = item.stat(follow_symlinks=False).st_mode
        kind = (
            "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        )
        raise UnsupportedEntryError(f"{key!r} is {kind}; only regular files are ingested")


def _resolve_link(real_root: Path, path: Path, key: str) -> DirEntry:
    target = Path(os.path.realpath(path))
    if target != real_root and real_root not in target.parents:
        raise UnsupportedEntryError(
            f"{key!r} is a symlink that points outside the directory ({os.readlink(path)!r})"
        )
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError as exc:
        raise UnsupportedEntryError(f"{key!r} is a dangling symlink") from exc
    except OSError as exc:  # ELOOP: a cycle of links
        raise UnsupportedEntryError(f"{key!r} is a symlink that cannot be followed: {exc}") from exc
    if stat.S_ISDIR(mode):
        raise UnsupportedEntryError(
            f"{key!r} is a symlink to a directory; satchel ingests files, not links to folders"
        )
    if not stat.S_ISREG(mode):
        raise UnsupportedEntryError(f"{key!r} is a symlink to something other than a file")
    return DirEntry(key, target)


def write_tar(out: Any, entries: Sequence[DirEntry]) -> None:
    """Stream a deterministic tar of ``entries`` into ``out`` (a writable file object):
    in the given (sorted) order, mtime 0, mode 0644, PAX format. The same tree gives the
    same bytes, so an archive artifact's digest does not depend on when it was made."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.key)
            info.mode = 0o644
            info.mtime = 0
            # Opened as the walk saw it: a file swapped since for a FIFO or a link is
            # refused, never followed or waited on.
            with open_regular_file(entry.source, follow_symlinks=False) as fh:
                info.size = os.fstat(fh.fileno()).st_size
                tar.addfile(info, fh)
