"""Group commit: many saves in flight share one durable index transaction.

Each save hands its rows to ``submit`` and waits on the returned future; one committer
thread takes everything queued, commits it in one transaction (one fsync), and resolves
all the futures. A save is acknowledged only after its transaction committed, so grouping
never weakens "acknowledged means durable". When a grouped transaction fails, each write
is retried alone, so one bad write cannot fail the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Final, Generic, TypeVar

from satchel.errors import SatchelError

__all__ = ["GroupCommitter"]

T = TypeVar("T")
MAX_BATCH: Final = 1024


class GroupCommitter(Generic[T]):
    """Runs ``commit(batch)`` on a background thread for everything submitted."""

    def __init__(
        self, commit: Callable[[Sequence[T]], None], *, name: str = "satchel-commit"
    ) -> None:
        self._commit = commit
        self._name = name
        self._pending: list[tuple[T, Future[None]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, item: T) -> Future[None]:
        """Queue one write; the future resolves when it is durable (or fails)."""
        future: Future[None] = Future()
        with self._cond:
            if self._closed:
                raise SatchelError("the store is closed")
            self._pending.append((item, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
            self._run(batch)

    def _run(self, batch: list[tuple[T, Future[None]]]) -> None:
        try:
            self._commit([item for item, _ in batch])
        except BaseException as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for item, future in batch:
                try:
                    self._commit([item])
                except BaseException as single:
                    future.set_exception(single)
                else:
                    future.set_result(None)
            return
        for _, future in batch:
            future.set_result(None)

    def close(self) -> None:
        """Finish everything queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
