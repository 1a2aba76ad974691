"""Portal figures (issue 6): the list page ``GET /artifacts`` of ``satchel serve`` over
100,000 artifacts, against MLflow's runs table over 100,000 runs, each a server on loopback.

Usage: ``python bench/portal.py --artifacts N --mlflow-runs M --requests R --store DIR
--mlflow-store DIR --work DIR [--reuse]``

``--reuse`` keeps the stores an earlier run left at ``--store`` and ``--mlflow-store``
(either one is built when missing); without it both are built afresh (the directories
must not exist). The server only reads them, so a reused store does not change.

The satchel store (``SATCHEL_HOME`` = ``--store``): two orgs ("acme" and "globex") and three
users (alice and bob of acme, carol of globex), made through ``satchel.tenancy``, with a
password and an API token each; N artifacts written through the index's raw write path
(``Index.commit_writes`` of ``ArtifactWrite`` values, the SDK save path's last step, 5,000
per transaction) in runs of 100 artifacts, each run one user's (alice 35 %, bob 25 %, carol
40 %): kinds checkpoint, metric, log, result and dataset, a name, a model (id and version)
for all but datasets, labels, metrics for metric and result, 1-3 small files kept inline in
the index (real bytes and digests: the details page and downloads work), ULID ids whose
time is the artifact's ``created_at`` (spread over the last 100 days, newest now). Then 300
of carol's artifacts are shared with acme through ``add_grant`` (200 to the org, 100 to
alice's email), and the first text search fills the FTS5 indexes and the planner's
statistics (both timed, not figures). Alice, the reader, may read about 60 % of the store.

The MLflow store: ``mlflow_search.build_store`` (200 runs through ``MlflowClient``, the
rest bulk-inserted into its SQLite tables, rows checked against MLflow's own).

Both servers run at once (``_servers.py``; MLflow's processes settled first), one client
process, one keep-alive ``httpx.Client`` per server. Logged in as alice through the
portal's ``POST /login`` (CSRF cookie and form field as PORTAL_CONTRACT.md says; her API
token as the ``satchel_session`` cookie when there is no login page yet). Shapes:

* satchel ``GET /artifacts`` (first page, no filters), ``?origin=shared``,
  ``?kind=checkpoint&kind=log`` and ``?q=<8 characters of the random part of a readable
  artifact's id>`` (a different id each request); and, for reference, the JSON API's
  ``GET /api/v1/artifacts?limit=50`` (the first query of the unfiltered page, no HTML);
* MLflow ``POST /ajax-api/2.0/mlflow/runs/search`` (what its UI's runs table calls:
  the experiment, ``max_results`` 50, ``order_by`` ``attributes.start_time DESC``) and
  ``GET /`` (its UI's static page).

Each shape gets 10 untimed warm-up requests, then ``--requests`` timed ones, in 4 rounds
that interleave the servers (satchel's shapes, then MLflow's), so a change in the machine's
load hits both. Server time: the ``Server-Timing`` header's ``app;dur=`` when the response
has one, and the round trip on loopback (an upper bound) always. Every answer must be 200;
each shape's first answer is checked against the store: the rows the page lists
(``data-artifact-id``) are exactly the newest of what alice may read under that filter, in
order; a ``q`` page lists the artifact whose id it names (checked every request) and only
readable ones; MLflow's page is the 50 newest runs, newest first.

After the servers stop, the same four pages are requested once more in this process (the
server's app through ``TestClient``) with every SQL statement timed: the result keeps each
page's statements and its slowest three with SQLite's ``EXPLAIN QUERY PLAN`` (not a figure;
it says where a slow page's time goes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from _servers import MlflowServer, SatchelServer, child_start
from _util import emit, median, percentile

BATCH = 5_000
RUN_SIZE = 100
GRANTS_TO_ORG = 200
GRANTS_TO_EMAIL = 100
WARM_UP = 10
ROUNDS = 4
SPAN = timedelta(days=100)
META = "portal-bench.json"  # the users, tokens and counts, next to the store's index.db

ORGS = ("acme", "globex")
#: email, org, role, share of the runs
USERS = (
    ("alice@acme.example", "acme", "admin", 0.35),
    ("bob@acme.example", "acme", "member", 0.25),
    ("carol@globex.example", "globex", "member", 0.40),
)
READER = "alice@acme.example"
KINDS = ("checkpoint", "metric", "log", "result", "dataset")
KIND_WEIGHTS = (0.25, 0.30, 0.20, 0.15, 0.10)
MODELS = ("resnet50", "vit-b16", "bert-base", "llama-3-8b", "gpt2-medium", "t5-small", "clip-l14")
DATASETS = ("imagenet-1k", "cifar10", "wikitext-103", "c4-en", "squad-v2", "coco-2017")
FILES = {  # kind: (path, mime) of its 1-3 files, the first always there
    "checkpoint": (("model.safetensors", "application/octet-stream"), ("config.json", None)),
    "metric": (("metrics.json", "application/json"),),
    "log": (("train.log", "text/plain"), ("stderr.log", "text/plain")),
    "result": (("results.csv", "text/csv"), ("summary.json", "application/json")),
    "dataset": (
        ("data.parquet", "application/octet-stream"),
        ("schema.json", "application/json"),
        ("README.md", "text/markdown"),
    ),
}
DIRECTORY_MIME = "inode/directory"
SHAPES = ("first_page", "shared", "kinds", "search", "api")
SATCHEL_PATHS = {
    "first_page": "/artifacts",
    "shared": "/artifacts?origin=shared",
    "kinds": "/artifacts?kind=checkpoint&kind=log",
}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ROW_ID = re.compile(r'data-artifact-id="([^"]+)"')
_APP_DUR = re.compile(r"(?:^|,)\s*app\s*;(?:[^,]*;)?\s*dur=([0-9.]+)")


def ulid_at(ms: int, rng: random.Random) -> str:
    """A ULID whose time part is ``ms`` (as satchel's own ids carry their save time)."""
    value = (ms << 80) | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> (5 * (25 - i))) & 31] for i in range(26))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the satchel store --------------------------------------------------------------------


def _artifact(
    rng: random.Random,
    i: int,
    created: datetime,
    run: Any,
    step: int,
) -> Any:
    from satchel.hashing import tree_digest  # noqa: PLC0415
    from satchel.index import ArtifactWrite  # noqa: PLC0415
    from satchel.models import Artifact, ArtifactFile  # noqa: PLC0415

    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    aid = ulid_at(int(created.timestamp() * 1000), rng)
    model = None if kind == "dataset" else rng.choice(MODELS)
    dataset = rng.choice(DATASETS)
    name = {
        "checkpoint": f"{model}-step{step:06d}",
        "metric": f"{model}-eval-{dataset}",
        "log": f"train-{model}-{step:06d}",
        "result": f"{model}-{dataset}-predictions",
        "dataset": f"{dataset}-shard{i % 64:02d}",
    }[kind]
    choices = FILES[kind]
    count = 1 + rng.randrange(len(choices))
    files, inline = [], {}
    for path, mime in choices[:count]:
        data = f"{aid} {path} {i}\n".encode()
        digest = sha(data)
        inline[digest] = data
        files.append(ArtifactFile(path=path, sha256=digest, bytes=len(data), mime=mime))
    if len(files) == 1:
        digest, size, mime = files[0].sha256, files[0].bytes, files[0].mime
    else:
        digest = tree_digest((f.path, f.sha256, f.bytes) for f in files).hexdigest
        size, mime = sum(f.bytes for f in files), DIRECTORY_MIME
    metrics = {}
    if kind in ("metric", "result"):
        metrics = {"acc": round(rng.random(), 4), "loss": round(rng.random() * 3, 4)}
    artifact = Artifact(
        artifact_id=aid,
        name=name,
        kind=kind,
        status="completed",
        run_id=run.run_id,
        model_id=model,
        model_version=None if model is None else f"v{rng.randrange(1, 6)}",
        sha256=digest,
        bytes=size,
        mime=mime,
        created_at=created,
        updated_at=created,
        tags=rng.sample(("baseline", "ablation", "prod", "sweep", "nightly"), rng.randrange(3)),
        labels={"dataset": dataset, "seed": rng.randrange(5), "lr": rng.choice((1e-4, 3e-4))},
        metrics=metrics,
        uri=f"satchel://{aid}",
        org_id=run.org_id,
        user_id=run.user_id,
        files=files,
    )
    return ArtifactWrite(artifact=artifact, inline_blobs=inline, run=run)


def generate(store_dir: Path, n: int) -> dict[str, Any]:
    """Fill a new store; returns what ``META`` keeps (users, tokens, counts, seconds)."""
    from satchel.config import Settings  # noqa: PLC0415
    from satchel.index import ArtifactQuery  # noqa: PLC0415
    from satchel.models import Run  # noqa: PLC0415
    from satchel.store import ArtifactStore  # noqa: PLC0415
    from satchel.tenancy import tenancy_of  # noqa: PLC0415

    if store_dir.exists() and any(store_dir.iterdir()):
        raise SystemExit(f"{store_dir} is not empty (give --reuse to use it as it is)")
    rng = random.Random(2026)
    started = time.perf_counter()
    store = ArtifactStore.open(Settings.load(environ={}, home=str(store_dir)))
    try:
        tenancy = tenancy_of(store.index)
        orgs = {name: tenancy.create_org(name).org_id for name in ORGS}
        users: dict[str, dict[str, Any]] = {}
        for email, org, role, _ in USERS:
            password = f"bench-{email.split('@')[0]}-password"
            user = tenancy.create_user(
                email=email, org_id=orgs[org], role=role, display_name=email.split("@")[0]
            )
            tenancy.set_password(user.user_id, password)
            _, token = tenancy.create_token(user.user_id, name="bench portal")
            users[email] = {
                "user_id": user.user_id,
                "org_id": orgs[org],
                "password": password,
                "token": token,
            }
        emails = [u[0] for u in USERS]
        weights = [u[3] for u in USERS]
        start = datetime.now(UTC) - SPAN
        step_s = SPAN.total_seconds() / n
        writes: list[Any] = []
        run = None
        carol: list[str] = []
        for i in range(n):
            if i % RUN_SIZE == 0:
                owner = users[rng.choices(emails, weights)[0]]
                run_start = start + timedelta(seconds=i * step_s)
                run = Run(
                    run_id=ulid_at(int(run_start.timestamp() * 1000), rng),
                    name=f"{rng.choice(MODELS)}-{i // RUN_SIZE:05d}",
                    org_id=owner["org_id"],
                    user_id=owner["user_id"],
                    status="done",
                    started_at=run_start,
                    ended_at=run_start + timedelta(seconds=RUN_SIZE * step_s),
                )
            created = start + timedelta(seconds=(i + rng.random() * 0.9) * step_s)
            write = _artifact(rng, i, created, run, (i % RUN_SIZE) * 100)
            writes.append(write)
            if write.artifact.user_id == users["carol@globex.example"]["user_id"]:
                carol.append(write.artifact.artifact_id)
            if len(writes) == BATCH or i == n - 1:
                store.index.commit_writes(writes)
                writes = []
        write_s = time.perf_counter() - started

        t0 = time.perf_counter()
        shared = rng.sample(carol, GRANTS_TO_ORG + GRANTS_TO_EMAIL)
        granter = users["carol@globex.example"]["user_id"]
        for k, aid in enumerate(shared):
            if k < GRANTS_TO_ORG:
                tenancy.add_grant(aid, org_id=orgs["acme"], granted_by=granter)
            else:
                tenancy.add_grant(aid, email=READER, granted_by=granter)
        grant_s = time.perf_counter() - t0

        t0 = time.perf_counter()  # the FTS5 catch-up (and ANALYZE), as a first search does
        store.index.lexical("checkpoint", ArtifactQuery(limit=1), 1)
        catch_up_s = time.perf_counter() - t0
    finally:
        store.close()
    meta = {
        "artifacts": n,
        "users": users,
        "orgs": orgs,
        "grants": len(shared),
        "write_seconds": write_s,
        "grant_seconds": grant_s,
        "catch_up_seconds": catch_up_s,
        "gen_seconds": time.perf_counter() - started,
    }
    (store_dir / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


@dataclass
class Expected:
    """What alice may read, newest first, from the index itself (for the checks)."""

    readable: list[str]
    shared: list[str]
    kinds: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def expected_rows(store_dir: Path, reader: dict[str, Any]) -> Expected:
    with sqlite3.connect(f"file:{store_dir / 'index.db'}?mode=ro", uri=True) as conn:
        granted = {
            aid
            for (aid,) in conn.execute(
                "SELECT artifact_id FROM grants WHERE recipient_email = ? OR recipient_org_id = ?",
                (READER, reader["org_id"]),
            )
        }
        rows = conn.execute(
            "SELECT artifact_id, kind, user_id, org_id FROM artifacts WHERE status = "
            "'completed' ORDER BY created_at DESC, artifact_id DESC"
        ).fetchall()
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("artifacts", "artifact_files", "runs", "grants", "users", "orgs")
        }
    conn.close()
    out = Expected(readable=[], shared=[], counts=counts)
    for aid, kind, user_id, org_id in rows:
        ours = user_id == reader["user_id"] or org_id == reader["org_id"]
        if ours or aid in granted:
            out.readable.append(aid)
            out.kinds[aid] = kind
            if aid in granted and org_id != reader["org_id"]:
                out.shared.append(aid)
    return out


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Samples:
    round_trip: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)  # Server-Timing app;dur, when given
    rows: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": len(self.round_trip),
            "rt_p50_ms": median(self.round_trip) * 1e3,
            "rt_p95_ms": percentile(self.round_trip, 95) * 1e3,
            "server_timing": bool(self.server) and len(self.server) == len(self.round_trip),
            "rows": sorted(set(self.rows)),
            "bytes_p50": median(self.bytes),
        }
        if out["server_timing"]:
            out["p50_ms"] = median(self.server)
            out["p95_ms"] = percentile(self.server, 95)
        else:
            out["p50_ms"], out["p95_ms"] = out["rt_p50_ms"], out["rt_p95_ms"]
        return out


def app_dur(response: httpx.Response) -> float | None:
    header = response.headers.get("server-timing")
    found = _APP_DUR.search(header) if header else None
    return float(found.group(1)) if found else None


def timed_get(
    client: httpx.Client,
    path: str,
    samples: Samples | None,
    check: Callable[[str], int],
    headers: dict[str, str] | None = None,
) -> None:
    t0 = time.perf_counter()
    response = client.get(path, headers=headers)
    body = response.text
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}\n{body[:2000]}")
    rows = check(body)
    if samples is not None:
        samples.round_trip.append(elapsed)
        samples.rows.append(rows)
        samples.bytes.append(len(response.content))
        dur = app_dur(response)
        if dur is not None:
            samples.server.append(dur)


def session_cookie(store_dir: Path, secret: str) -> str:
    """The ``satchel_session`` value of an API token: ``<token id>.<secret>``."""
    with sqlite3.connect(f"file:{store_dir / 'index.db'}?mode=ro", uri=True) as conn:
        (token_id,) = conn.execute(
            "SELECT token_id FROM tokens WHERE secret_sha256 = ?", (sha(secret.encode()),)
        ).fetchone()
    conn.close()
    return f"{token_id}.{secret}"


def log_in(url: str, user: dict[str, Any], email: str, cookie: str) -> tuple[httpx.Client, str]:
    """A keep-alive client with alice's session cookie: through the login page when the
    portal has one, else ``cookie``, her API token as a session (any token opens one)."""
    client = httpx.Client(base_url=url, timeout=120, follow_redirects=False)
    page = client.get("/login", params={"next": "/artifacts"})
    csrf = re.search(r'name="csrf"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf"', page.text)
    if page.status_code == 200 and csrf is not None:
        form = {
            "email": email,
            "password": user["password"],
            "csrf": csrf.group(1) or csrf.group(2),
            "next": "/artifacts",
        }
        done = client.post("/login", data=form)
        if done.status_code in (302, 303) and client.cookies.get("satchel_session"):
            return client, "logged in through POST /login"
        raise RuntimeError(f"POST /login: {done.status_code} {done.text[:1000]}")
    client.cookies.set("satchel_session", cookie)
    return client, f"API token as the satchel_session cookie (GET /login: {page.status_code})"


def page_ids(body: str) -> list[str]:
    table = body.find('id="artifacts"')
    return _ROW_ID.findall(body[table:] if table >= 0 else body)


def prefix_check(what: str, expected: list[str]) -> Callable[[str], int]:
    def check(body: str) -> int:
        ids = page_ids(body)
        if not ids or ids != expected[: len(ids)]:
            raise AssertionError(
                f"{what}: the page lists {len(ids)} rows {ids[:3]}..., the newest readable "
                f"are {expected[:3]}..."
            )
        return len(ids)

    return check


def search_check(target: str, readable: set[str]) -> Callable[[str], int]:
    def check(body: str) -> int:
        ids = page_ids(body)
        if target not in ids:
            raise AssertionError(f"q={target[12:20]}: {target} not among {len(ids)} rows")
        if not set(ids) <= readable:
            raise AssertionError(f"q={target[12:20]}: rows alice may not read")
        return len(ids)

    return check


def api_check(expected: list[str]) -> Callable[[str], int]:
    def check(body: str) -> int:
        ids = [item["artifact_id"] for item in json.loads(body)["items"]]
        if ids != expected[:50]:
            raise AssertionError(f"/api/v1/artifacts: {len(ids)} items, not the 50 newest")
        return len(ids)

    return check


def mlflow_check(newest: list[str]) -> Callable[[httpx.Response], int]:
    def check(response: httpx.Response) -> int:
        runs = [r["info"]["run_id"] for r in response.json().get("runs", [])]
        if runs != newest[: len(runs)] or len(runs) != 50:
            raise AssertionError(f"runs/search: {len(runs)} runs, not the 50 newest")
        return len(runs)

    return check


def mlflow_store(path: Path, runs: int, budget: float, reuse: bool) -> dict[str, Any]:
    from mlflow_search import build_store, verify_counts  # noqa: PLC0415

    db = path / "mlflow.db"
    if reuse and db.exists():
        with sqlite3.connect(db) as conn:
            (experiment,) = conn.execute(
                "SELECT experiment_id FROM experiments WHERE name = 'bench'"
            ).fetchone()
            (count,) = conn.execute("SELECT count(*) FROM runs").fetchone()
        conn.close()
        return {"experiment": str(experiment), "runs": count, "setup_seconds": 0.0, "reused": True}
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"{path} is not empty (give --reuse to use it as it is)")
    built = build_store(str(path), runs, budget, 200, [])
    verify_counts(str(db), built.runs)
    return {
        "experiment": built.experiment,
        "runs": built.runs,
        "client_runs": built.client_runs,
        "bulk_runs": built.bulk_runs,
        "setup_seconds": built.setup_seconds,
        "reused": False,
    }


def newest_runs(path: Path, experiment: str) -> list[str]:
    with sqlite3.connect(f"file:{path / 'mlflow.db'}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT run_uuid FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active' "
            "ORDER BY start_time DESC LIMIT 50",
            (int(experiment),),
        ).fetchall()
    conn.close()
    return [r[0] for r in rows]


def sql_breakdown(store_dir: Path, cookie: str, paths: dict[str, str]) -> dict[str, Any]:
    """Where a page's time goes: each path requested in this process (the server's app
    through ``TestClient``, the same store, alice's token as the session ``cookie``), after
    two untimed requests, with every SQL statement it runs timed; per path the request's
    time, the statements' count and total, and the slowest three with their SQLite plan.
    Run after the servers stop: it measures nothing of the figures."""
    from fastapi.testclient import TestClient  # noqa: PLC0415
    from sqlalchemy import event  # noqa: PLC0415
    from sqlalchemy.engine import Engine  # noqa: PLC0415

    from satchel.config import Settings  # noqa: PLC0415
    from satchel.server import ServerSettings, create_app  # noqa: PLC0415

    seen: list[tuple[float, str, Any]] = []

    def before(conn: Any, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((time.perf_counter() - conn.info["bench_t0"], statement, params))

    out: dict[str, Any] = {}
    settings = ServerSettings.load(store=Settings.load(environ={}, home=str(store_dir)))
    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    db = sqlite3.connect(f"file:{store_dir / 'index.db'}?mode=ro", uri=True)
    try:
        with TestClient(create_app(settings)) as client:
            client.cookies.set("satchel_session", cookie)
            for key, path in paths.items():
                for _ in range(2):
                    client.get(path)
                seen.clear()
                t0 = time.perf_counter()
                response = client.get(path, follow_redirects=False)
                took = time.perf_counter() - t0
                if response.status_code != 200:
                    raise RuntimeError(f"in-process GET {path}: {response.status_code}")
                slowest = []
                for secs, statement, params in sorted(seen, key=lambda s: -s[0])[:3]:
                    plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + statement, params)]
                    slowest.append(
                        {"ms": secs * 1e3, "sql": statement, "params": list(params), "plan": plan}
                    )
                out[key] = {
                    "path": path,
                    "request_ms": took * 1e3,
                    "statements": len(seen),
                    "sql_ms": sum(s[0] for s in seen) * 1e3,
                    "slowest": slowest,
                }
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
        db.close()
    return out


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--mlflow-runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--store", required=True)
    parser.add_argument("--mlflow-store", required=True)
    parser.add_argument("--mlflow-budget", type=float, default=300)
    parser.add_argument("--work", required=True)
    parser.add_argument("--reuse", action="store_true", help="keep the stores of an earlier run")
    args, work, env = child_start(parser)
    env = {**env, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    store_dir = Path(args.store).resolve()
    result: dict[str, Any] = {"loadavg": {"start": loadavg()}}

    if args.reuse and (store_dir / META).exists():
        meta = json.loads((store_dir / META).read_text(encoding="utf-8"))
        meta["reused"] = True
    else:
        meta = generate(store_dir, args.artifacts)
        meta["reused"] = False
    result["store"] = {k: v for k, v in meta.items() if k not in ("users",)}
    result["loadavg"]["store_made"] = loadavg()
    reader = meta["users"][READER]
    expected = expected_rows(store_dir, reader)
    result["store"]["counts"] = expected.counts
    result["store"]["readable"] = len(expected.readable)
    result["store"]["shared"] = len(expected.shared)
    peer_dir = Path(args.mlflow_store).resolve()
    result["peer_store"] = mlflow_store(peer_dir, args.mlflow_runs, args.mlflow_budget, args.reuse)
    experiment = result["peer_store"]["experiment"]
    newest = newest_runs(peer_dir, experiment)
    result["loadavg"]["peer_made"] = loadavg()

    rng = random.Random(7)
    per_round = -(-args.requests // ROUNDS)
    targets = rng.sample(expected.readable, WARM_UP + per_round * ROUNDS)
    readable = set(expected.readable)
    kinds = [a for a in expected.readable if expected.kinds[a] in ("checkpoint", "log")]
    checks = {
        "first_page": prefix_check("first page", expected.readable),
        "shared": prefix_check("origin=shared", expected.shared),
        "kinds": prefix_check("kind=checkpoint&kind=log", kinds),
        "api": api_check(expected.readable),
    }
    bearer = {"Authorization": f"Bearer {reader['token']}"}
    cookie = session_cookie(store_dir, reader["token"])
    ours = {shape: Samples() for shape in SHAPES}
    peer = {"runs_search": Samples(), "ui": Samples()}
    search_body = {
        "experiment_ids": [experiment],
        "filter": "",
        "run_view_type": "ACTIVE_ONLY",
        "max_results": 50,
        "order_by": ["attributes.start_time DESC"],
    }
    with (
        SatchelServer(store_dir, work / "satchel-serve.log", env, fresh=False) as server,
        MlflowServer(peer_dir, work / "mlflow-server.log", env) as mlflow_server,
    ):
        result["mlflow_settle_seconds"] = mlflow_server.settle()
        client, how = log_in(server.url, reader, READER, cookie)
        result["session"] = how
        peer_client = httpx.Client(base_url=mlflow_server.url, timeout=120)
        check_runs = mlflow_check(newest)

        def satchel_round(count: int, timed: bool, offset: int) -> None:
            for shape in SHAPES:
                for k in range(count):
                    samples = ours[shape] if timed else None
                    if shape == "search":
                        target = targets[offset + k]
                        path = f"/artifacts?q={target[12:20]}"
                        timed_get(client, path, samples, search_check(target, readable))
                    elif shape == "api":
                        path = "/api/v1/artifacts?limit=50"
                        timed_get(client, path, samples, checks[shape], bearer)
                    else:
                        timed_get(client, SATCHEL_PATHS[shape], samples, checks[shape])

        def mlflow_round(count: int, timed: bool) -> None:
            for _ in range(count):
                t0 = time.perf_counter()
                response = peer_client.post("/ajax-api/2.0/mlflow/runs/search", json=search_body)
                elapsed = time.perf_counter() - t0
                response.raise_for_status()
                rows = check_runs(response)
                if timed:
                    peer["runs_search"].round_trip.append(elapsed)
                    peer["runs_search"].rows.append(rows)
                    peer["runs_search"].bytes.append(len(response.content))
            for _ in range(count):
                timed_get(peer_client, "/", peer["ui"] if timed else None, lambda _: 0)

        try:
            t0 = time.perf_counter()
            satchel_round(WARM_UP, False, 0)
            mlflow_round(WARM_UP, False)
            result["warm_up_seconds"] = time.perf_counter() - t0
            result["loadavg"]["measured_from"] = loadavg()
            t0 = time.perf_counter()
            for rnd in range(ROUNDS):
                satchel_round(per_round, True, WARM_UP + rnd * per_round)
                mlflow_round(per_round, True)
            result["measure_seconds"] = time.perf_counter() - t0
            result["loadavg"]["measured_to"] = loadavg()
        finally:
            client.close()
            peer_client.close()
    paths = {**SATCHEL_PATHS, "search": f"/artifacts?q={targets[0][12:20]}"}
    result["sql"] = sql_breakdown(store_dir, cookie, paths)
    result["satchel"] = {shape: s.summary() for shape, s in ours.items()}
    result["mlflow"] = {shape: s.summary() for shape, s in peer.items()}
    result["mlflow_runs"] = result["peer_store"]["runs"]
    emit(result)


if __name__ == "__main__":
    main()
