"""Group commit: many saves in flight share one durable index transaction.

Each save hands its rows to ``submit`` and waits on the returned future; one committer
thread takes everything queued, commits it in one transaction (one fsync), and resolves
all the futures. A save is acknowledged only after its transaction committed, so grouping
never weakens "acknowledged means durable". When a grouped transaction fails, each write
is retried alone, so one bad write cannot fail the others.

A blocking caller (``run``) that finds the committer idle commits its own write on its own
thread, which saves two thread hand-offs per sequential save; while it does, writes from
others queue up and go in the next group.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
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
        self._pending: list[tuple[T, _Waiter]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread: threading.Thread | None = None

    def submit(self, item: T) -> Future[None]:
        """Queue one write; the future resolves when it is durable (or fails)."""
        future: Future[None] = Future()
        self._enqueue(item, future)
        return future

    def submit_async(self, item: T) -> asyncio.Future[None]:
        """Queue one write from async code; await the result on the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._enqueue(item, (loop, future))
        return future

    def _enqueue(self, item: T, waiter: _Waiter) -> None:
        with self._cond:
            if self._closed:
                raise SatchelError("the store is closed")
            self._pending.append((item, waiter))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def run(self, item: T) -> None:
        """Commit one write and wait until it is durable (for blocking callers)."""
        with self._cond:
            inline = not self._busy and not self._pending and not self._closed
            if inline:
                self._busy = True
        if not inline:
            self.submit(item).result()
            return
        try:
            self._commit([item])
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while (not self._pending or self._busy) and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                if self._busy:
                    self._cond.wait()
                    continue
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                self._busy = True
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _run(self, batch: list[tuple[T, _Waiter]]) -> None:
        outcomes: list[tuple[_Waiter, BaseException | None]] = []
        try:
            self._commit([item for item, _ in batch])
        except BaseException as exc:
            if len(batch) == 1:
                outcomes.append((batch[0][1], exc))
            else:
                for item, waiter in batch:
                    try:
                        self._commit([item])
                    except BaseException as single:
                        outcomes.append((waiter, single))
                    else:
                        outcomes.append((waiter, None))
        else:
            outcomes = [(waiter, None) for _, waiter in batch]
        _settle(outcomes)

    def close(self) -> None:
        """Finish everything queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


_Waiter = Future[None] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def _settle(outcomes: list[tuple[_Waiter, BaseException | None]]) -> None:
    """Resolve waiters; asyncio ones with one thread-safe call per event loop."""
    by_loop: dict[
        asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], BaseException | None]]
    ]
    by_loop = defaultdict(list)
    for waiter, exc in outcomes:
        if isinstance(waiter, Future):
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
        else:
            by_loop[waiter[0]].append((waiter[1], exc))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, items)
        except RuntimeError:  # the loop was closed while the commit ran
            continue


def _settle_on_loop(items: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for future, exc in items:
        if future.done():
            continue
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)
