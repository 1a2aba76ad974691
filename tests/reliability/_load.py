"""The load driver: many uploaders and slow downloaders against one ``satchel serve`` that is
killed with SIGKILL and restarted while they run (RELIABILITY.md, "Load").

Used by ``test_load.py`` and by ``bench/load.py`` (``bash bench/run --load``); run alone
with ``python tests/reliability/_load.py WORKDIR [SECONDS]``, it prints the figures as JSON.

* The server is a real child process (``python -m satchel.cli serve``) on a fresh
  ``SATCHEL_HOME`` (the embedded default: local blob directory + SQLite) on a free loopback
  port; its first start prints the admin's token. Every restart uses the same port and home,
  after an outage of at least ``OUTAGE`` seconds.
* Uploaders save through the remote SDK (``satchel.Context(store=url).artifacts()``), so its
  retries, resumable chunked uploads and resume journal are what is exercised. Payloads
  range from one byte to a few MiB; some are the same bytes for every uploader (dedup).
  A save counts as acknowledged only when ``save_file`` returned; one that raised is a failed
  attempt, retried (same file, same metadata: the SDK's journal resumes it) once the server
  answers again, a few times at most.
* Downloaders stream acknowledged files over plain HTTP and read them slowly (a piece, then
  a pause), checking size and SHA-256 at the end; a download cut by a kill is retried.
* The server's memory is read from ``/proc/<pid>/status`` (VmRSS sampled, VmHWM, the
  kernel's exact peak, read just before each kill) for each of its lifetimes.
* Afterwards every acknowledged artifact is listed with its digest through the last server,
  and up to ``FINAL_DOWNLOADS`` of them (every one acknowledged on a retry or around a kill,
  then random others; one per content) are downloaded at full speed and verified; the server
  is then stopped and ``fsck(read_data=True)`` runs on the store, which reads the blob of
  every file row and checks its SHA-256.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

import satchel
from satchel.config import Settings
from satchel.errors import NetworkError
from satchel.fsck import fsck
from satchel.store import ArtifactStore

KIB = 1024
MIB = 1024 * KIB
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
SAMPLE_EVERY = 0.1
#: Bytes a slow downloader reads before each pause, and the pause (seconds).
SLOW_PIECE = 64 * KIB
SLOW_PAUSE = (0.02, 0.1)
#: Attempts of one save (the first and the retries after a failure) before it is given up.
SAVE_ATTEMPTS = 4
#: Seconds the uploaders get after the end to finish the save each has in flight.
DRAIN_TIMEOUT = 120.0
#: Sizes of the payloads every uploader shares (the same bytes: stored once).
SHARED_SIZES = (1, 100, 4 * KIB, 64 * KIB, 300 * KIB, 1 * MIB - 100, 1 * MIB + 1, 3 * MIB)
#: Share of saves that use a shared payload; the others write fresh random bytes.
SHARED_SHARE = 0.5
#: Fresh payload sizes: (weight, smallest, largest).
FRESH_SIZES = ((85, 1, 32 * KIB), (13, 32 * KIB, 512 * KIB), (2, 512 * KIB, 3 * MIB))
#: The SDK sends files larger than ``content_max`` (1 MiB) in chunks of this size, so that
#: a multi-MiB file takes several requests and a kill can cut it between two of them.
UPLOAD_CHUNK = 1 * MIB
#: Seconds the server stays down after each kill at least: longer than the SDK's own retries
#: (0.2 + 0.5 + 1 + 2 s), so that saves in flight fail and are run again (and resume).
OUTAGE = 5.0
#: Acknowledged artifacts downloaded again at the end (every one is listed with its digest,
#: and fsck reads every blob): those acknowledged on a retry or within this many seconds of
#: a kill first, then random others.
FINAL_DOWNLOADS = 1000
KILL_WINDOW = 3.0


@dataclass
class LoadConfig:
    """What one load run does."""

    work: Path
    seconds: float = 120.0
    uploaders: int = 64
    downloaders: int = 100
    kills: int = 3
    seed: int = 8


@dataclass
class Lifetime:
    """One server process from start to kill (or final stop)."""

    pid: int
    started: float
    start_seconds: float = 0.0
    baseline_kib: int = 0
    sampled_peak_kib: int = 0
    hwm_kib: int = 0
    ended: float | None = None
    how: str = ""
    #: VmRSS (KiB) about once a second: whether memory levels off or keeps growing.
    series_kib: list[int] = field(default_factory=list)

    def summary(self, origin: float) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "at_s": round(self.started - origin, 1),
            "start_s": round(self.start_seconds, 2),
            "lived_s": round((self.ended or time.monotonic()) - self.started, 1),
            "ended_by": self.how,
            "baseline_rss_mib": round(self.baseline_kib / 1024, 1),
            "peak_rss_mib": round(max(self.sampled_peak_kib, self.hwm_kib) / 1024, 1),
            "rss_mib_each_second": [round(kib / 1024) for kib in self.series_kib],
        }


def status_kib(pid: int, name: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``satchel serve`` on one home and port, started, killed and restarted; its memory
    sampled for every lifetime by a thread."""

    def __init__(self, home: Path, logs: Path) -> None:
        self.home = home
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = ""
        self.lifetimes: list[Lifetime] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
        self.env["SATCHEL_HOME"] = str(home)

    def start(self) -> None:
        """Start a process and wait until it answers; the first start's token is read."""
        logs = self.logs / f"serve-{len(self.lifetimes)}.log"
        self._out = logs.open("wb")
        cmd = [sys.executable, "-m", "satchel.cli", "serve"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        began = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )
        life = Lifetime(pid=self.proc.pid, started=began)
        self.lifetimes.append(life)
        self._stop.clear()
        self._sampler = threading.Thread(target=self._sample, args=(life,), daemon=True)
        self._sampler.start()
        deadline = began + START_TIMEOUT
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                printed = logs.read_text(errors="replace")[-4000:]
                self.stop()
                raise RuntimeError(f"satchel serve did not start:\n{printed}")
            time.sleep(0.05)
        life.start_seconds = time.monotonic() - began
        life.baseline_kib = status_kib(life.pid, "VmRSS")
        if not self.token:
            found = re.search(r"token:\s+(\S+)", logs.read_text(errors="replace"))
            if found is None:
                self.stop()
                raise RuntimeError("the first start of satchel serve printed no token")
            self.token = found.group(1)

    def _sample(self, life: Lifetime) -> None:
        every = round(1 / SAMPLE_EVERY)
        n = 0
        while not self._stop.is_set():
            rss = status_kib(life.pid, "VmRSS")
            if n % every == 0 and rss:
                life.series_kib.append(rss)
            n += 1
            life.sampled_peak_kib = max(life.sampled_peak_kib, rss)
            life.hwm_kib = max(life.hwm_kib, status_kib(life.pid, "VmHWM"))
            self._stop.wait(SAMPLE_EVERY)

    def _end(self, sig: signal.Signals, how: str) -> None:
        proc, life = self.proc, self.lifetimes[-1] if self.lifetimes else None
        if proc is None or life is None:
            return
        # VmHWM just before the end: the kernel's exact peak of this lifetime.
        life.hwm_kib = max(life.hwm_kib, status_kib(proc.pid, "VmHWM"))
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)
                how += " (then SIGKILL)"
        life.ended, life.how = time.monotonic(), how
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        if self._out is not None:
            self._out.close()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: nothing of the process gets to run after it."""
        self._end(signal.SIGKILL, "SIGKILL")

    def stop(self) -> None:
        """SIGTERM (a graceful end), SIGKILL when it does not end in time."""
        self._end(signal.SIGTERM, "SIGTERM")


@dataclass
class Acked:
    """An acknowledged save: what the SDK returned, and what was sent."""

    artifact_id: str
    path: str
    sha256: str
    size: int
    #: Seconds into the run when it was acknowledged; whether an attempt failed before.
    at: float = 0.0
    retried: bool = False


@dataclass
class Tally:
    """What the workers did; shared by every task of the run (one event loop)."""

    acked: list[Acked] = field(default_factory=list)
    attempts: int = 0
    failed_attempts: int = 0
    resumed_after_failure: int = 0
    given_up: int = 0
    save_errors: Counter[str] = field(default_factory=Counter)
    bytes_up: int = 0
    shared_saves: int = 0
    downloads: int = 0
    downloads_cut: int = 0
    download_errors: Counter[str] = field(default_factory=Counter)
    #: Wrong answers: a save answered with other bytes, a download with an error or other
    #: bytes than were saved.
    wrong: list[str] = field(default_factory=list)
    bytes_down: int = 0
    most_open: int = 0
    open_now: int = 0


def _file_of(path: Path, size: int, rng: random.Random) -> str:
    data = rng.randbytes(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _fresh_size(rng: random.Random) -> int:
    weights = [w for w, _, _ in FRESH_SIZES]
    _, low, high = rng.choices(FRESH_SIZES, weights=weights)[0]
    return rng.randint(low, high)


class Run:
    """One load run: the server, the workers, the kills, then the checks."""

    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.work = cfg.work
        self.payloads = self.work / "payloads"
        self.payloads.mkdir(parents=True, exist_ok=True)
        (self.work / "logs").mkdir(exist_ok=True)
        self.server = Server(self.work / "home", self.work / "logs")
        self.tally = Tally()
        self.up = asyncio.Event()
        self.done = asyncio.Event()
        self.kills: list[dict[str, float]] = []
        self.origin = 0.0
        rng = random.Random(cfg.seed)
        self.shared: list[tuple[Path, int, str]] = []
        for i, size in enumerate(SHARED_SIZES):
            path = self.payloads / f"shared-{i}.bin"
            self.shared.append((path, size, _file_of(path, size, rng)))

    # --- the workers ----------------------------------------------------------------
    async def uploader(self, n: int, arts: Any) -> None:
        rng = random.Random(self.cfg.seed * 1000 + n)
        mine = self.payloads / f"fresh-{n}.bin"
        seq = 0
        while not self.done.is_set():
            if rng.random() < SHARED_SHARE:
                path, size, digest = rng.choice(self.shared)
                self.tally.shared_saves += 1
            else:
                size = _fresh_size(rng)
                digest = await asyncio.to_thread(_file_of, mine, size, rng)
                path = mine
            name = f"u{n}-{seq}.bin"
            seq += 1
            await self._save(arts, path, name, digest, size, n)

    async def _save(self, arts: Any, path: Path, name: str, digest: str, size: int, n: int) -> None:
        for attempt in range(SAVE_ATTEMPTS):
            await self.up.wait()
            self.tally.attempts += 1
            try:
                art = await arts.save_file(
                    path, kind="load", name=name, labels={"uploader": n, "bytes": size}
                )
            except Exception as exc:  # every failure, counted by its class
                self.tally.failed_attempts += 1
                self.tally.save_errors[_error_name(exc)] += 1
                await asyncio.sleep(0.2)
                continue
            (file,) = art.files
            if file.sha256 != digest or file.bytes != size or art.status != "completed":
                self.tally.wrong.append(f"save {name} answered {file} ({art.status})")
            at = time.monotonic() - self.origin
            self.tally.acked.append(
                Acked(art.artifact_id, file.path, digest, size, at=at, retried=attempt > 0)
            )
            self.tally.bytes_up += size
            if attempt:
                self.tally.resumed_after_failure += 1
            return
        self.tally.given_up += 1

    async def downloader(self, n: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(self.cfg.seed * 7919 + n)
        while not self.done.is_set():
            if not self.tally.acked:
                await asyncio.sleep(0.2)
                continue
            item = rng.choice(self.tally.acked)
            while not self.done.is_set():
                await self.up.wait()
                try:
                    await self._download(http, item, rng)
                    break
                except (httpx.TransportError, NetworkError) as exc:
                    self.tally.downloads_cut += 1
                    self.tally.download_errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.2)

    async def _download(self, http: httpx.AsyncClient, item: Acked, rng: random.Random) -> None:
        url = f"/api/v1/artifacts/{item.artifact_id}/files/{item.path}"
        hasher = hashlib.sha256()
        got = 0
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                await response.aread()
                self.tally.wrong.append(
                    f"GET {url}: HTTP {response.status_code} {response.text[:200]}"
                )
                self.tally.download_errors[f"HTTP {response.status_code}"] += 1
                return
            self.tally.open_now += 1
            self.tally.most_open = max(self.tally.most_open, self.tally.open_now)
            try:
                async for piece in response.aiter_bytes(SLOW_PIECE):
                    hasher.update(piece)
                    got += len(piece)
                    self.tally.bytes_down += len(piece)
                    await asyncio.sleep(rng.uniform(*SLOW_PAUSE))
            finally:
                self.tally.open_now -= 1
        if got != item.size or hasher.hexdigest() != item.sha256:
            self.tally.wrong.append(
                f"GET {url}: {got} bytes, sha256 {hasher.hexdigest()} (want {item.size}, "
                f"{item.sha256})"
            )
            return
        self.tally.downloads += 1

    async def killer(self) -> None:
        """SIGKILL the server at evenly spread moments of the run and start it again."""
        back = self.origin
        for k in range(1, self.cfg.kills + 1):
            # Every lifetime serves a while, however slowly a short run's server restarts.
            moment = max(self.origin + self.cfg.seconds * k / (self.cfg.kills + 1), back + OUTAGE)
            await asyncio.sleep(max(0.0, moment - time.monotonic()))
            self.up.clear()
            killed = time.monotonic()
            await asyncio.to_thread(self.server.kill)
            await asyncio.sleep(max(0.0, killed + OUTAGE - time.monotonic()))
            await asyncio.to_thread(self.server.start)
            self.kills.append(
                {"at_s": round(killed - self.origin, 1), "down_s": time.monotonic() - killed}
            )
            back = time.monotonic()
            self.up.set()

    # --- the run --------------------------------------------------------------------
    async def drive(self) -> dict[str, Any]:
        cfg = self.cfg
        await asyncio.to_thread(self.server.start)
        self.up.set()
        settings = Settings.load(
            environ={},
            home=str(self.work / "client"),
            store=self.server.url,
            token=self.server.token,
            io_threads=cfg.uploaders,
            upload_chunk=UPLOAD_CHUNK,
        )
        limits = httpx.Limits(max_connections=cfg.downloaders, max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {self.server.token}"}
        timeout = httpx.Timeout(60.0)
        async with (
            satchel.Context(settings=settings) as ctx,
            httpx.AsyncClient(
                base_url=self.server.url, headers=headers, limits=limits, timeout=timeout
            ) as http,
        ):
            arts = ctx.artifacts()
            self.origin = time.monotonic()
            uploaders = [asyncio.create_task(self.uploader(n, arts)) for n in range(cfg.uploaders)]
            downloaders = [
                asyncio.create_task(self.downloader(n, http)) for n in range(cfg.downloaders)
            ]
            killer = asyncio.create_task(self.killer())
            await asyncio.sleep(cfg.seconds)
            await killer  # a restart still under way ends first
            self.done.set()
            for task in downloaders:
                task.cancel()
            await asyncio.gather(*downloaders, return_exceptions=True)
            drained = time.monotonic()
            _, hung = await asyncio.wait(uploaders, timeout=DRAIN_TIMEOUT)
            for task in hung:
                task.cancel()
            crashed = [t.exception() for t in [*uploaders, *downloaders] if _crashed(t)]
            if crashed:  # a bug of the driver, not a finding: fail loudly
                raise RuntimeError(f"{len(crashed)} workers crashed") from crashed[0]
            loaded = time.monotonic() - self.origin
            drain_s = time.monotonic() - drained
            began = time.monotonic()
            checked = await self.check_all(http)
            checked["seconds"] = round(time.monotonic() - began, 1)
        self.server.stop()
        began = time.monotonic()
        report = await asyncio.to_thread(self.fsck)
        report["seconds"] = round(time.monotonic() - began, 1)
        return self.figures(loaded, drain_s, len(hung), checked, report)

    async def check_all(self, http: httpx.AsyncClient) -> dict[str, Any]:
        """Every acknowledged artifact listed with its digest, and downloaded whole."""
        listed: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000, "kind": "load"}
            if cursor:
                params["cursor"] = cursor
            response = await http.get("/api/v1/artifacts", params=params)
            response.raise_for_status()
            page = response.json()
            for item in page["items"]:
                listed[item["artifact_id"]] = item
            cursor = page["next_cursor"]
            if not cursor:
                break
        problems: list[str] = []
        for acked in self.tally.acked:
            found = listed.get(acked.artifact_id)
            files = {f["path"]: f for f in (found or {}).get("files", [])}
            entry = files.get(acked.path)
            if found is None or entry is None:
                problems.append(f"{acked.artifact_id}: acknowledged but not listed")
            elif found["status"] != "completed" or entry["sha256"] != acked.sha256:
                problems.append(f"{acked.artifact_id}: listed as {found['status']} {entry}")
        chosen = self.final_sample()
        gate = asyncio.Semaphore(32)
        verified = 0

        async def fetch(acked: Acked) -> None:
            nonlocal verified
            url = f"/api/v1/artifacts/{acked.artifact_id}/files/{acked.path}"
            async with gate:
                response = await http.get(url)
            digest = hashlib.sha256(response.content).hexdigest()
            if response.status_code != 200 or digest != acked.sha256:
                problems.append(f"GET {url}: HTTP {response.status_code}, sha256 {digest}")
            else:
                verified += 1

        await asyncio.gather(*(fetch(a) for a in chosen))
        return {
            "downloaded": len(chosen),
            "listed": len(listed),
            "digests_checked": len(self.tally.acked) - len(problems),
            "verified": verified,
            "problems": problems,
        }

    def final_sample(self) -> list[Acked]:
        """The acknowledged artifacts downloaded again at the end, one per content, at most
        ``FINAL_DOWNLOADS`` (fsck then reads every file row's blob): first every one
        acknowledged on a retry or around a kill, then random others."""
        windows = [
            (k["at_s"] - KILL_WINDOW, k["at_s"] + k["down_s"] + KILL_WINDOW) for k in self.kills
        ]
        near = [
            a for a in self.tally.acked if a.retried or any(lo <= a.at <= hi for lo, hi in windows)
        ]
        rest = list(self.tally.acked)
        random.Random(self.cfg.seed).shuffle(rest)
        chosen: dict[str, Acked] = {}
        for acked in [*near, *rest]:
            if len(chosen) >= FINAL_DOWNLOADS:
                break
            chosen.setdefault(acked.sha256, acked)
        return list(chosen.values())

    def fsck(self) -> dict[str, Any]:
        settings = Settings.load(environ={}, home=str(self.server.home))
        store = ArtifactStore.open(settings)
        try:
            report = fsck(store, read_data=True)
        finally:
            store.close()
        warnings = Counter(w.kind for w in report.warnings)
        return {
            "ok": report.ok,
            "damaged": [d.to_dict() for d in report.damage],
            "warnings": dict(warnings),
            "warning_bytes": sum(w.size or 0 for w in report.warnings),
            "artifacts": report.artifacts,
            "files": report.files,
            "blobs_checked": report.blobs_checked,
            "bytes_read": report.bytes_read,
        }

    def statuses(self) -> dict[str, int]:
        """The server's answers by status, from its access log (every lifetime's)."""
        found: Counter[str] = Counter()
        for log in sorted(self.work.glob("logs/serve-*.log")):
            text = log.read_text(errors="replace")
            found.update(m.group(1) for m in re.finditer(r'HTTP/[0-9.]+" (\d{3})', text))
        return dict(sorted(found.items()))

    def figures(
        self,
        loaded: float,
        drain_s: float,
        hung: int,
        checked: dict[str, Any],
        report: dict[str, Any],
    ) -> dict[str, Any]:
        t = self.tally
        lifetimes = [life.summary(self.origin) for life in self.server.lifetimes]
        distinct = {a.sha256 for a in t.acked}
        return {
            "seconds": self.cfg.seconds,
            "loaded_s": round(loaded, 1),
            "drain_s": round(drain_s, 1),
            "uploaders": self.cfg.uploaders,
            "downloaders": self.cfg.downloaders,
            "kills": self.kills,
            "saves_acknowledged": len(t.acked),
            "save_attempts": t.attempts,
            "failed_attempts": t.failed_attempts,
            "acknowledged_after_failure": t.resumed_after_failure,
            "saves_given_up": t.given_up,
            "save_errors": dict(t.save_errors),
            "shared_payload_saves": t.shared_saves,
            "distinct_contents_acknowledged": len(distinct),
            "bytes_up": t.bytes_up,
            "downloads_completed": t.downloads,
            "downloads_cut_and_retried": t.downloads_cut,
            "download_errors": dict(t.download_errors),
            "most_downloads_open": t.most_open,
            "bytes_down": t.bytes_down,
            "bad": t.wrong[:50],
            "server_statuses": self.statuses(),
            "uploaders_hung": hung,
            "final_check": {**checked, "problems": checked["problems"][:50]},
            "fsck": report,
            "lifetimes": lifetimes,
            "peak_rss_mib": max(life["peak_rss_mib"] for life in lifetimes),
            "baseline_rss_mib": min(life["baseline_rss_mib"] for life in lifetimes),
        }


def _crashed(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


def _error_name(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    name = type(exc).__name__
    return f"{name} ({code})" if isinstance(code, str) else name


def run_load(cfg: LoadConfig) -> dict[str, Any]:
    """Run the load and return its figures (the server is stopped whatever happens)."""
    run = Run(cfg)
    try:
        return asyncio.run(run.drive())
    finally:
        run.server.stop()


def describe(figures: dict[str, Any]) -> str:
    """The figures for a person, a few lines."""
    f = figures
    lines = [
        f"load: {f['uploaders']} uploaders, {f['downloaders']} slow downloaders, "
        f"{f['loaded_s']} s (uploads drained in {f['drain_s']} s), "
        f"{len(f['kills'])} SIGKILLs at "
        + ", ".join(f"{k['at_s']} s (back in {k['down_s']:.1f} s)" for k in f["kills"]),
        f"saves: {f['saves_acknowledged']} acknowledged ({f['bytes_up'] / MIB:.0f} MiB, "
        f"{f['distinct_contents_acknowledged']} distinct contents, "
        f"{f['shared_payload_saves']} saves of shared payloads), {f['failed_attempts']} failed "
        f"attempts of {f['save_attempts']} {f['save_errors']}, "
        f"{f['acknowledged_after_failure']} acknowledged on a retry, "
        f"{f['saves_given_up']} given up",
        f"server answers by status: {f['server_statuses']}",
        f"downloads: {f['downloads_completed']} completed and verified "
        f"({f['bytes_down'] / MIB:.0f} MiB, at most {f['most_downloads_open']} open at once), "
        f"{f['downloads_cut_and_retried']} cut and retried {f['download_errors']}",
        f"after: {f['final_check']['digests_checked']}/{f['saves_acknowledged']} acknowledged "
        f"artifacts listed with their digest ({f['final_check']['listed']} listed in "
        f"all), {f['final_check']['verified']} (around the "
        f"kills, then random) downloaded and verified in {f['final_check']['seconds']} s, "
        f"{len(f['final_check']['problems'])} problems; fsck --read-data "
        f"({f['fsck']['blobs_checked']} blobs, {f['fsck']['bytes_read'] / MIB:.0f} MiB, "
        f"{f['fsck']['seconds']} s) ok={f['fsck']['ok']}, warnings {f['fsck']['warnings']} "
        f"({f['fsck']['warning_bytes'] / MIB:.1f} MiB)",
        "server RSS per lifetime (baseline -> peak MiB): "
        + ", ".join(
            f"{life['baseline_rss_mib']:.0f} -> {life['peak_rss_mib']:.0f}"
            for life in f["lifetimes"]
        )
        + f"; peak {f['peak_rss_mib']:.0f} MiB",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    out = run_load(
        LoadConfig(
            work=Path(sys.argv[1]), seconds=float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
        )
    )
    print(describe(out), file=sys.stderr)
    print(json.dumps(out))
