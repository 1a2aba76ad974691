"""The run's command as a child process: signals forwarded, exit status read back.

SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to ``satchel run`` go to the
command. A Ctrl-C typed at a terminal already reaches the whole foreground process group,
the command included, so SIGINT is forwarded only when ``satchel run`` is not in the
terminal's foreground group (``kill -INT`` from elsewhere). On Linux the command gets
SIGTERM if ``satchel run`` dies (``PR_SET_PDEATHSIG``), so that no command writes on
unwatched once its capture is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Final

from satchel.errors import ValidationError

__all__ = ["FORWARDED", "Child", "exit_code_of"]

FORWARDED: Final = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
_PR_SET_PDEATHSIG: Final = 1


def _die_with_parent(parent: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the forked child, before exec
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _terminal_foreground() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def exit_code_of(returncode: int) -> int:
    """The shell's exit code for a child's return code (128 + N when killed by N)."""
    return returncode if returncode >= 0 else 128 - returncode


class Child:
    """The running command."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str) -> None:
        if not argv:
            raise ValidationError("no command given: satchel run [OPTIONS] -- COMMAND [ARGS...]")
        linux = sys.platform.startswith("linux")
        self.process: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        # Handlers first: a signal that arrives while the command starts is forwarded too.
        self._previous = {signum: signal.signal(signum, self._forward) for signum in FORWARDED}
        try:
            self.process = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                preexec_fn=_die_with_parent(os.getpid()) if linux else None,  # noqa: PLW1509
            )
        except OSError as exc:
            self._restore()
            raise ValidationError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
        for signum in self._pending:
            self._send(signum)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """True until the command exits (its fds are closed then), even before it is
        reaped; safe from any thread while ``wait`` runs."""
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return info is None

    def _send(self, signum: int) -> None:
        if signum == signal.SIGINT and _terminal_foreground():
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:  # a signal handler
        if self.process is None:
            self._pending.append(signum)
        else:
            self._send(signum)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def wait(self) -> int:
        """Wait for the command, forwarding signals meanwhile; its return code.

        The handlers are restored once it has exited: a signal during the final sync acts
        as usual (the journal lets ``--resume`` finish).
        """
        assert self.process is not None
        try:
            return self.process.wait()
        finally:
            self._restore()
