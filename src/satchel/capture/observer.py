"""Watching the run's directories: which new files are closed, stable and ready to store.

A file event (``watchfiles``) marks a path dirty. Each tick (about 0.1 s) every dirty path
is stat'ed; one whose size, mtime and inode have not moved for ``debounce`` seconds and
that no process of the run's tree holds open for writing (``procfs``) is recorded in the
journal as a closed version and handed to the uploader. The stamp of the last time a dirty
file was seen with no writer while the command was alive is kept (``clean``): when the
command is killed, a file whose stamp still equals it was closed before the kill; any other
dirty file may be half-written and is not stored.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from satchel.capture import procfs
from satchel.capture.journal import FileRow, Journal, Stamp
from satchel.capture.rules import IgnoreRules

__all__ = ["Dirty", "Observer", "walk"]


def walk(rules: IgnoreRules, start: Path | None = None) -> Iterator[Path]:
    """Every file under ``start`` (default: the root) that the rules do not ignore.

    Symbolic links are not followed, nor captured.
    """
    stack = [start or rules.root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir():
                    if not rules.ignores_dir(path):
                        stack.append(path)
                elif entry.is_file() and not rules.ignores_file(path):
                    yield path
            except OSError:
                continue


@dataclass(slots=True)
class Dirty:
    """A path written since it was last stored."""

    rules: IgnoreRules
    stamp: Stamp | None = None
    since: float = 0.0
    clean: Stamp | None = None


class Observer:
    """Dirty paths of the watched roots, and when each is ready."""

    def __init__(
        self,
        roots: list[IgnoreRules],
        journal: Journal,
        *,
        debounce: float,
        ready: Callable[[FileRow], None] | None = None,
    ) -> None:
        self.roots = roots
        self.journal = journal
        self.debounce = debounce
        #: Called with each version that is closed and stable.
        self.ready = ready
        self.dirty: dict[str, Dirty] = {}
        self._lock = threading.Lock()
        self._child: int | None = None
        self._procfs = procfs.available()
        self.started = threading.Event()

    def watch_child(self, pid: int) -> None:
        self._child = pid

    def _rules_for(self, path: Path) -> IgnoreRules | None:
        best = None
        for rules in self.roots:
            if rules.relative(path) is not None and (
                best is None or len(rules.root.parts) > len(best.root.parts)
            ):
                best = rules
        return best

    def touch(self, path: Path) -> None:
        """A file event for ``path`` (a new directory: every file in it)."""
        rules = self._rules_for(path)
        if rules is None:
            return
        try:
            is_dir = path.is_dir() and not path.is_symlink()
        except OSError:
            return
        if is_dir:
            if not rules.ignores_dir(path):
                for found in walk(rules, path):
                    self.touch(found)
            return
        key = str(path)
        if rules.ignores_file(path) or self.journal.preexisting(key):
            return
        with self._lock:
            if key not in self.dirty:
                self.dirty[key] = Dirty(rules, since=time.monotonic())

    def rescan(self) -> None:
        """Mark every new file whose content is not the last one stored or queued."""
        for rules in self.roots:
            for path in walk(rules):
                key = str(path)
                if self.journal.preexisting(key):
                    continue
                last = self.journal.latest(key)
                try:
                    stamp = Stamp.of(path.stat())
                except OSError:
                    continue
                if last is None or last.stamp != stamp:
                    self.touch(path)

    def tick(self, child_alive: Callable[[], bool]) -> None:
        """Hand over the dirty files that are closed and stable.

        The command's liveness is read after the writers are: a file found with no writer
        counts as closed by a live command only if the command was still alive after.
        """
        now = time.monotonic()
        with self._lock:
            items = list(self.dirty.items())
        stable: list[str] = []
        for key, entry in items:
            try:
                stamp = Stamp.of(os.stat(key))
            except OSError:
                with self._lock:
                    self.dirty.pop(key, None)
                continue
            if stamp != entry.stamp:
                entry.stamp, entry.since = stamp, now
            stable.append(key)
        writing: set[str] = set()
        if self._procfs and self._child is not None and stable:
            writing = procfs.open_for_writing(procfs.tree(self._child), set(stable))
        if not child_alive():
            return  # what is closed now may have been cut off: settle() decides
        for key in stable:
            if key in writing:
                continue
            entry = self.dirty[key]
            entry.clean = entry.stamp
            if now - entry.since >= self.debounce:
                self._hand_over(key, entry)

    def _hand_over(self, key: str, entry: Dirty) -> None:
        assert entry.stamp is not None
        rel = entry.rules.relative(key)
        with self._lock:
            self.dirty.pop(key, None)
        if rel is None:
            return
        row = self.journal.closed(key, str(entry.rules.root), rel, entry.stamp)
        if row is not None and self.ready is not None:
            self.ready(row)

    def settle(self, *, killed: bool) -> list[str]:
        """After the command ended: hand over every dirty file that is complete.

        Returns the files left out because they may be half-written (``killed``: the
        command died from a signal and they were not seen closed before).
        """
        self.rescan()
        torn = []
        for key, entry in list(self.dirty.items()):
            try:
                entry.stamp = Stamp.of(os.stat(key))
            except OSError:
                self.dirty.pop(key, None)
                continue
            if killed and entry.stamp != entry.clean:
                torn.append(entry.rules.relative(key) or key)
                self.dirty.pop(key, None)
                continue
            self._hand_over(key, entry)
        return torn

    def run(self, stop: threading.Event, child_alive: Callable[[], bool]) -> None:
        """Watch until ``stop`` is set (the thread's body)."""
        first = True
        for changes in watchfiles.watch(
            *(r.root for r in self.roots),
            watch_filter=None,
            debounce=50,
            step=10,
            rust_timeout=100,
            yield_on_timeout=True,
            stop_event=stop,
            raise_interrupt=False,
            ignore_permission_denied=True,
        ):
            for change, raw in changes:
                if change != watchfiles.Change.deleted:
                    self.touch(Path(raw))
            if first:
                first = False
                self.started.set()
                self.rescan()
            self.tick(child_alive)
        self.started.set()
