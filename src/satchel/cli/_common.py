"""Pieces the command modules share: target options, key=value parsing, safe local paths."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from satchel.cli._errors import reported
from satchel.cli._options import IndexOption, ServerOption, StoreOption, TokenOption
from satchel.cli._session import Session, open_session
from satchel.errors import (
    InvalidMetadataError,
    StorageError,
    UnsupportedEntryError,
    ValidationError,
)
from satchel.index.base import Origin
from satchel.validation import validate_file_key

__all__ = [
    "IndexOption",
    "LimitOption",
    "MineOption",
    "OrgOption",
    "ServerOption",
    "SharedOption",
    "StoreOption",
    "TokenOption",
    "connected",
    "copy_into",
    "origins",
    "parse_labels",
    "parse_metrics",
    "safe_path",
]

MineOption = Annotated[bool, typer.Option("--mine", help="Created by me.")]
OrgOption = Annotated[bool, typer.Option("--org", help="Created in my organisation.")]
SharedOption = Annotated[
    bool, typer.Option("--shared", help="Shared with me by another organisation.")
]
LimitOption = Annotated[int, typer.Option("--limit", "-l", min=1, max=1000, help="At most N.")]


@contextmanager
def connected(
    server: str | None,
    token: str | None,
    store: str | None,
    index: str | None,
    **fields: Any,
) -> Iterator[Session]:
    """The session the options name, with every satchel error reported (exit 1)."""
    with (
        reported(),
        open_session(server=server, token=token, store=store, index=index, **fields) as s,
    ):
        yield s


def origins(mine: bool, org: bool, shared: bool) -> tuple[Origin, ...]:
    """The origin filter of ``--mine``/``--org``/``--shared`` (a union; none: all)."""
    chosen: list[Origin] = []
    if mine:
        chosen.append("mine")
    if org:
        chosen.append("org")
    if shared:
        chosen.append("shared")
    return tuple(chosen)


def _split(item: str, what: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise InvalidMetadataError(f"{what} takes key=value, not {item!r}")
    return key, value


def _typed(text: str) -> Any:
    """``3`` and ``0.5`` are numbers, ``true``/``false`` booleans, anything else a string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, bool | int | float) and not (
        isinstance(value, float) and not math.isfinite(value)
    ):
        return value
    return text


def parse_labels(items: Sequence[str], metadata: str | None = None) -> dict[str, Any]:
    """``-m JSON`` (an object) then ``--label k=v`` (typed like JSON scalars) as labels."""
    labels: dict[str, Any] = {}
    if metadata is not None:
        try:
            given = json.loads(metadata)
        except (ValueError, RecursionError) as exc:
            raise InvalidMetadataError(f"-m is not JSON: {exc}") from exc
        if not isinstance(given, dict):
            raise InvalidMetadataError("-m takes a JSON object of labels")
        labels.update(given)
    for item in items:
        key, value = _split(item, "--label")
        labels[key] = _typed(value)
    return labels


def parse_metrics(items: Sequence[str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for item in items:
        key, value = _split(item, "--metric")
        try:
            metrics[key] = float(value)
        except ValueError as exc:
            raise InvalidMetadataError(f"--metric {key}: {value!r} is not a number") from exc
    return metrics


def safe_path(root: Path, relative: str) -> Path:
    """``root/relative`` for writing, never outside ``root``.

    ``relative`` must be a valid file key (no ``..``, not absolute, no backslash), and no
    directory on the way may be a symbolic link, which could lead outside ``root``.
    """
    validate_file_key(relative)
    dest = root.joinpath(*relative.split("/"))
    here = root
    for part in relative.split("/"):
        here = here / part
        if here.is_symlink():
            raise UnsupportedEntryError(f"{here} is a symbolic link: refusing to write through it")
    if not dest.resolve().is_relative_to(root.resolve()):
        raise ValidationError(f"{relative!r} leads outside {root}")
    return dest


def copy_into(source: str | os.PathLike[str], dest: Path) -> None:
    """Copy a (verified) file to ``dest`` through a temporary name, then rename it there."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{dest.name[:40]}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            os.replace(temp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise StorageError(f"cannot write {dest}: {exc}", exc.errno) from exc
