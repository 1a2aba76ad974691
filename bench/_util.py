"""Helpers shared by the benchmark scripts under ``bench/`` (never part of the test suite).

Each benchmark runs as its own child process (``python bench/<name>.py ...``) so that one
measurement's threads, caches and garbage cannot disturb the next; a child reports by
printing one ``BENCH-RESULT <json>`` line on stdout.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
RESULT_PREFIX = "BENCH-RESULT "
BENCH_DIR = Path(__file__).resolve().parent
#: Seconds an interrupted child gets to stop what it started before it is killed.
CHILD_STOP_TIMEOUT = 60


class ChildFailedError(Exception):
    pass


def child(script: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``bench/<script>`` in a fresh interpreter and return its ``BENCH-RESULT``."""
    cmd = [sys.executable, str(BENCH_DIR / script), *args]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            stdout, stderr = proc.communicate()
        except BaseException:
            # Interrupted (SIGTERM, Ctrl-C): let the child stop the servers it started
            # before it goes; SIGKILL only when it does not end in time.
            proc.terminate()
            try:
                proc.wait(timeout=CHILD_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    sys.stderr.write(stdout[-4000:] + stderr[-4000:])
    raise ChildFailedError(f"{script} exited {proc.returncode} without a result")


def emit(result: dict[str, Any]) -> None:
    """Report a child's result to the orchestrator."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def make_file(path: str, size: int, *, block: int = 64 * MIB, repeat_block: bool = False) -> str:
    """Write ``size`` bytes of random content to ``path``; return their SHA-256 hex.

    With ``repeat_block`` one random block is written over and over (cheap for very large
    files, still real non-zero content); otherwise every block is fresh random bytes.
    """
    hasher = hashlib.sha256()
    data = os.urandom(min(block, size))
    with open(path, "wb") as fh:
        remaining = size
        while remaining:
            if not repeat_block and remaining != size:
                data = os.urandom(min(block, remaining))
            chunk = memoryview(data)[: min(len(data), remaining)]
            fh.write(chunk)
            hasher.update(chunk)
            remaining -= len(chunk)
        fh.flush()
        os.fsync(fh.fileno())  # no write-back of this file left to disturb the timings
    return hasher.hexdigest()


def read_whole(path: str, chunk: int = 16 * MIB) -> int:
    """Read a file once (it is then in the page cache); return its size."""
    buf = bytearray(chunk)
    total = 0
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            total += n
    return total


def proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def maxrss_kib() -> int:
    """``ru_maxrss`` of this process (KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def small_text(i: int) -> str:
    """The small payload both sides save in the small-save benchmarks (~70 bytes)."""
    return f"step {i}: loss={1.0 / (abs(i) + 1):.6f} accuracy={(i % 1000) / 1000:.3f} lr=3e-4 ok\n"


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]
