"""Figure ``--server`` 3: a server's peak RSS during one huge upload and many downloads.

Usage: ``python bench/server_rss.py --huge F --huge-sha256 HEX --file G --sha256 HEX
--streams 32 --work DIR``

For each server, ``satchel serve`` (one process) and then the peer, ``mlflow server
--serve-artifacts`` (a supervisor and its uvicorn workers), both fresh as in
``server_transfer.py``:

1. baseline: the server's memory once it answers (satchel: after the SDK's context
   opened, which asks the server who the token is; MLflow: after 40 requests to its
   tracking and artifact routes, each on a fresh connection so that all 4 workers answer
   some) and its processes' RSS stopped growing (MLflow's 7 job consumers go on importing
   for 10-30 s after the server answers);
2. upload of ``--huge`` (4 GiB): the remote SDK's ``save_file`` (hash, create, 64 MiB
   requests, its default); MLflow's ``log_artifact`` (one streamed PUT);
3. upload of ``--file`` (untimed setup), then ``--streams`` concurrent streamed GETs of it
   (asyncio, one ``httpx.AsyncClient``, every response read to the end in pieces and
   thrown away). The client counts the bytes of each download and the most streams open
   at once; satchel's server checks every stream's SHA-256 before it sends the last piece
   and the client compares the announced digest, so a complete body is a verified one.

During phases 2 and 3 a thread samples the server's RSS from ``/proc`` every 50 ms, and
each process's VmHWM (reset at the start of the phase) gives its exact peak
(``_servers.RssSampler``). satchel's figure is its one process's peak. MLflow runs 15
processes here (the CLI, a job runner and 7 huey consumers, the uvicorn supervisor and its
4 workers, a resource tracker): its figure is the largest single process's peak (one of
workers) with the PSS of all of them before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import httpx

import satchel
from _remote import Remote
from _servers import (
    MlflowServer,
    RssSampler,
    SatchelServer,
    child_start,
    mlflow_client,
    warm_up,
)
from _util import emit

#: What MLflow's workers answer before the baseline (fresh connections reach each worker).
WARMUP_PATHS = [
    "/api/2.0/mlflow/experiments/search?max_results=1",
    "/api/2.0/mlflow-artifacts/artifacts?path=",
]


async def _streams(url: str, headers: dict[str, str], streams: int) -> dict[str, Any]:
    open_now = 0
    most = 0
    sizes: list[int] = []
    digests: set[str | None] = set()

    async def one(http: httpx.AsyncClient) -> None:
        nonlocal open_now, most
        async with http.stream("GET", url) as response:
            response.raise_for_status()
            open_now += 1
            most = max(most, open_now)
            digests.add(response.headers.get("X-Satchel-SHA256"))
            got = 0
            async for piece in response.aiter_raw():
                got += len(piece)
            open_now -= 1
            sizes.append(got)

    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    timeout = httpx.Timeout(1800.0)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=timeout) as http:
        start = time.perf_counter()
        await asyncio.gather(*(one(http) for _ in range(streams)))
        took = time.perf_counter() - start
    return {
        "seconds": took,
        "sizes": sizes,
        "most_open": most,
        "digests": sorted(map(str, digests)),
    }


def satchel_side(args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            SatchelServer(work / "satchel-home", work / "satchel-serve.log", env)
        )
        remote = Remote(server.url, server.token)
        stack.callback(remote.close)
        # The remote SDK opening asks the server who the token is: the one request before
        # the baseline.
        ctx = stack.enter_context(satchel.Context(store=server.url, token=server.token))
        arts = ctx.sync_artifacts()
        out["settle_s"] = server.settle()
        with RssSampler(server.pid) as rss:
            start = time.perf_counter()
            art = arts.save_file(args.huge, kind="checkpoint", name="huge.bin")
            out["upload_s"] = time.perf_counter() - start
        out["upload_rss"] = rss.summary()
        out["upload_verified"] = art.sha256 == args.huge_sha256

        art = arts.save_file(args.file, kind="checkpoint", name="shared.bin")
        url = f"{server.url}/api/v1{remote.file_route(art.artifact_id, 'shared.bin')}"
        with RssSampler(server.pid) as rss:
            got = asyncio.run(
                _streams(url, {"Authorization": f"Bearer {server.token}"}, args.streams)
            )
        out["downloads_rss"] = rss.summary()
        out["downloads"] = got
        size = os.path.getsize(args.file)
        out["downloads_complete"] = (
            len(got["sizes"]) == args.streams
            and all(n == size for n in got["sizes"])
            and got["digests"] == [args.sha256]
        )
    return out


def mlflow_side(args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with MlflowServer(work / "mlflow-server", work / "mlflow-server.log", env) as server:
        client = mlflow_client(server.url)
        experiment = client.create_experiment("bench-rss")
        warm_up(server.url, WARMUP_PATHS)
        out["settle_s"] = server.settle()
        run = client.create_run(experiment)
        with RssSampler(server.pid, tree=True) as rss:
            start = time.perf_counter()
            client.log_artifact(run.info.run_id, args.huge)
            out["upload_s"] = time.perf_counter() - start
        out["upload_rss"] = rss.summary()
        client.delete_run(run.info.run_id)

        run = client.create_run(experiment)
        client.log_artifact(run.info.run_id, args.file)
        prefix = "mlflow-artifacts:/"
        if not run.info.artifact_uri.startswith(prefix):
            raise RuntimeError(f"not a proxied artifact root: {run.info.artifact_uri}")
        where = run.info.artifact_uri[len(prefix) :].strip("/")
        url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{where}/{Path(args.file).name}"
        with RssSampler(server.pid, tree=True) as rss:
            got = asyncio.run(_streams(url, {}, args.streams))
        out["downloads_rss"] = rss.summary()
        out["downloads"] = got
        size = os.path.getsize(args.file)
        out["downloads_complete"] = len(got["sizes"]) == args.streams and all(
            n == size for n in got["sizes"]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--huge", required=True)
    parser.add_argument("--huge-sha256", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--work", required=True)
    args, work, env = child_start(parser)
    result = {
        "huge_bytes": os.path.getsize(args.huge),
        "file_bytes": os.path.getsize(args.file),
        "streams": args.streams,
        "satchel": satchel_side(args, work, env),
        "mlflow": mlflow_side(args, work, env),
    }
    emit(result)


if __name__ == "__main__":
    main()
