"""One ``satchel run``: start the command, store what it writes, finish the run.

The order is what makes it crash-safe: the journal and the list of files that existed
before are written first, then the run is recorded and the command started; each version
is journalled closed before its upload starts and uploaded after it returns; the run's
status is written only after the final sync, and the journal is removed last. Whatever is
killed at whatever point, ``resume`` finds in the journal what is left to do.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from satchel import _faults
from satchel.capture.base import FinalStatus, Reporter, RunBook
from satchel.capture.child import Child
from satchel.capture.journal import FileRow, Journal, Stamp
from satchel.capture.observer import Observer, walk
from satchel.capture.rules import IgnoreRules
from satchel.capture.uploader import ChangedError, find_stored, store_version
from satchel.errors import ConflictError, SatchelError, ValidationError
from satchel.facade import SyncArtifactFacade
from satchel.models import new_id

__all__ = ["CaptureResult", "Plan", "capture", "resume", "run_ids"]

#: Run names (and so journal file names): what seeds/001 calls safe.
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SEVERITY: Final[dict[str, int]] = {"done": 0, "crashed": 1, "failed": 2}


def check_name(name: str, *, what: str = "run name") -> str:
    """A run name: letters, digits, ``.``, ``_`` and ``-``, at most 128, no leading symbol."""
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"{what} {name!r}: use letters, digits, '.', '_' and '-' (at most 128, "
            "starting with a letter or digit)"
        )
    return name


def run_ids(name: str | None, experiment: int | None) -> tuple[str, str | None]:
    """``(run_id, parent_run_id)``: the name (else a fresh id), or ``<name>-exp<N>``."""
    if experiment is not None:
        if name is None:
            raise ValidationError("--experiment needs --name: the run the experiment belongs to")
        if experiment < 0:
            raise ValidationError(f"--experiment must be 0 or more: {experiment}")
        return f"{check_name(name)}-exp{experiment}", name
    return (check_name(name) if name is not None else new_id()), None


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What to run and capture."""

    argv: tuple[str, ...]
    run_id: str
    name: str | None = None
    parent_run_id: str | None = None
    watch: tuple[Path, ...] = ()
    cwd: Path = field(default_factory=Path.cwd)
    debounce: float = 0.25
    exclude: tuple[Path, ...] = ()
    #: Where the run is stored (kept in the journal; a resume must name the same place).
    target: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureResult:
    """How a capture (or a resume) ended."""

    run_id: str
    status: FinalStatus
    returncode: int | None
    stored: int
    stored_bytes: int
    torn: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


class _Uploads:
    """The uploader thread: stores versions one at a time, in the order they are ready."""

    def __init__(
        self, arts: SyncArtifactFacade, journal: Journal, reporter: Reporter, observer: Observer
    ) -> None:
        self._arts, self._journal, self._reporter = arts, journal, reporter
        self._observer = observer
        self._queue: queue.Queue[FileRow | None] = queue.Queue()
        self.stored = 0
        self.stored_bytes = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="satchel-upload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, row: FileRow) -> None:
        self._queue.put(row)

    def drain(self) -> None:
        self._queue.join()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            row = self._queue.get()
            try:
                if row is None:
                    return
                self.upload(row)
            finally:
                self._queue.task_done()

    def upload(self, row: FileRow) -> None:
        try:
            store_version(self._arts, self._journal, row, self._reporter)
        except ChangedError:
            self._observer.touch(Path(row.path))
            return
        except SatchelError as exc:
            self.errors.append(f"{row.rel}: {exc}")
            self._reporter.note(f"could not store {row.rel} (v{row.version}): {exc}")
            return
        self.stored += 1
        self.stored_bytes += row.stamp.size


def _roots(watch: Sequence[Path], cwd: Path, exclude: Sequence[Path]) -> list[IgnoreRules]:
    dirs = [(cwd / d).resolve() for d in (watch or (cwd,))]
    for d in dirs:
        if not d.is_dir():
            raise ValidationError(f"--watch {d}: not a directory")
    excluded = [e.resolve() for e in exclude]
    return [IgnoreRules.load(d, exclude=excluded) for d in dict.fromkeys(dirs)]


def _status(returncode: int | None, errors: Sequence[str]) -> FinalStatus:
    if errors:
        return "failed"
    return "done" if returncode == 0 else "crashed"


def _finish(
    book: RunBook, run_id: str, parent: str | None, status: FinalStatus, journal: Journal
) -> None:
    book.finish(run_id, status)
    if parent is not None:
        before = book.status(parent)
        if before is None or before == "running" or _SEVERITY[status] > _SEVERITY[before]:
            book.finish(parent, status)
    _faults.point("capture.status")
    journal.set_meta(state="finished", status=status)


def _settle(observer: Observer, uploads: _Uploads, *, killed: bool) -> list[str]:
    torn: list[str] = []
    for _ in range(20):  # a file that changes while stored is seen again; bounded retries
        torn += observer.settle(killed=killed)
        uploads.drain()
        if not observer.dirty:
            break
    return torn


def capture(
    plan: Plan,
    *,
    arts: SyncArtifactFacade,
    book: RunBook,
    home: Path,
    reporter: Reporter,
    environ: Mapping[str, str] | None = None,
) -> CaptureResult:
    """Run ``plan.argv`` and store every file it creates under the watched directories.

    Raises:
        ConflictError: the run exists already (``satchel run --resume`` continues one).
        ValidationError: no command, a command that cannot start, a bad ``--watch``.
    """
    roots = _roots(plan.watch, plan.cwd, plan.exclude)
    if book.status(plan.run_id) is not None:
        raise ConflictError(
            f"run {plan.run_id!r} exists; pick another --name (or --experiment), or "
            f"`satchel run --resume {plan.run_id}` to finish an interrupted capture"
        )
    journal = Journal.open(home, plan.run_id, create=True)
    finished = started = False
    try:
        journal.set_meta(
            run_id=plan.run_id,
            name=plan.name,
            parent_run_id=plan.parent_run_id,
            roots=[str(r.root) for r in roots],
            exclude=[str(e) for e in plan.exclude],
            argv=list(plan.argv),
            target=dict(plan.target),
            state="running",
        )
        for rules in roots:
            journal.add_preexisting(str(p) for p in walk(rules))
        if plan.parent_run_id is not None:
            book.create(plan.parent_run_id, name=plan.parent_run_id, parent_run_id=None)
        book.create(plan.run_id, name=plan.name, parent_run_id=plan.parent_run_id)
        env = {**(os.environ if environ is None else environ), **book.child_env(plan.run_id)}
        observer = Observer(roots, journal, debounce=plan.debounce)
        uploads = _Uploads(arts, journal, reporter, observer)
        observer.ready = uploads.put
        try:
            child = Child(plan.argv, env=env, cwd=str(plan.cwd))
        except ValidationError:
            _finish(book, plan.run_id, plan.parent_run_id, "failed", journal)
            raise
        started = True
        observer.watch_child(child.pid)
        uploads.start()
        stop = threading.Event()
        watcher = threading.Thread(
            target=observer.run, args=(stop, child.alive), name="satchel-watch", daemon=True
        )
        watcher.start()
        returncode = child.wait()
        journal.set_meta(returncode=returncode)
        stop.set()
        watcher.join()
        torn = _settle(observer, uploads, killed=returncode < 0)
        uploads.stop()
        for rel in torn:
            reporter.skipped(rel, "open for writing when the command was killed")
        status = _status(returncode, uploads.errors)
        _finish(book, plan.run_id, plan.parent_run_id, status, journal)
        finished = not uploads.errors
        return CaptureResult(
            run_id=plan.run_id,
            status=status,
            returncode=returncode,
            stored=uploads.stored,
            stored_bytes=uploads.stored_bytes,
            torn=tuple(torn),
            errors=tuple(uploads.errors),
        )
    finally:
        # Before the command started there is nothing to resume: the journal goes too.
        journal.close(remove=finished or not started)


def resume(
    run_id: str,
    *,
    arts: SyncArtifactFacade,
    book: RunBook,
    home: Path,
    reporter: Reporter,
    target: Mapping[str, Any] | None = None,
) -> CaptureResult:
    """Finish the capture of ``run_id`` that a killed ``satchel run`` left in its journal.

    Versions journalled closed are stored unless the store has them (a save cut off by the
    kill is looked up by its labels first, so nothing is stored twice); files written after
    the last journal entry are stored when the command is known to have exited by itself,
    and reported as possibly half-written otherwise.

    Raises:
        NotFoundError: no journal for ``run_id`` here.
        BusyError: a live ``satchel run`` is capturing it.
        ConflictError: ``target`` is not where the run was captured into.
    """
    journal = Journal.open(home, check_name(run_id, what="run"), create=False)
    finished = False
    try:
        meta = journal.meta()
        roots = [
            IgnoreRules.load(Path(r), exclude=[Path(e) for e in meta.get("exclude", [])])
            for r in meta.get("roots", [])
        ]
        returncode: int | None = meta.get("returncode")
        if target is not None and meta.get("target") != dict(target):
            raise ConflictError(
                f"run {run_id!r} was captured into {_where(meta.get('target'))}; resume it "
                "with the same --server or --store"
            )
        observer = Observer(roots, journal, debounce=0.0)
        uploads = _Uploads(arts, journal, reporter, observer)
        observer.ready = uploads.upload
        if meta.get("state") != "finished":
            for row in journal.unfinished():
                if row.state == "uploading":
                    found = find_stored(arts, row)
                    if found is not None:
                        journal.set_state(
                            row, "uploaded", artifact_id=found.artifact_id, sha256=found.sha256
                        )
                        continue
                if _stamp(row.path) == row.stamp:
                    uploads.upload(row)
            killed = returncode is None or returncode < 0
            torn: list[str] = []
            for _ in range(20):
                torn += observer.settle(killed=killed)
                if not observer.dirty:
                    break
            for rel in torn:
                reporter.skipped(rel, "written after the last journal entry; may be half-written")
        else:
            torn = []
        status = _status(returncode, uploads.errors)
        _finish(book, run_id, meta.get("parent_run_id"), status, journal)
        finished = not uploads.errors
        return CaptureResult(
            run_id=run_id,
            status=status,
            returncode=returncode,
            stored=uploads.stored,
            stored_bytes=uploads.stored_bytes,
            torn=tuple(torn),
            errors=tuple(uploads.errors),
        )
    finally:
        journal.close(remove=finished)


def _stamp(path: str) -> Stamp | None:
    try:
        return Stamp.of(os.stat(path))
    except OSError:
        return None


def _where(target: Any) -> str:
    if isinstance(target, dict):
        return str(target.get("server") or target.get("store") or target)
    return "another store"
