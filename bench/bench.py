"""Run satchel's benchmarks against their peers and report every figure (``bash bench/run``).

Every figure is measured in this one run, on this machine, each in its own child process.
Data lives in a temporary directory under /tmp, removed at the end. Results are printed one
line per figure (figure | peer | ratio | target) and written to ``.bench-out/results.json``
(``results-search.json``, ``results-s3.json``, ``results-scale.json``,
``results-server.json``, ``results-portal.json``, ``results-load.json`` for ``--search``,
``--s3``, ``--scale``, ``--server``, ``--portal``, ``--load``, which each run only their own
benchmark).
Benchmarks report; they never assert: a missed target is printed as ``MISSED``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import ROOT, Report, log
from _server_figures import NOTES as SERVER_NOTES
from _server_figures import SERVER_FULL, SERVER_QUICK, bench_server
from _util import GIB, MIB, ChildFailedError, child, make_file, median

FULL = {"large": 1 * GIB, "ops": 1000, "huge": 4 * GIB, "runs": 3, "reps": 3}
QUICK = {"large": 256 * MIB, "ops": 200, "huge": 1 * GIB, "runs": 3, "reps": 3}
#: ``--capture``: the checkpoint's size in MiB (issue 7: 256; 64 with ``--quick``).
CAPTURE_FULL = {"size_mib": 256}
CAPTURE_QUICK = {"size_mib": 64}
#: seeds/001: ``satchel run`` uses at most 200 MiB of extra memory, whatever the file size.
CAPTURE_RSS_MIB = 200.0

COPY_RATIO_TARGET = 0.8
DEDUP_SPEEDUP_TARGET = 3.0
SEQ_RATIO_TARGET = 2.0
GATHER_RATIO_TARGET = 10.0
RSS_BUDGET_MIB = 150.0
S3_RATIO_TARGET = 0.8

# The search benchmark (``--search``): sizes, time boxes (seconds) and targets (ms).
SEARCH_FULL = {
    "artifacts": 1_000_000,
    "runs": 100,
    "queries": 100,
    "gen_budget": 600,
    "query_budget": 60,
    # The peer: 100,000 runs (200 through MlflowClient, the rest bulk-inserted; about 15 s).
    # 1,000,000 builds in about 4 min (`--mlflow-runs 1000000`), but there MLflow's
    # search_runs takes tens of seconds per query (bench/README.md), too long for 100.
    "mlflow_runs": 100_000,
    "mlflow_budget": 300,
    "mlflow_query_budget": 120,
    "semantic_artifacts": 100_000,
    "semantic_sample": 1_000,
}
SEARCH_QUICK = {
    "artifacts": 50_000,
    "runs": 10,
    "queries": 100,
    "gen_budget": 120,
    "query_budget": 30,
    "mlflow_runs": 50_000,
    "mlflow_budget": 60,
    "mlflow_query_budget": 30,
    "semantic_artifacts": 10_000,
    "semantic_sample": 200,
}
# The portal benchmark (``--portal``): the list page over 100,000 artifacts (issue 6), the
# MLflow runs table over as many runs; requests per shape; the target in ms.
PORTAL_FULL = {"artifacts": 100_000, "mlflow_runs": 100_000, "requests": 200, "mlflow_budget": 300}
PORTAL_QUICK = {"artifacts": 20_000, "mlflow_runs": 20_000, "requests": 100, "mlflow_budget": 120}
PORTAL_TARGET_MS = 100.0
SLOW_SQL_MS = 10.0  # the statements of a page printed with their plan
PORTAL_SHAPES = (  # key, what, target
    ("first_page", "GET /artifacts, first page, no filters", PORTAL_TARGET_MS),
    ("shared", "GET /artifacts?origin=shared", None),
    ("kinds", "GET /artifacts?kind=checkpoint&kind=log", None),
    ("search", "GET /artifacts?q=<8 characters of an id>", None),
    ("api", "GET /api/v1/artifacts?limit=50 (JSON API, reference)", None),
)

SEARCH_TARGETS = {  # figure: (p50 target, p95 target or None)
    "structured": (10.0, 30.0),
    "best": (10.0, None),
    "lexical": (50.0, None),
    "fuzzy": (100.0, None),
    "semantic": (100.0, None),  # excluding the query's embedding
}


def size_label(size: int) -> str:
    return f"{size // GIB} GiB" if size % GIB == 0 else f"{size // MIB} MiB"


def versions() -> dict[str, str]:
    def dist(*names: str) -> str:
        for name in names:
            try:
                return f"{importlib.metadata.version(name)} ({name})"
            except importlib.metadata.PackageNotFoundError:
                continue
        return "not installed"

    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "mlflow": dist("mlflow", "mlflow-skinny"),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": dist("sqlalchemy"),
        "satchel": f"{dist('satchel')} git {commit or '?'}",
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _on_random_file(
    script: str, work: Path, cfg: dict[str, int], env: dict[str, str], what: str
) -> dict[str, Any]:
    """Run ``script`` on a fresh file of ``cfg["large"]`` random bytes (removed after)."""
    source = work / f"{Path(script).stem}.bin"
    log(f"writing a {size_label(cfg['large'])} file of random bytes")
    digest = make_file(str(source), cfg["large"])
    log(f"{what}, best of {cfg['runs']} each")
    try:
        return child(
            script,
            "--file",
            str(source),
            "--sha256",
            digest,
            "--work",
            str(work),
            "--runs",
            str(cfg["runs"]),
            env=env,
        )
    finally:
        source.unlink()


def bench_large(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    size = cfg["large"]
    label = size_label(size)
    res = _on_random_file(
        "large_file.py", work, cfg, env, "figures 1-2: copyfile+fsync vs save_file"
    )
    report.raw["large_file"] = res
    peer_s = min(res["copyfile_fsync_s"])
    first_s = min(res["save_file_first_s"])
    again_s = min(res["save_file_again_s"])
    peer_gbs = size / peer_s / 1e9
    ours_gbs = size / first_s / 1e9
    ratio = ours_gbs / peer_gbs
    check = "" if res["digest_verified"] else " (WARNING: digest mismatch)"
    report.figure(
        "save_file_throughput",
        f"save_file {label}: {ours_gbs:.2f} GB/s | copyfile+fsync {peer_gbs:.2f} GB/s | "
        f"ratio {ratio:.2f}x (target >= {COPY_RATIO_TARGET}x){check}",
        ratio >= COPY_RATIO_TARGET,
        value=ours_gbs,
        peer=peer_gbs,
        unit="GB/s",
        ratio=ratio,
        target=f">= {COPY_RATIO_TARGET}x",
    )
    speedup = first_s / again_s
    report.figure(
        "save_file_dedup",
        f"save_file {label} again (dedup): {again_s * 1e3:.1f} ms | first save "
        f"{first_s * 1e3:.0f} ms | ratio {speedup:.1f}x faster "
        f"(target >= {DEDUP_SPEEDUP_TARGET:.0f}x faster)",
        speedup >= DEDUP_SPEEDUP_TARGET,
        value=again_s,
        peer=first_s,
        unit="s",
        ratio=speedup,
        target=f">= {DEDUP_SPEEDUP_TARGET}x faster",
    )


def bench_s3(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    size = cfg["large"]
    label = size_label(size)
    res = _on_random_file(
        "s3_large.py", work, cfg, env, "figure S3: SeaweedFS, obstore.put vs save_file"
    )
    report.raw["s3_large"] = res
    peer_mibs = size / min(res["obstore_put_s"]) / MIB
    ours_mibs = size / min(res["save_file_s"]) / MIB
    ratio = ours_mibs / peer_mibs
    check = "" if res["digest_verified"] else " (WARNING: digest mismatch)"
    report.figure(
        "s3_save_file_throughput",
        f"save_file {label} to SeaweedFS S3: {ours_mibs:.0f} MiB/s | plain obstore.put "
        f"{peer_mibs:.0f} MiB/s | ratio {ratio:.2f}x (target >= {S3_RATIO_TARGET}x){check}",
        ratio >= S3_RATIO_TARGET,
        value=ours_mibs,
        peer=peer_mibs,
        unit="MiB/s",
        ratio=ratio,
        target=f">= {S3_RATIO_TARGET}x",
    )


def bench_small(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    ops = cfg["ops"]
    cases = (
        ("sync", "save_text_sequential_sync", "sequential, sync facade", SEQ_RATIO_TARGET),
        ("async-seq", "save_text_sequential_async", "sequential, async facade", SEQ_RATIO_TARGET),
        ("async-gather", "save_text_concurrent", "concurrent, asyncio.gather", GATHER_RATIO_TARGET),
    )
    # Rounds interleave the peer and every satchel mode, so a change in the machine's load
    # during the run affects both sides alike; each figure is the median over the rounds.
    runs: dict[str, list[dict[str, Any]]] = {"mlflow": [], **{mode: [] for mode, *_ in cases}}
    failed: dict[str, str] = {}
    for rnd in range(cfg["reps"]):
        log(
            f"figures 3-4: round {rnd + 1}/{cfg['reps']}: "
            f"MLflow log_text and satchel save_text x{ops}"
        )
        round_dir = work / f"small-{rnd}"
        round_dir.mkdir()
        common = ["--ops", str(ops), "--reps", "1", "--work", str(round_dir)]
        runs["mlflow"].append(child("mlflow_peer.py", *common, env=env))
        for mode, *_ in cases:
            if mode in failed:
                continue
            try:
                runs[mode].append(child("small_saves.py", "--mode", mode, *common, env=env))
            except ChildFailedError as exc:
                failed[mode] = str(exc)
        shutil.rmtree(round_dir)
    peer_seconds = [s for res in runs["mlflow"] for s in res["seconds"]]
    peer_landed = all(res["all_landed"] for res in runs["mlflow"])
    report.raw["mlflow_log_text"] = {"ops": ops, "seconds": peer_seconds, "all_landed": peer_landed}
    peer_ops = ops / median(peer_seconds)
    peer_text = f"mlflow log_text {peer_ops:,.0f} ops/s (sequential, no fsync)"
    for mode, key, what, target in cases:
        if mode in failed:
            report.error(key, failed[mode])
            continue
        seconds = [s for res in runs[mode] for s in res["seconds"]]
        landed = all(res["all_landed"] for res in runs[mode])
        report.raw[key] = {"mode": mode, "ops": ops, "seconds": seconds, "all_landed": landed}
        ours = ops / median(seconds)
        ratio = ours / peer_ops
        check = "" if landed and peer_landed else " (WARNING: missing saves)"
        report.figure(
            key,
            f"save_text x{ops} {what}, durable: {ours:,.0f} ops/s | {peer_text} | "
            f"ratio {ratio:.2f}x (target >= {target:.0f}x){check}",
            ratio >= target,
            value=ours,
            peer=peer_ops,
            unit="ops/s",
            ratio=ratio,
            target=f">= {target}x",
        )


def bench_scale(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    ops = cfg["ops"]
    log(
        f"figure scale: {cfg['reps']} rounds of x{ops} saves: MLflow log_text on S3 + "
        "PostgreSQL, satchel on S3 + PostgreSQL (inline, then every save a blob), embedded"
    )
    res = child(
        "scale_saves.py",
        "--ops",
        str(ops),
        "--rounds",
        str(cfg["reps"]),
        "--work",
        str(work),
        env=env,
    )
    report.raw["scale_saves"] = res
    rate = {case: ops / median(seconds) for case, seconds in res["seconds"].items()}
    check = "" if all(res["all_landed"].values()) else " (WARNING: missing saves)"
    peer = f"mlflow log_text on S3 + PostgreSQL {rate['mlflow']:,.0f} ops/s"
    embedded = f"satchel embedded (SQLite + local dir) {rate['embedded']:,.0f} ops/s"
    for case, what in (
        ("scale", "inline in the index, the default for texts < 16 KiB"),
        ("scale_blobs", "every save a blob in S3, SATCHEL_INLINE_MAX=0"),
    ):
        ours = rate[case]
        vs_embedded, vs_peer = ours / rate["embedded"], ours / rate["mlflow"]
        report.figure(
            f"save_text_{case}",
            f"save_text x{ops} sequential on S3 + PostgreSQL ({what}): {ours:,.0f} ops/s | "
            f"{embedded}: ratio {vs_embedded:.2f}x | {peer}: ratio {vs_peer:.2f}x{check}",
            None,
            value=ours,
            peer=rate["mlflow"],
            embedded=rate["embedded"],
            unit="ops/s",
            ratio=vs_peer,
            ratio_embedded=vs_embedded,
            target="none (issue 4 asks for the figures)",
        )


def bench_rss(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    size = cfg["huge"]
    label = size_label(size)
    free = shutil.disk_usage(work).free
    if free < 3 * size:
        report.error("peak_rss", f"skipped: {free // GIB} GiB free, need {3 * size // GIB} GiB")
        return
    source = work / "huge.bin"
    log(f"writing a {label} file (one random 64 MiB block repeated)")
    digest = make_file(str(source), size, repeat_block=True)
    log(f"figure 5: peak RSS of a child process saving {label}")
    try:
        res = child(
            "peak_rss.py",
            "--file",
            str(source),
            "--sha256",
            digest,
            "--store",
            str(work / "rss-store"),
            env=env,
        )
    finally:
        source.unlink()
        shutil.rmtree(work / "rss-store", ignore_errors=True)
    report.raw["peak_rss"] = res
    before = res["rss_before_kib"]
    if res["vmhwm_reset"] and res["vmhwm_after_kib"] is not None and before is not None:
        increase_mib = (res["vmhwm_after_kib"] - before) / 1024
        how = "peak VmHWM during the save - VmRSS before it"
    else:
        # ru_maxrss may still hold the parent's peak (exec keeps it), so this can read low.
        increase_mib = (res["maxrss_after_kib"] - res["maxrss_before_kib"]) / 1024
        how = "ru_maxrss after - before"
    check = "" if res["digest_verified"] else " (WARNING: digest mismatch)"
    report.figure(
        "peak_rss",
        f"peak RSS increase saving {label}: {increase_mib:.1f} MiB ({how}) | no peer | "
        f"budget used {increase_mib / RSS_BUDGET_MIB:.2f}x (target < {RSS_BUDGET_MIB:.0f} MiB)"
        f"{check}",
        increase_mib < RSS_BUDGET_MIB,
        value=increase_mib,
        unit="MiB",
        ratio=increase_mib / RSS_BUDGET_MIB,
        target=f"< {RSS_BUDGET_MIB} MiB",
    )


def bench_search(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    n = cfg["artifacts"]
    log(
        f"search: saving {n:,} artifacts through the async facade (asyncio.gather, batches), "
        f"time box {cfg['gen_budget']} s, then {cfg['queries']} queries per figure"
    )
    ours = child(
        "search.py",
        "--artifacts",
        str(n),
        "--runs",
        str(cfg["runs"]),
        "--queries",
        str(cfg["queries"]),
        "--store",
        str(work / "search-store"),
        "--gen-budget",
        str(cfg["gen_budget"]),
        "--query-budget",
        str(cfg["query_budget"]),
        env=env,
    )
    shutil.rmtree(work / "search-store", ignore_errors=True)
    report.raw["search"] = ours
    saved = ours["saved"]
    how = "" if saved == n else f" (time box hit: {saved:,} of {n:,} saved)"
    print(
        f"search store: {saved:,} artifacts saved through the SDK (async facade, "
        f"asyncio.gather in batches of 2,000, {cfg['runs']} runs, one session) in "
        f"{ours['gen_seconds']:.0f} s = {saved / ours['gen_seconds']:,.0f} saves/s{how}; "
        f"first text search's FTS5 catch-up over them: {ours['catch_up_seconds']:.1f} s "
        "(not a query figure)",
        flush=True,
    )
    explain = ours["best_explain"]
    print("best() SQL (session level, literal binds): the edge of the first walk, then the walk")
    for key in ("edge_", ""):
        print("    " + explain[f"{key}sql"].replace("\n", "\n    "))
        print("EXPLAIN QUERY PLAN:")
        for step in explain[f"{key}plan"]:
            print(f"    {step}")
    print(flush=True)

    log(
        f"search peer: MLflow search_runs, {cfg['mlflow_runs']:,} runs: the first 200 through "
        "MlflowClient, the rest bulk-inserted into its SQLite tables (time box "
        f"{cfg['mlflow_budget']} s for both), then fidelity checks"
    )
    peer = child(
        "mlflow_search.py",
        "--runs",
        str(cfg["mlflow_runs"]),
        "--queries",
        str(cfg["queries"]),
        "--work",
        str(work / "search-mlflow"),
        "--budget",
        str(cfg["mlflow_budget"]),
        "--query-budget",
        str(cfg["mlflow_query_budget"]),
        env=env,
    )
    shutil.rmtree(work / "search-mlflow", ignore_errors=True)
    report.raw["search_mlflow"] = peer
    runs = peer["runs"]
    scale = "same count" if runs >= saved else f"SMALLER: {runs:,} runs vs {saved:,} artifacts"
    boxed = (
        "" if runs >= peer["requested"] else f", time box hit: {runs:,} of {peer['requested']:,}"
    )
    made = f"{peer['client_runs']:,} client + {peer['bulk_runs']:,} bulk"
    print(
        f"peer store: {runs:,} MLflow runs in {peer['setup_seconds']:.0f} s{boxed}: "
        f"{peer['client_runs']:,} through MlflowClient (create_run + log_batch, "
        f"{peer['client_runs'] / peer['client_seconds']:,.0f} runs/s; the experiment and "
        f"schema too), {peer['bulk_runs']:,} bulk-inserted into its SQLite tables (runs, "
        f"metrics, latest_metrics, params, tags) in {peer['bulk_seconds']:.0f} s, rows built "
        f"from MLflow's own and checked against them; no ANALYZE; e.g. "
        f'filter_string="{peer["example_filter"]}"',
        flush=True,
    )
    print(
        f"peer fidelity ({peer['verify_seconds']:.0f} s): {len(peer['checks'])} filters, "
        "search_runs returned exactly the runs a brute-force filter over the specs gives and "
        "a best run of the order_by: "
        + ", ".join(f"{c['runs']:,}" for c in peer["checks"])
        + " runs; get_run of the last bulk run = its spec; row counts per table as expected",
        flush=True,
    )
    figures = (
        ("structured", "search_page: filters + metric sort, first page of 50", "page"),
        ("best", "best(kind, metric, filters)", "best"),
        ("lexical", "lexical query (words), top 10", "page"),
        ("fuzzy", "fuzzy query (a word with a typo), top 10", "page"),
    )
    for key, what, peer_shape in figures:
        p50, p95 = ours[f"{key}_p50_ms"], ours[f"{key}_p95_ms"]
        p50_target, p95_target = SEARCH_TARGETS[key]
        met = p50 < p50_target and (p95_target is None or p95 < p95_target)
        peer_p50 = peer[f"{peer_shape}_p50_ms"]
        ratio = peer_p50 / p50
        target = f"p50 < {p50_target:.0f} ms" + (
            f", p95 < {p95_target:.0f} ms" if p95_target is not None else ""
        )
        samples = "" if ours[f"{key}_n"] == cfg["queries"] else f", {ours[f'{key}_n']} samples"
        peer_n = peer[f"{peer_shape}_n"]
        peer_samples = "" if peer_n == cfg["queries"] else f", {peer_n} samples"
        peer_p95 = peer[f"{peer_shape}_p95_ms"]
        max_results = 50 if peer_shape == "page" else 1
        report.figure(
            f"search_{key}",
            f"{what} at {saved:,}: p50 {p50:.1f} ms, p95 {p95:.1f} ms{samples} | mlflow "
            f"search_runs (metric + param filters, order_by metric, max_results="
            f"{max_results}) at {runs:,} runs ({made}; {scale}) p50 {peer_p50:.1f} ms, p95 "
            f"{peer_p95:.1f} ms{peer_samples} | ratio "
            f"{ratio:.2f}x (MLflow p50 / satchel p50; target {target})",
            met,
            value=p50,
            p95=p95,
            peer=peer_p50,
            unit="ms",
            ratio=ratio,
            target=target,
            artifacts=saved,
            peer_runs=runs,
            peer_p95=peer_p95,
        )
    bench_semantic(report, work, cfg, env, peer)


def bench_semantic(
    report: Report, work: Path, cfg: dict[str, int], env: dict[str, str], peer: dict[str, Any]
) -> None:
    n = cfg["semantic_artifacts"]
    log(
        f"semantic: {n:,} artifacts, {cfg['semantic_sample']:,} embedded by the real model, "
        "the rest given noisy copies of those vectors (see bench/semantic.py)"
    )
    ours = child(
        "semantic.py",
        "--artifacts",
        str(n),
        "--embed-sample",
        str(cfg["semantic_sample"]),
        "--queries",
        str(cfg["queries"]),
        "--store",
        str(work / "semantic-store"),
        env=env,
    )
    shutil.rmtree(work / "semantic-store", ignore_errors=True)
    report.raw["semantic"] = ours
    print(
        f"semantic store: {n:,} artifacts saved in {ours['gen_seconds']:.0f} s; catch-up "
        f"embedding {ours['embed_per_s']:.0f} artifacts/s (all-MiniLM-L6-v2, the default runtime; "
        f"{n / ours['embed_per_s'] / 60:.0f} min for all {n:,}); query embedding p50 "
        f"{ours['query_embed_p50_ms']:.1f} ms, p95 {ours['query_embed_p95_ms']:.1f} ms; whole "
        f"search(mode='semantic') p50 {ours['total_p50_ms']:.1f} ms; first search (reads "
        f"every vector) {ours['first_search_seconds']:.2f} s",
        flush=True,
    )
    p50, p95 = ours["search_p50_ms"], ours["search_p95_ms"]
    target_ms = SEARCH_TARGETS["semantic"][0]
    peer_p50 = peer["page_p50_ms"]
    report.figure(
        "search_semantic",
        f"semantic query, top 10, excluding the query embedding, at {n:,}: p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms | mlflow search_runs (max_results=50) at {peer['runs']:,} runs "
        f"({peer['client_runs']:,} client + {peer['bulk_runs']:,} bulk) p50 "
        f"{peer_p50:.1f} ms | ratio {peer_p50 / p50:.2f}x (MLflow p50 / satchel p50; target "
        f"p50 < {target_ms:.0f} ms)",
        p50 < target_ms,
        value=p50,
        p95=p95,
        peer=peer_p50,
        unit="ms",
        ratio=peer_p50 / p50,
        target=f"p50 < {target_ms:.0f} ms",
        artifacts=n,
        peer_runs=peer["runs"],
        query_embed_p50=ours["query_embed_p50_ms"],
    )


def bench_portal(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    n, runs = cfg["artifacts"], cfg["mlflow_runs"]
    log(
        f"portal: a store of {n:,} artifacts (2 orgs, 3 users, grants) and an MLflow store of "
        f"{runs:,} runs, both servers on loopback, {cfg['requests']} requests per shape"
    )
    res = child(
        "portal.py",
        "--artifacts",
        str(n),
        "--mlflow-runs",
        str(runs),
        "--requests",
        str(cfg["requests"]),
        "--mlflow-budget",
        str(cfg["mlflow_budget"]),
        "--store",
        str(work / "portal-store"),
        "--mlflow-store",
        str(work / "portal-mlflow"),
        "--work",
        str(work / "portal-work"),
        env=env,
    )
    report.raw["portal"] = res
    st, peer_st, load = res["store"], res["peer_store"], res["loadavg"]
    counts = st["counts"]
    print(
        f"portal store: {counts['artifacts']:,} artifacts ({counts['artifact_files']:,} "
        f"files, {counts['runs']:,} runs, {st['grants']} grants), written through "
        f"Index.commit_writes in {st['write_seconds']:.0f} s, grants {st['grant_seconds']:.1f} s, "
        f"FTS5 catch-up {st['catch_up_seconds']:.1f} s; the reader (alice) may read "
        f"{st['readable']:,}, {st['shared']:,} of them shared by the other org; session: "
        f"{res['session']}",
        flush=True,
    )
    print(
        f"peer store: {peer_st['runs']:,} MLflow runs in {peer_st['setup_seconds']:.0f} s "
        "(mlflow_search.build_store); load average: start "
        f"{load['start']}, measuring {load['measured_from']} -> {load['measured_to']}",
        flush=True,
    )
    peer = res["mlflow"]["runs_search"]
    ui = res["mlflow"]["ui"]
    peer_text = (
        f"mlflow runs/search (max_results=50, start_time DESC) at {res['mlflow_runs']:,} runs "
        f"p50 {peer['rt_p50_ms']:.1f} ms, p95 {peer['rt_p95_ms']:.1f} ms (round trip)"
    )
    print(
        f"{peer_text}; its UI's GET / p50 {ui['rt_p50_ms']:.1f} ms, p95 {ui['rt_p95_ms']:.1f} ms",
        flush=True,
    )
    for key, what, target in PORTAL_SHAPES:
        ours = res["satchel"][key]
        timing = "Server-Timing app;dur" if ours["server_timing"] else "round trip"
        server = f"p50 {ours['p50_ms']:.1f} ms, p95 {ours['p95_ms']:.1f} ms ({timing})"
        if ours["server_timing"]:
            server += f"; round trip p50 {ours['rt_p50_ms']:.1f} ms, p95 {ours['rt_p95_ms']:.1f} ms"
        ratio = peer["rt_p50_ms"] / ours["rt_p50_ms"]
        met = None if target is None else ours["p50_ms"] < target
        goal = f"target p50 < {target:.0f} ms" if target is not None else "no target"
        rows = "/".join(str(r) for r in ours["rows"])
        report.figure(
            f"portal_{key}",
            f"{what} at {n:,}: {server}, {rows} rows, {ours['n']} requests | {peer_text} | "
            f"ratio {ratio:.2f}x (MLflow p50 / satchel p50, round trips; {goal})",
            met,
            value=ours["p50_ms"],
            p95=ours["p95_ms"],
            rt_p50=ours["rt_p50_ms"],
            rt_p95=ours["rt_p95_ms"],
            server_timing=ours["server_timing"],
            peer=peer["rt_p50_ms"],
            peer_p95=peer["rt_p95_ms"],
            unit="ms",
            ratio=ratio,
            target=goal,
            artifacts=n,
            peer_runs=res["mlflow_runs"],
        )
    print(
        "where the pages' time goes (each requested once more in-process through the app, "
        "after the servers stopped; every SQL statement timed; those over "
        f"{SLOW_SQL_MS:.0f} ms with SQLite's plan):"
    )
    for key, found in res["sql"].items():
        print(
            f"  {found['path']}: {found['request_ms']:.1f} ms, {found['statements']} SQL "
            f"statements, {found['sql_ms']:.1f} ms in SQL",
            flush=True,
        )
        for slow in found["slowest"]:
            if slow["ms"] < SLOW_SQL_MS:
                continue
            sql = " ".join(slow["sql"].split())
            print(f"    {slow['ms']:.1f} ms: {sql}\n      params {slow['params']}")
            for step in slow["plan"]:
                print(f"      plan: {step}")
        report.raw.setdefault("portal_sql", {})[key] = found


def bench_capture(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    """``satchel run`` capturing a checkpoint loop vs the loop calling mlflow.log_artifact."""
    size_mib = cfg["size_mib"]
    log(f"capture: a {size_mib} MiB checkpoint every 2 s for 20 s; bare, satchel run, mlflow")
    res = child("capture.py", "--size-mib", str(size_mib), "--work", str(work / "capture"), env=env)
    shutil.rmtree(work / "capture", ignore_errors=True)
    report.raw["capture"] = res
    ours, peer = res["satchel"], res["mlflow"]
    every = ours["stored_verified"] == ours["checkpoints"]
    report.figure(
        "capture_latency",
        f"satchel run: {ours['stored_verified']}/{ours['checkpoints']} checkpoints stored and "
        f"verified, close to stored p50 {ours['latency_p50']:.2f} s, max "
        f"{ours['latency_max']:.2f} s | mlflow log_artifact p50 {peer['latency_p50']:.2f} s, "
        f"max {peer['latency_max']:.2f} s (blocking the loop) | ratio "
        f"{peer['latency_p50'] / ours['latency_p50']:.2f}x",
        every,
        value=ours["latency_p50"],
        peer=peer["latency_p50"],
        unit="s",
    )
    report.figure(
        "capture_cpu",
        f"satchel run CPU over the bare loop {ours['cpu_over_bare']:.1f} s "
        f"(bare {res['bare']['cpu']:.1f} s) | mlflow {peer['cpu_over_bare']:.1f} s | ratio "
        f"{peer['cpu_over_bare'] / max(ours['cpu_over_bare'], 0.01):.2f}x",
        None,
        value=ours["cpu_over_bare"],
        peer=peer["cpu_over_bare"],
        unit="s",
    )
    report.figure(
        "capture_rss",
        f"satchel run peak RSS {ours['extra_rss_mib']:.0f} MiB (its own process) | mlflow "
        f"extra {peer['extra_rss_mib']:.0f} MiB over the bare loop (target < 200 MiB)",
        ours["extra_rss_mib"] < CAPTURE_RSS_MIB,
        value=ours["extra_rss_mib"],
        peer=peer["extra_rss_mib"],
        unit="MiB",
    )


#: ``--load``: the run's seconds (the load test's default; 30 with --quick).
LOAD_FULL = {"seconds": 120}
LOAD_QUICK = {"seconds": 30}
#: The load test's bound on the server's peak RSS in any lifetime (tests/reliability/test_load.py).
LOAD_PEAK_RSS_MIB = 400.0


def bench_load(report: Report, work: Path, cfg: dict[str, int], env: dict[str, str]) -> None:
    """The load test's driver (tests/reliability/_load.py): no peer."""
    seconds = cfg["seconds"]
    log(f"load: 64 uploaders, 100 slow downloaders, {seconds} s, 3 SIGKILLs of satchel serve")
    res = child("load.py", "--seconds", str(seconds), "--work", str(work / "load"), env=env)
    shutil.rmtree(work / "load", ignore_errors=True)
    report.raw["load"] = res
    check, fsck = res["final_check"], res["fsck"]
    kept = (
        not check["problems"]
        and check["digests_checked"] == res["saves_acknowledged"]
        and check["verified"] == check["downloaded"]
        and fsck["ok"]
        and not res["bad"]
    )
    report.figure(
        "load_saves",
        f"load {res['loaded_s']:.0f} s, {len(res['kills'])} SIGKILLs: "
        f"{res['saves_acknowledged']} saves acknowledged ({res['bytes_up'] / MIB:.0f} MiB), "
        f"{check['digests_checked']} listed with their digest after, {check['verified']} "
        f"downloaded again and verified, {res['failed_attempts']} failed attempts "
        f"{res['save_errors']}, {res['saves_given_up']} given up; fsck --read-data "
        f"ok={fsck['ok']}, warnings {fsck['warnings']} | no peer | "
        "target: no acknowledged save lost",
        kept,
        value=res["saves_acknowledged"],
        unit="saves",
    )
    report.figure(
        "load_downloads",
        f"load: {res['downloads_completed']} slow downloads completed and verified "
        f"({res['bytes_down'] / MIB:.0f} MiB, at most {res['most_downloads_open']} open), "
        f"{res['downloads_cut_and_retried']} cut by a kill and retried | no peer",
        None,
        value=res["downloads_completed"],
        unit="downloads",
    )
    extra = max(life["peak_rss_mib"] - life["baseline_rss_mib"] for life in res["lifetimes"])
    report.figure(
        "load_rss",
        "load: server RSS per lifetime (baseline -> peak MiB) "
        + ", ".join(
            f"{life['baseline_rss_mib']:.0f} -> {life['peak_rss_mib']:.0f}"
            for life in res["lifetimes"]
        )
        + f"; largest increase {extra:.0f} MiB | no peer | target peak < "
        f"{LOAD_PEAK_RSS_MIB:.0f} MiB",
        res["peak_rss_mib"] < LOAD_PEAK_RSS_MIB,
        value=res["peak_rss_mib"],
        unit="MiB",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer operations")
    parser.add_argument(
        "--search",
        action="store_true",
        help="only the search benchmark (1,000,000 artifacts; 50,000 with --quick)",
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="only the S3 benchmark: 1 GiB (256 MiB with --quick) to a SeaweedFS it starts",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="only the scale pair's small saves: S3 + PostgreSQL vs embedded vs MLflow on both",
    )
    parser.add_argument(
        "--server",
        action="store_true",
        help="only the HTTP server's figures: satchel serve vs mlflow server --serve-artifacts",
    )
    parser.add_argument(
        "--portal",
        action="store_true",
        help="only the portal's list page: satchel serve's GET /artifacts at 100,000 artifacts "
        "vs MLflow's runs table (20,000 with --quick)",
    )
    parser.add_argument(
        "--capture",
        action="store_true",
        help="only satchel run's capture: a 256 MiB checkpoint every 2 s vs mlflow.log_artifact",
    )
    parser.add_argument(
        "--load",
        action="store_true",
        help="only the load test's driver: 64 uploaders, 100 slow downloaders, 120 s (30 with "
        "--quick), satchel serve killed 3 times; no peer",
    )
    parser.add_argument(
        "--mlflow-runs",
        type=int,
        help="with --search: the MLflow peer's runs (default 100,000; 50,000 with --quick)",
    )
    args = parser.parse_args()
    cfg: dict[str, int] = QUICK if args.quick else FULL
    steps: tuple[tuple[str, Any], ...] = (
        ("large", bench_large),
        ("small", bench_small),
        ("rss", bench_rss),
    )
    if args.s3:
        steps = (("s3", bench_s3),)
    if args.scale:
        steps = (("scale", bench_scale),)
    if args.capture:
        cfg = CAPTURE_QUICK if args.quick else CAPTURE_FULL
        steps = (("capture", bench_capture),)
    if args.server:
        cfg = SERVER_QUICK if args.quick else SERVER_FULL
        steps = (("server", bench_server),)
    if args.portal:
        cfg = PORTAL_QUICK if args.quick else PORTAL_FULL
        steps = (("portal", bench_portal),)
    if args.load:
        cfg = LOAD_QUICK if args.quick else LOAD_FULL
        steps = (("load", bench_load),)
    if args.search:
        cfg = dict(SEARCH_QUICK if args.quick else SEARCH_FULL)
        if args.mlflow_runs:
            cfg["mlflow_runs"] = args.mlflow_runs
        steps = (("search", bench_search),)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.perf_counter()
    meta = versions()
    mode = (
        ("quick" if args.quick else "full")
        + (" search" if args.search else "")
        + (" s3" if args.s3 else "")
        + (" scale" if args.scale else "")
        + (" server" if args.server else "")
        + (" portal" if args.portal else "")
        + (" capture" if args.capture else "")
        + (" load" if args.load else "")
    )
    report = Report(mode, {**meta, "config": cfg})
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"satchel benchmarks ({report.meta['mode']} run, {stamp})")
    print(
        f"python {meta['python']} | mlflow {meta['mlflow']} | sqlite {meta['sqlite']} | "
        f"sqlalchemy {meta['sqlalchemy']}"
    )
    print(
        f"satchel {meta['satchel']} | {meta['machine']} | load average at start "
        f"{meta['loadavg_start']} (other processes share the 2 cores)"
    )
    if args.search:
        print(
            "notes: p50/p95 over varied queries (kinds, labels, tags, metrics, scope levels "
            "differ), each shape warmed by one untimed query; satchel first, then MLflow, "
            "never at the same time; ratio = MLflow p50 / satchel p50 (> 1: satchel faster); "
            "MLflow has no text search, so the lexical and fuzzy figures are compared with "
            "its metric-filtered search_runs page"
        )
    elif args.server:
        print(SERVER_NOTES)
    elif args.portal:
        print(
            "notes: satchel serve (SQLite index, the store made by bench/portal.py) and mlflow "
            "server (SQLite tracking store) both running on 127.0.0.1, one client process, one "
            "keep-alive httpx client per server, logged in as one user; 10 untimed requests "
            "per shape, then the timed ones in 4 rounds interleaving the servers; server time "
            "= Server-Timing app;dur when the portal sends it, else the loopback round trip (an "
            "upper bound); every page checked against the store; ratio = MLflow p50 / satchel "
            "p50 over round trips (> 1: satchel faster)"
        )
    elif args.load:
        print(
            "notes: the load test's driver (tests/reliability/_load.py): satchel serve "
            "(embedded default) on 127.0.0.1 killed with SIGKILL and restarted 3 times; "
            "uploaders through the remote SDK (asyncio, one context), downloaders over plain "
            "HTTP reading 64 KiB then pausing 20-100 ms; RSS from /proc (VmRSS every 100 ms, "
            "VmHWM before each kill); the client runs on the same 2 cores; no peer"
        )
    elif args.capture:
        print(
            "notes: three sides one after the other, each in fresh child processes and a "
            "fresh directory: the bare loop (CPU baseline), `satchel run -- python loop.py` "
            "(embedded store, capture by file events), and the loop calling "
            "mlflow.log_artifact after each save (local file store); every checkpoint "
            "verified by SHA-256; close-to-stored = the artifact's updated_at minus the "
            "loop's close time (MLflow: log_artifact's own time, since it blocks the loop); "
            "CPU = user + system of the process tree over the bare loop's"
        )
    elif args.scale:
        print(
            "notes: one SeaweedFS started by the benchmark, a fresh PostgreSQL schema and "
            "bucket prefix per side and round (dropped after); every side sequential, one "
            "call per text, in its own child process, 10 untimed warm-up saves each; median "
            f"of {cfg['reps']} rounds, sides interleaved; satchel commits every save durably "
            "(PostgreSQL commit; embedded: SQLite WAL synchronous=FULL); MLflow's log_text "
            "uploads one S3 object per call and writes nothing to its tracking store"
        )
    elif args.s3:
        print(
            "notes: both sides read a warm file and upload to the same SeaweedFS on loopback "
            "(started by the benchmark); obstore.put with its defaults (5 MiB parts, 12 in "
            "flight); satchel hashes first, then one verified multipart upload (8 MiB parts, "
            f"8 in flight) and a SQLite index commit; best of {cfg['runs']} runs; "
            "MiB/s = 2**20 bytes/s"
        )
    else:
        print(
            "notes: figure 1 reads a warm file on both sides (nothing dropped from the page "
            "cache); GB = 1e9 bytes; satchel fsyncs every save (SQLite WAL synchronous=FULL, "
            "blobs fsynced, moved into place, dir fsynced); MLflow log_text does not fsync; "
            "large file: "
            f"best of {cfg['runs']} runs; small saves: median of {cfg['reps']} rounds (peer "
            "and satchel interleaved), 10 untimed warm-up saves each side"
        )
    print(flush=True)

    work = Path(tempfile.mkdtemp(prefix="satchel-bench-", dir="/tmp"))
    env = {
        **os.environ,
        "SATCHEL_HOME": str(work / "home"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PYTHONUNBUFFERED": "1",
    }
    try:
        for name, step in steps:
            try:
                step(report, work, cfg, env)
            except ChildFailedError as exc:
                report.error(name, str(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - started
    report.meta["bench_seconds"] = elapsed
    report.meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    name = "results-search.json" if args.search else "results.json"
    if args.s3 or args.scale:
        name = "results-s3.json" if args.s3 else "results-scale.json"
    if args.server:
        name = "results-server.json"
    if args.portal:
        name = "results-portal.json"
    if args.load:
        name = "results-load.json"
    path = report.write(name)
    missed = report.missed()
    print()
    targeted = report.targeted()
    print(
        (f"{targeted - len(missed)}/{targeted} targets met" if targeted else "no targets")
        + (f"; missed: {', '.join(missed)}" if missed else "")
        + (f"; {len(report.errors)} errors" if report.errors else "")
    )
    print(
        f"results: {path.relative_to(ROOT)} | benchmarks took {elapsed:.0f} s | load average "
        f"at end {report.meta['loadavg_end']}"
    )
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
