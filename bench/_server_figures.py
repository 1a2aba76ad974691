"""The ``--server`` figures of ``bench/bench.py``: satchel's HTTP server vs MLflow's.

Three children, each starting its own ``satchel serve`` and ``mlflow server
--serve-artifacts`` on loopback (``_servers.py``) and stopping them at the end:
``server_transfer.py`` (a large file up and down), ``server_small.py`` (a directory of
small files as one artifact) and ``server_rss.py`` (each server's memory during a huge
upload and during concurrent downloads).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from _report import Report, log
from _util import GIB, MIB, ChildFailedError, child, make_file, median

SERVER_FULL = {
    "large": 1 * GIB,
    "files": 1000,
    "huge": 4 * GIB,
    "download": 512 * MIB,
    "streams": 32,
    "runs": 3,
    "reps": 3,
}
SERVER_QUICK = {
    "large": 256 * MIB,
    "files": 200,
    "huge": 1 * GIB,
    "download": 64 * MIB,
    "streams": 32,
    "runs": 2,
    "reps": 3,
}
TRANSFER_RATIO_TARGET = 3.0
FILES_RATIO_TARGET = 10.0
SERVER_RSS_BUDGET_MIB = 250.0

NOTES = (
    "notes: satchel serve (embedded default: SQLite + local dir, fresh SATCHEL_HOME) and "
    "mlflow server --serve-artifacts (SQLite tracking store, local artifact root, its "
    "default 4 uvicorn workers) run as child processes on 127.0.0.1, one benchmark client "
    "process drives both; the satchel side is the remote SDK (satchel.Context(store="
    "'http://...')), and for the split lines docs/api.md's HTTP API by hand over httpx; "
    "the MLflow side MlflowClient with "
    "MLFLOW_TRACKING_URI=http://...; MiB/s = 2**20 bytes/s; large file: warm page cache, "
    "best of the runs, sides alternating; small files: median of the rounds, fresh files "
    "each round; 'server alone' lines: curl as the client of both; RSS sampled every "
    "50 ms from /proc, with each process's VmHWM"
)


def _size(size: int) -> str:
    return f"{size // GIB} GiB" if size % GIB == 0 else f"{size // MIB} MiB"


def bench_server(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    env = {**env, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    need = cfg["huge"] * 3 + cfg["large"] * 4 + cfg["download"] * 3
    free = shutil.disk_usage(work).free
    if free < need:
        report.error("server", f"skipped: {free // GIB} GiB free in /tmp, need {need // GIB} GiB")
        return
    for name, step in (
        ("server_transfer", _transfer),
        ("server_small_files", _small),
        ("server_rss", _rss),
    ):
        try:
            step(report, work, cfg, env)
        except ChildFailedError as exc:
            report.error(name, str(exc))


def _transfer(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    size = cfg["large"]
    label = _size(size)
    source = work / "server-transfer.bin"
    log(f"writing a {label} file of random bytes")
    digest = make_file(str(source), size)
    log(f"server figure 1: {label} up and down through each server, best of {cfg['runs']}")
    try:
        res = child(
            "server_transfer.py",
            "--file",
            str(source),
            "--sha256",
            digest,
            "--work",
            str(work / "transfer"),
            "--runs",
            str(cfg["runs"]),
            env=env,
        )
    finally:
        source.unlink()
        shutil.rmtree(work / "transfer", ignore_errors=True)
    report.raw["server_transfer"] = res
    seconds, verified = res["seconds"], res["verified"]
    check = "" if all(verified.values()) else f" (WARNING: digest mismatch: {verified})"
    best = res["api_up_timings"][seconds["api_up"].index(min(seconds["api_up"]))]
    chunks = best["chunks"]
    split = (
        f"hash {best['hash']:.1f} s, {len(chunks)} chunks {sum(chunks):.1f} s: median "
        f"{median(chunks[:-1] or chunks):.2f} s, the last, with the server's check and move "
        f"into the blob store, {chunks[-1]:.2f} s"
    )
    mlflow_up = "mlflow server --serve-artifacts log_artifact, one streamed PUT, not verified"
    mlflow_down = (
        "mlflow server --serve-artifacts download_artifacts, not verified by its client "
        "(checked after, untimed)"
    )
    lines = (  # key, our side, its peer, which way, what ours is, what the peer is, target
        (
            "server_upload",
            "satchel",
            "mlflow",
            "up",
            f"upload {label} through the server (remote SDK save_file: hash, create, 64 MiB "
            "requests, hashed by the server as they arrive and verified)",
            mlflow_up,
            TRANSFER_RATIO_TARGET,
        ),
        (
            "server_download",
            "satchel",
            "mlflow",
            "down",
            f"download {label} through the server (remote SDK as_local_file: streamed, hashed "
            "as it arrives, renamed into place once verified)",
            mlflow_down,
            TRANSFER_RATIO_TARGET,
        ),
        (
            "server_upload_api",
            "api",
            "mlflow",
            "up",
            f"upload {label}, the HTTP API by hand in 64 MiB chunks ({split})",
            "mlflow log_artifact",
            None,
        ),
        (
            "server_download_api",
            "api",
            "mlflow",
            "down",
            f"download {label}, the HTTP API by hand (one httpx stream, hashed and written)",
            "mlflow download_artifacts",
            None,
        ),
        (
            "server_upload_curl",
            "curl_satchel",
            "curl_mlflow",
            "up",
            f"server alone, upload {label} by curl (one PUT of the whole file as one chunk, "
            "verified)",
            "mlflow server, curl one PUT",
            None,
        ),
        (
            "server_download_curl",
            "curl_satchel",
            "curl_mlflow",
            "down",
            f"server alone, download {label} by curl (one GET into /dev/null, verified as it "
            "streams)",
            "mlflow server, curl one GET",
            None,
        ),
        (
            "server_upload_ceiling",
            "curl_null",
            "curl_mlflow",
            "up",
            f"ceiling: an ASGI app that throws the bytes away, under the same uvicorn, upload "
            f"{label} by curl",
            "mlflow server, curl one PUT",
            None,
        ),
        (
            "server_download_ceiling",
            "curl_null",
            "curl_mlflow",
            "down",
            f"ceiling: the same app sending {label} from memory, by curl into /dev/null",
            "mlflow server, curl one GET",
            None,
        ),
    )
    for key, ours_side, peer_side, way, what, peer_what, target in lines:
        if f"{ours_side}_{way}" not in seconds:
            print(f"{key}: not measured, curl is not installed", flush=True)
            continue
        ours_s, peer_s = min(seconds[f"{ours_side}_{way}"]), min(seconds[f"{peer_side}_{way}"])
        ours, peer = size / ours_s / MIB, size / peer_s / MIB
        ratio = ours / peer
        goal = "" if target is None else f" (target >= {target:.0f}x)"
        report.figure(
            key,
            f"{what}: {ours:.0f} MiB/s ({ours_s:.1f} s) | {peer_what}: {peer:.0f} MiB/s "
            f"({peer_s:.1f} s) | ratio {ratio:.2f}x{goal}{check}",
            None if target is None else ratio >= target,
            value=ours,
            peer=peer,
            unit="MiB/s",
            ratio=ratio,
            target="none (where the time goes)" if target is None else f">= {target}x",
        )


def _small(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    files = cfg["files"]
    log(f"server figure 2: {files} small files as one artifact, {cfg['reps']} rounds")
    try:
        res = child(
            "server_small.py",
            "--files",
            str(files),
            "--rounds",
            str(cfg["reps"]),
            "--work",
            str(work / "small"),
            env=env,
        )
    finally:
        shutil.rmtree(work / "small", ignore_errors=True)
    report.raw["server_small_files"] = res
    ours = files / median(res["seconds"]["satchel"])
    peer = files / median(res["seconds"]["mlflow"])
    ratio = ours / peer
    landed = res["all_landed"]
    check = "" if all(landed.values()) else f" (WARNING: files missing: {landed})"
    report.figure(
        "server_small_files",
        f"{files:,} small files (256 B-4 KiB, {res['bytes'] / MIB:.1f} MiB) saved as one "
        f"artifact through the server (remote SDK ingest_dir: one create request, the files "
        f"inline): {ours:,.0f} files/s | "
        f"mlflow log_artifacts through its server (one PUT per file): {peer:,.0f} files/s | "
        f"ratio {ratio:.1f}x (target >= {FILES_RATIO_TARGET:.0f}x){check}",
        ratio >= FILES_RATIO_TARGET,
        value=ours,
        peer=peer,
        unit="files/s",
        ratio=ratio,
        target=f">= {FILES_RATIO_TARGET}x",
    )


def _rss_line(ours: dict[str, Any], peer: dict[str, Any]) -> tuple[str, float]:
    peak = ours["peak_mib"]
    pss = peer["pss_mib"]
    text = (
        f"{peak:.0f} MiB (baseline {ours['baseline_mib']:.0f}, sampled "
        f"{ours['sampled_peak_mib']:.0f}) | mlflow server: largest of its "
        f"{peer['processes']} processes {peer['largest_process_mib']:.0f} MiB (baseline "
        f"{peer['largest_baseline_mib']:.0f}), PSS of all {pss[0]:.0f} -> {pss[-1]:.0f} MiB | "
        f"budget used {peak / SERVER_RSS_BUDGET_MIB:.2f}x (target < "
        f"{SERVER_RSS_BUDGET_MIB:.0f} MiB)"
    )
    return text, peak


def _rss(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    huge, dl, streams = cfg["huge"], cfg["download"], cfg["streams"]
    huge_src, dl_src = work / "server-huge.bin", work / "server-download.bin"
    log(f"writing a {_size(huge)} file (one random 64 MiB block repeated) and {_size(dl)}")
    huge_sha = make_file(str(huge_src), huge, repeat_block=True)
    dl_sha = make_file(str(dl_src), dl)
    log(
        f"server figure 3: each server's memory during a {_size(huge)} upload and "
        f"{streams} concurrent downloads of {_size(dl)}"
    )
    try:
        res = child(
            "server_rss.py",
            "--huge",
            str(huge_src),
            "--huge-sha256",
            huge_sha,
            "--file",
            str(dl_src),
            "--sha256",
            dl_sha,
            "--streams",
            str(streams),
            "--work",
            str(work / "rss"),
            env=env,
        )
    finally:
        huge_src.unlink()
        dl_src.unlink()
        shutil.rmtree(work / "rss", ignore_errors=True)
    report.raw["server_rss"] = res
    ours, peer = res["satchel"], res["mlflow"]

    got, peer_got = ours["downloads"], peer["downloads"]
    complete = ours["downloads_complete"] and peer["downloads_complete"]
    phases = (
        (
            "upload",
            f"a {_size(huge)} upload ({ours['upload_s']:.0f} s; MLflow {peer['upload_s']:.0f} s)",
            "" if ours["upload_verified"] else " (WARNING: digest mismatch)",
        ),
        (
            "downloads",
            f"{streams} concurrent streamed downloads of {_size(dl)} (at most "
            f"{got['most_open']} open at once, {got['seconds']:.0f} s; MLflow "
            f"{peer_got['seconds']:.0f} s)",
            "" if complete else " (WARNING: a download was short or unverified)",
        ),
    )
    for phase, what, check in phases:
        text, peak = _rss_line(ours[f"{phase}_rss"], peer[f"{phase}_rss"])
        report.figure(
            f"server_rss_{phase}",
            f"server peak RSS during {what}: {text}{check}",
            peak < SERVER_RSS_BUDGET_MIB,
            value=peak,
            baseline=ours[f"{phase}_rss"]["baseline_mib"],
            peer=peer[f"{phase}_rss"]["largest_process_mib"],
            unit="MiB",
            ratio=peak / SERVER_RSS_BUDGET_MIB,
            target=f"< {SERVER_RSS_BUDGET_MIB} MiB",
        )
