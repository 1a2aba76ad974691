"""What ``satchel run`` captures: ignore rules, and the kind of a captured file.

Rules are gitignore patterns, matched against a file's path relative to its watched
directory: the defaults below, then the watched directory's own ``.satchelignore`` (so a
``!pattern`` there can take a default back). Directories that hold a ``pyvenv.cfg`` are
virtualenvs and are never captured, whatever their name; so are the paths given as
``exclude`` (the satchel home and the capture journals), wherever they are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

import pathspec

__all__ = ["DEFAULT_IGNORES", "IGNORE_FILE", "IgnoreRules", "kind_of"]

IGNORE_FILE: Final = ".satchelignore"

#: Patterns every watched directory starts with (gitignore syntax).
DEFAULT_IGNORES: Final = (
    "__pycache__/",
    "*.py[cod]",
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    ".satchel/",
    IGNORE_FILE,
)

_CHECKPOINT: Final = frozenset({".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".h5"})
_LOG: Final = frozenset({".log", ".txt", ".out"})
_METRIC: Final = frozenset({".json", ".csv"})


def kind_of(rel: str) -> str:
    """The artifact kind of a captured file, from its name (the CLI contract)."""
    name = PurePosixPath(rel).name.lower()
    suffix = PurePosixPath(name).suffix
    if suffix in _CHECKPOINT:
        return "checkpoint"
    if suffix in _LOG:
        return "log"
    if suffix in _METRIC and name.startswith("metrics"):
        return "metric"
    return "file"


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoreRules:
    """The ignore rules of one watched directory."""

    root: Path
    spec: pathspec.GitIgnoreSpec
    exclude: tuple[Path, ...] = field(default=())

    @classmethod
    def load(cls, root: Path, *, exclude: Iterable[Path] = ()) -> IgnoreRules:
        """The defaults plus ``root/.satchelignore`` (when there is one)."""
        lines = list(DEFAULT_IGNORES)
        with contextlib.suppress(FileNotFoundError):
            lines += (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
        return cls(
            root=root,
            spec=pathspec.GitIgnoreSpec.from_lines(lines),
            exclude=tuple(p for p in exclude if p != root),
        )

    def relative(self, path: str | os.PathLike[str]) -> str | None:
        """``path`` relative to the root in POSIX form; None when outside it."""
        try:
            rel = Path(path).relative_to(self.root)
        except ValueError:
            return None
        text = rel.as_posix()
        return None if text in ("", ".") else text

    def ignores_dir(self, path: Path) -> bool:
        """True for a directory whose whole tree is ignored."""
        if (path / "pyvenv.cfg").exists() or self._excluded(path):
            return True
        rel = self.relative(path)
        return rel is not None and self.spec.match_file(rel + "/")

    def ignores_file(self, path: Path) -> bool:
        """True for a file that is not captured (itself or a parent directory ignored)."""
        rel = self.relative(path)
        if rel is None or self._excluded(path):
            return True
        if self.spec.match_file(rel):
            return True
        parent = path.parent
        while parent not in (self.root, parent.parent):
            if self.ignores_dir(parent):
                return True
            parent = parent.parent
        return False

    def _excluded(self, path: Path) -> bool:
        return any(path == ex or ex in path.parents for ex in self.exclude)
