"""The servers of the ``--server`` figures, each a real child process on loopback.

* :class:`SatchelServer`: ``satchel serve`` (uvicorn, one process) on a fresh
  ``SATCHEL_HOME`` (the embedded default: SQLite index + local blob directory); its first
  start prints the admin's API token, which the benchmark reads from its output.
* :class:`MlflowServer`: ``mlflow server --serve-artifacts`` with a SQLite tracking store
  and a local artifact root; clients reach the artifacts through it (``mlflow-artifacts:/``).
* :class:`RssSampler`: a thread that reads a server's memory from ``/proc`` every 50 ms.

Each server is started in a session of its own and stopped by its process group id (the
PID of the child started here): SIGTERM, then SIGKILL when it has not ended after a while.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Self

import httpx

from _remote import Remote

START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
SAMPLE_EVERY = 0.05
#: Settled: this many readings in a row, this far apart, within this many KiB.
SETTLE_READINGS = 6
SETTLE_EVERY = 0.5
SETTLE_KIB = 2048


def child_start(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, Path, dict]:
    """A server benchmark child's start: its arguments, its ``--work`` directory (made) and
    the environment for its servers. SIGTERM becomes ``SystemExit``, so that ``finally``
    blocks stop the servers; MLflow's client logs only warnings."""
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return args, work, dict(os.environ)


def mlflow_client(url: str) -> Any:
    """An ``MlflowClient`` of the server at ``url``, through ``MLFLOW_TRACKING_URI``."""
    os.environ["MLFLOW_TRACKING_URI"] = url
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    return MlflowClient()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Child:
    """A server child in its own session; stopped by its process group."""

    name = "server"

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path, health: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out: IO[str] = log.open("w")
        cmd = [*cmd, "--host", "127.0.0.1", "--port", str(self.port)]
        self.cmd = cmd
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            self._wait_ready(health)
        except BaseException:  # not started, or interrupted while starting
            self.stop()
            raise

    def _wait_ready(self, health: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + health, timeout=2).status_code == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                printed = self.log.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{self.name} did not start:\n{printed}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def printed(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def settle(self, *, timeout: float = 90.0) -> float:
        """Wait until the RSS of the server's processes stops growing (MLflow's job
        consumers go on importing for a while after it answers); returns the seconds."""
        start = time.monotonic()
        last, steady = -1, 0
        while time.monotonic() - start < timeout and steady < SETTLE_READINGS:
            now = sum(_status_kib(p, "VmRSS") for p in _tree(self.pid))
            steady = steady + 1 if abs(now - last) < SETTLE_KIB else 0
            last = now
            time.sleep(SETTLE_EVERY)
        return time.monotonic() - start

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL when it is still there.

        SIGTERM and SIGINT to this process wait until the server is gone (they are blocked
        meanwhile, and delivered after), so an interrupt never leaves one running.
        """
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            self._stop()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=STOP_TIMEOUT)
        # Workers of the group may outlive its leader: the group goes in every case.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=STOP_TIMEOUT)
        self._out.close()


class SatchelServer(_Child):
    """``satchel serve`` on a fresh home; ``token`` is the first start's admin token.

    With ``fresh=False`` the home is an existing store that already has its orgs and users
    (the ``--portal`` figures make their own): no first start, and ``token`` is empty.
    """

    name = "satchel serve"

    def __init__(self, home: Path, log: Path, env: dict[str, str], *, fresh: bool = True) -> None:
        env = {k: v for k, v in env.items() if not k.startswith("SATCHEL_")}
        env["SATCHEL_HOME"] = str(home)
        super().__init__([sys.executable, "-m", "satchel.cli", "serve"], env, log, "/api/v1/health")
        self.token = ""
        if not fresh:
            return
        printed = self.printed()
        found = re.search(r"token:\s+(\S+)", printed)
        if found is None:  # not a first start: the home was not fresh
            self.stop()
            raise RuntimeError(f"satchel serve printed no token:\n{printed[-4000:]}")
        self.token = found.group(1)


class NullServer(_Child):
    """``_null_app.py`` under uvicorn: an ASGI app that does nothing with the bytes."""

    name = "empty ASGI app"

    def __init__(self, log: Path, env: dict[str, str]) -> None:
        here = str(Path(__file__).resolve().parent)
        env = {**env, "PYTHONPATH": here}
        cmd = [sys.executable, "-m", "uvicorn", "_null_app:app", "--log-level", "warning"]
        super().__init__(cmd, env, log, "/health")


class MlflowServer(_Child):
    """``mlflow server --serve-artifacts``: SQLite tracking store, local artifact root."""

    name = "mlflow server"

    def __init__(self, root: Path, log: Path, env: dict[str, str]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        mlflow = str(Path(sys.executable).with_name("mlflow"))
        super().__init__(
            [
                mlflow,
                "server",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination",
                str(root / "artifacts"),
                "--serve-artifacts",
            ],
            env,
            log,
            "/health",
        )


def warm_up(url: str, paths: list[str], *, connections: int = 40) -> None:
    """GET each of ``paths`` on fresh connections, so that every worker of a server with
    several has answered (and imported what its routes need) before a measurement."""
    for i in range(connections):
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url + paths[i % len(paths)], timeout=30)


def _status_kib(pid: int, field: str, name: str = "status") -> int:
    """A ``kB`` field of ``/proc/<pid>/<name>`` (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/{name}", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from the parent ids in ``/proc/*/stat``)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(parents.get(current, []))
    return out


def reset_peak(pid: int) -> bool:
    """Reset a process's VmHWM to its RSS now (``/proc/<pid>/clear_refs``, value 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def peak_kib(pid: int) -> int:
    """A process's VmHWM (its peak RSS since the last reset)."""
    return _status_kib(pid, "VmHWM")


class RssSampler:
    """Samples a server's memory every 50 ms while in use; ``summary()`` after.

    The processes are the server's (``tree``: it and all its descendants, say a
    supervisor and its workers), as they are on entry. Each sample is the sum of their RSS.
    Each process's VmHWM is reset on entry and read on exit: the kernel's exact peak per
    process, which no sampling misses. With ``tree`` the PSS of all of them is read on
    entry and on exit too (shared pages counted once overall, not once per process).
    """

    def __init__(self, pid: int, *, tree: bool = False) -> None:
        self.pid = pid
        self.tree = tree
        self.pids: list[int] = []
        self.samples: list[int] = []
        self.largest_kib = 0
        self.baseline: dict[int, int] = {}
        self.hwm: dict[int, int] = {}
        self.pss_kib: list[int] = []
        self._reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _rss(self) -> dict[int, int]:
        return {p: _status_kib(p, "VmRSS") for p in self.pids}

    def _pss(self) -> int:
        return sum(_status_kib(p, "Pss", "smaps_rollup") for p in self.pids)

    def _run(self) -> None:
        while not self._stop.is_set():
            each = self._rss()
            self.samples.append(sum(each.values()))
            self.largest_kib = max(self.largest_kib, *each.values())
            self._stop.wait(SAMPLE_EVERY)

    def __enter__(self) -> RssSampler:
        self.pids = _tree(self.pid) if self.tree else [self.pid]
        if self.tree:
            self.pss_kib.append(self._pss())
        self.baseline = self._rss()
        resets = [reset_peak(p) for p in self.pids]  # every one, not up to a failure
        self._reset = all(resets)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._reset:
            self.hwm = {p: peak_kib(p) for p in self.pids}
        if self.tree:
            self.pss_kib.append(self._pss())

    def summary(self) -> dict[str, Any]:
        """MiB: ``peak`` is the sampled peak of the summed RSS (for one process, or the
        kernel's VmHWM when higher); ``largest_process`` the highest peak of one process
        (VmHWM when it could be reset) with ``largest_baseline`` its RSS on entry."""
        sampled = max(self.samples, default=0)
        top = max(self.pids, key=lambda p: self.hwm.get(p, 0)) if self.hwm else self.pid
        largest = max(self.largest_kib, self.hwm.get(top, 0))
        peak = max(sampled, self.hwm.get(self.pid, 0)) if not self.tree else sampled
        return {
            "baseline_mib": sum(self.baseline.values()) / 1024,
            "peak_mib": peak / 1024,
            "sampled_peak_mib": sampled / 1024,
            "vmhwm_mib": self.hwm[self.pid] / 1024 if self.hwm else None,
            "largest_process_mib": largest / 1024,
            "largest_baseline_mib": self.baseline.get(top, 0) / 1024,
            "pss_mib": [kib / 1024 for kib in self.pss_kib],
            "processes": len(self.pids),
            "samples": len(self.samples),
        }


@contextlib.contextmanager
def both_servers(
    work: Path, env: dict[str, str]
) -> Iterator[tuple[SatchelServer, MlflowServer, Remote, Any]]:
    """A fresh ``satchel serve`` and ``mlflow server``, a hand-made HTTP client of the
    first (``_remote.Remote``) and the remote SDK's sync facade on it; both servers stopped
    on the way out, whatever happens."""
    import satchel  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(
            SatchelServer(work / "satchel-home", work / "satchel-serve.log", env)
        )
        peer = stack.enter_context(
            MlflowServer(work / "mlflow-server", work / "mlflow-server.log", env)
        )
        remote = Remote(ours.url, ours.token)
        stack.callback(remote.close)
        ctx = stack.enter_context(satchel.Context(store=ours.url, token=ours.token))
        yield ours, peer, remote, ctx.sync_artifacts()
