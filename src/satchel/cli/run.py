"""``satchel run``: run a command and capture every file it creates (seeds/001)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from satchel.capture import (
    CaptureResult,
    EmbeddedRunBook,
    Plan,
    RunBook,
    ServerRunBook,
    capture,
    resume,
    run_ids,
)
from satchel.capture.journal import orphans
from satchel.capture.session import check_name
from satchel.cli._connect import Target, resolve
from satchel.cli._errors import EXIT_ERROR, reported
from satchel.cli._options import IndexOption, ServerOption, StoreOption, TokenOption
from satchel.config import Settings
from satchel.errors import ConflictError, SatchelError
from satchel.units import human_size

__all__ = ["RUN_CONTEXT", "run"]

#: ``satchel run python train.py --epochs 3`` works without ``--`` too: options end at
#: the command's first word.
RUN_CONTEXT: Final = {"allow_interspersed_args": False}
#: Files from this size on get a progress bar (on a terminal).
PROGRESS_FROM: Final = 64 * 1024 * 1024


class ConsoleReporter:
    """Lines on standard error, a progress bar for large files."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def note(self, message: str) -> None:
        self.console.print(f"satchel: {message}", markup=False)

    def start(self, rel: str, version: int, size: int) -> None:
        if size >= PROGRESS_FROM and self.console.is_terminal:
            self._progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(f"syncing {rel} v{version}", total=size)

    def advance(self, done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, done)

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = self._task = None

    def synced(self, rel: str, version: int, size: int, seconds: float) -> None:
        self._stop()
        self.note(f"synced {rel} (v{version}, {human_size(size)}, {seconds:.2f} s)")

    def skipped(self, rel: str, reason: str) -> None:
        self._stop()
        self.note(f"not captured: {rel} ({reason})")


def _target_key(target: Target, settings: Settings) -> dict[str, Any]:
    if target.server is not None:
        return {"server": target.server}
    return {"store": settings.store or str(settings.home), "index": settings.index}


@contextmanager
def _opened(target: Target, run_id: str) -> Iterator[tuple[Any, RunBook]]:
    ctx = target.context(run_id=run_id)
    book: RunBook
    if target.server is not None:
        assert target.token is not None
        book = ServerRunBook(target.server, target.token)
    else:
        assert ctx.store is not None
        book = EmbeddedRunBook(ctx.store, ctx.settings)
    try:
        yield ctx, book
    finally:
        try:
            book.close()
        finally:
            ctx.close()


def _summary(reporter: ConsoleReporter, result: CaptureResult) -> None:
    files = "file" if result.stored == 1 else "files"
    reporter.note(
        f"run {result.run_id} {result.status}: {result.stored} {files} stored "
        f"({human_size(result.stored_bytes)})"
    )
    if result.errors:
        reporter.note(
            f"some files could not be stored; retry: satchel run --resume {result.run_id}"
        )


def _resume_orphans(
    target: Target, key: dict[str, Any], home: Path, reporter: ConsoleReporter
) -> None:
    """Finish the captures that killed ``satchel run``s left behind for this target."""
    for run_id in orphans(home):
        try:
            with _opened(target, run_id) as (ctx, book):
                reporter.note(f"finishing the interrupted capture of run {run_id}")
                result = resume(
                    run_id,
                    arts=ctx.sync_artifacts(),
                    book=book,
                    home=home,
                    reporter=reporter,
                    target=key,
                )
            _summary(reporter, result)
        except ConflictError as exc:
            reporter.note(f"left for later: {exc}")
        except SatchelError as exc:
            reporter.note(f"could not finish run {run_id}: {exc}")


def run(  # noqa: PLR0917 - a Typer command takes its options as parameters
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command and its arguments (after --).", show_default=False),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The run's name, also its id (default: a fresh id)."),
    ] = None,
    watch: Annotated[
        list[Path] | None,
        typer.Option("--watch", help="A directory to capture from (repeatable; default: .)."),
    ] = None,
    experiment: Annotated[
        int | None,
        typer.Option("--experiment", help="Run as experiment N of run --name: <name>-exp<N>."),
    ] = None,
    resume_run: Annotated[
        str | None,
        typer.Option("--resume", help="Finish the capture a killed satchel run left behind."),
    ] = None,
    debounce: Annotated[
        float,
        typer.Option("--debounce", help="Seconds a closed file must stay unchanged.", min=0),
    ] = 0.25,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Run a command and store every file it creates, during the run and at its end."""
    reporter = ConsoleReporter()
    code = 0
    with reported():
        target = resolve(server=server, token=token, store=store, index=index)
        settings = Settings.load(store=store, index=index)
        home = settings.home.expanduser()
        key = _target_key(target, settings)
        if resume_run is not None:
            if command:
                raise ConflictError("--resume finishes an earlier capture; give no command")
            check_name(resume_run, what="run")
            with _opened(target, resume_run) as (ctx, book):
                result = resume(
                    resume_run,
                    arts=ctx.sync_artifacts(),
                    book=book,
                    home=home,
                    reporter=reporter,
                    target=key,
                )
            _summary(reporter, result)
            code = EXIT_ERROR if result.errors else 0
        else:
            _resume_orphans(target, key, home, reporter)
            run_id, parent = run_ids(name, experiment)
            exclude = [home]
            if target.server is None:
                exclude.append(Path(settings.store or home).expanduser())
            plan = Plan(
                argv=tuple(command or ()),
                run_id=run_id,
                name=name if experiment is None else run_id,
                parent_run_id=parent,
                watch=tuple(watch or ()),
                debounce=debounce,
                exclude=tuple(exclude),
                target=key,
            )
            where = target.server or key["store"]
            with _opened(target, run_id) as (ctx, book):
                reporter.note(f"run {run_id} -> {where}")
                result = capture(
                    plan, arts=ctx.sync_artifacts(), book=book, home=home, reporter=reporter
                )
            _summary(reporter, result)
            assert result.returncode is not None
            rc = result.returncode
            code = rc if rc >= 0 else 128 - rc
            if code == 0 and result.errors:
                code = EXIT_ERROR
    sys.stdout.flush()
    raise typer.Exit(code)
