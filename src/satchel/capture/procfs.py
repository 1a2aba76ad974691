"""Which files a process tree holds open for writing, from Linux's ``/proc``.

``satchel run`` uploads a file only once no process of the run's tree holds it open for
writing. Where there is no ``/proc`` (macOS), ``available()`` is False and the capture
relies on the debounce alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

__all__ = ["available", "open_for_writing", "tree"]

_PROC: Final = Path("/proc")


def available() -> bool:
    """True where ``/proc/<pid>/fd`` can be read."""
    return (_PROC / str(os.getpid()) / "fd").is_dir()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(_PROC / str(pid) / "task")
    except OSError:
        return found
    for tid in tasks:
        try:
            text = (_PROC / str(pid) / "task" / tid / "children").read_text()
        except OSError:
            continue
        found.extend(int(c) for c in text.split())
    return found


def tree(root: int) -> list[int]:
    """``root`` and its live descendants."""
    seen = [root]
    for pid in seen:
        seen.extend(c for c in _children(pid) if c not in seen)
    return seen


def open_for_writing(pids: Iterable[int], paths: set[str]) -> set[str]:
    """Those of ``paths`` that one of ``pids`` holds open with write access."""
    found: set[str] = set()
    if not paths:
        return found
    for pid in pids:
        fd_dir = _PROC / str(pid) / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            if target not in paths or target in found:
                continue
            try:
                info = (_PROC / str(pid) / "fdinfo" / fd).read_text()
            except OSError:
                continue
            for line in info.splitlines():
                if line.startswith("flags:"):
                    if int(line.split()[1], 8) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                        found.add(target)
                    break
    return found
