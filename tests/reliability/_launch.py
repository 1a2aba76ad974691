"""Test-only launcher: the ``satchel`` CLI with a crash hook installed.

Usage: ``python _launch.py <satchel arguments...>`` (``serve --port N``, ``run ...``). The
hook is configured by this launcher's own environment variables, read here and nowhere in
satchel itself (``satchel._faults`` reads nothing):

* ``CRASH_POINT``: the named point (``satchel._faults.POINTS``) to die at;
* ``CRASH_HIT``: die at the N-th time the point is reached (default 1), counted only while
  armed;
* ``CRASH_ARMED``: a file; the hook counts and kills only once it exists (so saves made
  before it are acknowledged normally). Unset: armed from the start.

Dying is ``SIGKILL`` of this whole process, from whichever thread reached the point.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from satchel import _faults
from satchel.cli.app import main


def _install() -> None:
    point = os.environ.get("CRASH_POINT")
    if not point:
        return
    if point not in _faults.POINTS:
        raise SystemExit(f"unknown crash point {point!r}")
    hit = int(os.environ.get("CRASH_HIT", "1"))
    armed = os.environ.get("CRASH_ARMED")
    lock = threading.Lock()
    seen = [0]

    def hook(name: str) -> None:
        if name != point or (armed is not None and not Path(armed).exists()):
            return
        with lock:
            seen[0] += 1
            if seen[0] >= hit:
                os.kill(os.getpid(), signal.SIGKILL)

    _faults.set_hook(hook)


if __name__ == "__main__":
    _install()
    sys.argv[0] = "satchel"
    main()
