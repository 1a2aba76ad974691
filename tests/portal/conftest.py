"""The portal in a real headless Chromium, against a live server seeded through the HTTP API.

* ``portal``: one server per test module on the embedded default (local directory + SQLite),
  on a real uvicorn (``serverkit.serving``), seeded by ``seed`` exactly as users would make
  the data: three users in two organisations, each with artifacts of every kind, grants
  from organisation B to A (by organisation and by email), an unshared canary of carol's,
  a pending file, previews, a non-ASCII file name, runs with child runs.
  ``s3_portal``: the same world on SeaweedFS S3 + PostgreSQL, where a download link redirects
  to a presigned URL of the bucket.
* ``browser``: Debian's chromium (``/usr/bin/chromium``, installed by ``scripts/bootstrap
  dev``) through Playwright's sync API, one per module (see ``playwright``): Playwright's
  own browser builds are never downloaded. A missing chromium fails the tests, it never skips them.
* ``page``: a fresh browser context (no cookies) per test, 1,280 px wide; ``login(page, who)``
  logs in through the form.

Screenshots go to ``test-output/portal/`` (``SHOTS``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import random
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import pgserver
from conftest import make_settings
from satchel.server import ServerSettings, create_app
from serverkit import SECRET, serving, state_of

#: The portal's HTTP-level tests here import their helpers as top-level modules (``from
#: portalkit import ...``), which this directory being a package would otherwise hide.
if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "portal"
PASSWORD = "portal-test-password-1"
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: Every page of the portal answers quickly on a seeded server: a missing element fails the
#: test in seconds, not after Playwright's default 30 s.
TIMEOUT_MS = 5_000

ORIGINS = ("mine", "org", "shared")
KINDS = ("checkpoint", "metric", "log", "result", "dataset")
CANARY_NAME = "zz-canary-borealis-private-7f3k"
NON_ASCII_FILE = "données-été.csv"


# -- the seeded world ---------------------------------------------------------------------


@dataclass
class Person:
    name: str
    email: str
    display_name: str
    org: str  # "a" or "b"
    user_id: str = ""
    org_id: str = ""
    token: str = ""


@dataclass
class Spec:
    """One artifact as a user saves it."""

    key: str
    who: str
    name: str
    kind: str
    files: dict[str, bytes]
    run_id: str | None = None
    grant_orgs: tuple[str, ...] = ()
    grant_emails: tuple[str, ...] = ()  # people's names
    pending: bool = False  # created, its bytes never uploaded
    uploaded: bool = False  # bytes sent with PUT .../uploads (else inline in the create)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Portal:
    """A live, seeded server: its URL and what it holds."""

    url: str
    kind: str
    people: dict[str, Person]
    org_names: dict[str, str]
    org_ids: dict[str, str]
    specs: dict[str, Spec]
    artifacts: dict[str, dict[str, Any]]  # key -> the API's Artifact JSON
    runs: dict[str, dict[str, Any]]  # run_id -> Run JSON
    #: Where the server keeps the bytes (a directory, a bucket prefix): never on a page.
    store_root: str = ""

    def at(self, path: str) -> str:
        return self.url + path

    def id(self, key: str) -> str:
        return str(self.artifacts[key]["artifact_id"])

    def api(self, who: str) -> httpx.Client:
        return api_client(self.url, self.people[who].token)

    def key_of(self, artifact_id: str) -> str:
        return next(k for k, a in self.artifacts.items() if a["artifact_id"] == artifact_id)

    def readable(self, who: str, spec: Spec) -> bool:
        person = self.people[who]
        owner = self.people[spec.who]
        return (
            spec.who == who
            or owner.org == person.org
            or person.org in spec.grant_orgs
            or who in spec.grant_emails
        )

    def expected(
        self, who: str, origins: tuple[str, ...] = (), kinds: tuple[str, ...] = ()
    ) -> set[str]:
        """The ids the artifacts list should show ``who`` with these filters (the oracle)."""
        person = self.people[who]
        found = set()
        for key, spec in self.specs.items():
            # A pending artifact is its creator's alone: the portal lists it for them (with
            # its status) wherever their own artifacts are listed, and for nobody else.
            if (spec.pending and spec.who != who) or not self.readable(who, spec):
                continue
            owner = self.people[spec.who]
            where = {
                "mine": spec.who == who,
                "org": owner.org == person.org,
                "shared": owner.org != person.org,
            }
            if origins and not any(where[o] for o in origins):
                continue
            if kinds and spec.kind not in kinds:
                continue
            found.add(self.id(key))
        return found


def api_client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small valid PNG of one colour with a diagonal stripe."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b""
    for y in range(height):
        row = bytearray()
        for x in range(width):
            row += bytes((255, 255, 255)) if abs(x - y) < 2 else bytes(rgb)
        rows += b"\x00" + bytes(row)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


PEOPLE = {
    "alice": Person("alice", "alice@acme.example", "Alice Archer", "a"),
    "bob": Person("bob", "bob@acme.example", "Bob Baker", "a"),
    "carol": Person("carol", "carol@borealis.example", "Carol Cho", "b"),
}
ORG_NAMES = {"a": "Acme Research", "b": "Borealis Labs"}
ROLES = {"alice": "admin", "bob": "member", "carol": "admin"}

#: Runs, in creation order: (who, run_id, name, parent).
RUNS = [
    ("alice", "acme-lr-sweep", "learning-rate sweep", None),
    ("alice", "acme-lr-sweep-0", "lr 1e-3", "acme-lr-sweep"),
    ("alice", "acme-lr-sweep-1", "lr 3e-4", "acme-lr-sweep"),
    ("bob", "acme-bert-finetune", "bert finetune", None),
    ("carol", "borealis-unet", "unet training", None),
    ("carol", "borealis-unet-0", "unet fold 0", "borealis-unet"),
]


def specs() -> list[Spec]:
    csv = "station,température,humidité\nLyon,24.5,0.41\nGenève,22.1,0.52\n".encode()
    return [
        # alice, org A (admin)
        Spec(
            "a-ckpt",
            "alice",
            "resnet50-epoch3",
            "checkpoint",
            {"model.ckpt": _bytes(1, 40_000)},
            run_id="acme-lr-sweep-0",
            uploaded=True,
            extra={
                "model_id": "resnet50",
                "model_version": "2",
                "labels": {"epoch": 3, "optimizer": "adamw"},
                "metrics": {"loss": 0.173},
            },
        ),
        Spec(
            "a-metric",
            "alice",
            "val-accuracy",
            "metric",
            {"metrics.json": b'{"accuracy": 0.912, "top5": 0.987}\n'},
            run_id="acme-lr-sweep-0",
            extra={"metrics": {"accuracy": 0.912}},
        ),
        Spec(
            "a-log",
            "alice",
            "train-stdout",
            "log",
            {"train.log": b"epoch 1 loss 0.91\nepoch 2 loss 0.44\nepoch 3 loss 0.17\n"},
            run_id="acme-lr-sweep-1",
        ),
        Spec(
            "a-result",
            "alice",
            "confusion-matrix",
            "result",
            {"confusion.csv": b"label,cat,dog\ncat,41,9\ndog,6,44\n"},
            run_id="acme-lr-sweep",
        ),
        Spec("a-dataset", "alice", "cifar10-subset", "dataset", {"subset.txt": b"0\n5\n9\n"}),
        Spec(
            "a-pending",
            "alice",
            "resnet50-final",
            "checkpoint",
            {"final.ckpt": _bytes(2, 30_000)},
            run_id="acme-lr-sweep-1",
            pending=True,
        ),
        # bob, org A
        Spec(
            "b-ckpt",
            "bob",
            "bert-finetune-ckpt",
            "checkpoint",
            {"bert.ckpt": _bytes(3, 20_000)},
            run_id="acme-bert-finetune",
            extra={"model_id": "bert-base", "model_version": "1"},
        ),
        Spec("b-metric", "bob", "bleu-scores", "metric", {"bleu.json": b'{"bleu": 31.4}\n'}),
        Spec("b-log", "bob", "eval-log", "log", {"eval.log": b"evaluating 1000 sentences\n"}),
        Spec("b-result", "bob", "translation-samples", "result", {"samples.txt": b"hallo\n"}),
        Spec("b-dataset", "bob", "wmt-dev-split", "dataset", {"dev.tsv": b"de\ten\nja\tyes\n"}),
        # carol, org B (admin): shared with org A, one with bob's email, one unshared
        Spec(
            "c-ckpt",
            "carol",
            "borealis-segmentation-unet",
            "checkpoint",
            {"weights.bin": _bytes(4, 64_000)},  # over inline_max: a blob of the store
            run_id="borealis-unet-0",
            grant_orgs=("a",),
            uploaded=True,
            extra={"model_id": "unet", "model_version": "7", "labels": {"fold": 0}},
        ),
        Spec(
            "c-metric",
            "carol",
            "segmentation-iou",
            "metric",
            {"iou.json": b'{"iou": 0.83}\n'},
            run_id="borealis-unet-0",
            grant_orgs=("a",),
            extra={"metrics": {"iou": 0.83}},
        ),
        Spec(
            "c-log",
            "carol",
            "preprocessing-log",
            "log",
            {"preprocess.log": b"resampled 412 scans\n"},
            grant_orgs=("a",),
        ),
        Spec(
            "c-result",
            "carol",
            "segmentation-report",
            "result",
            {
                "summary.log": b"fold 0 iou 0.83\nfold 1 iou 0.81\n",
                "scores.json": b'{"folds": [0.83, 0.81], "mean": 0.82}\n',
                "per_class.csv": b"class,iou\nliver,0.91\nkidney,0.74\n",
                "mask.png": png(24, 24, (30, 120, 200)),
            },
            run_id="borealis-unet",
            grant_orgs=("a",),
        ),
        Spec(
            "c-dataset",
            "carol",
            "weather-readings",
            "dataset",
            {NON_ASCII_FILE: csv},
            grant_emails=("bob",),
        ),
        Spec(
            "c-canary",
            "carol",
            CANARY_NAME,
            "result",
            {"secret.txt": b"borealis internal only\n"},
            run_id="borealis-unet",
        ),
    ]


def _entry(path: str, data: bytes, inline: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": path,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    if inline:
        entry["content"] = base64.b64encode(data).decode("ascii")
    return entry


def seed(app: Any, url: str, kind: str) -> Portal:
    """Users straight in the directory (with passwords); everything else through the API."""
    tenancy = state_of(app).tenancy
    people = {name: Person(**vars(p)) for name, p in PEOPLE.items()}
    org_ids = {key: tenancy.create_org(name).org_id for key, name in ORG_NAMES.items()}
    for person in people.values():
        user = tenancy.create_user(
            email=person.email,
            org_id=org_ids[person.org],
            role=ROLES[person.name],  # type: ignore[arg-type]
            display_name=person.display_name,
            password=PASSWORD,
        )
        person.user_id, person.org_id = user.user_id, user.org_id
        person.token = tenancy.create_token(user.user_id, name="seed")[1]
    clients = {name: api_client(url, p.token) for name, p in people.items()}
    runs: dict[str, dict[str, Any]] = {}
    artifacts: dict[str, dict[str, Any]] = {}
    all_specs = {s.key: s for s in specs()}
    try:
        for who, run_id, name, parent in RUNS:
            body = {"run_id": run_id, "name": name, "parent_run_id": parent}
            made = clients[who].post("/api/v1/runs", json=body)
            assert made.status_code == 201, made.text
            runs[run_id] = made.json()
        for spec in all_specs.values():
            http = clients[spec.who]
            inline = not (spec.pending or spec.uploaded)
            body = {
                "name": spec.name,
                "kind": spec.kind,
                "files": [_entry(p, d, inline) for p, d in spec.files.items()],
                **({"run_id": spec.run_id} if spec.run_id else {}),
                **spec.extra,
            }
            made = http.post("/api/v1/artifacts", json=body)
            assert made.status_code == 201, made.text
            aid = made.json()["artifact_id"]
            if spec.uploaded:
                for path, data in spec.files.items():
                    sent = http.put(
                        f"/api/v1/artifacts/{aid}/uploads/{quote(path)}",
                        params={"offset": 0},
                        content=data,
                    )
                    assert sent.status_code == 200, sent.text
            for org in spec.grant_orgs:
                granted = http.post(
                    f"/api/v1/artifacts/{aid}/grants", json={"org_id": org_ids[org]}
                )
                assert granted.status_code == 201, granted.text
            for name in spec.grant_emails:
                granted = http.post(
                    f"/api/v1/artifacts/{aid}/grants", json={"email": people[name].email}
                )
                assert granted.status_code == 201, granted.text
            now = http.get(f"/api/v1/artifacts/{aid}").json()
            assert now["status"] == ("pending" if spec.pending else "completed"), now
            artifacts[spec.key] = now
        done = clients["alice"].patch("/api/v1/runs/acme-lr-sweep-0", json={"status": "done"})
        assert done.status_code == 200, done.text
        runs["acme-lr-sweep-0"] = done.json()
    finally:
        for client in clients.values():
            client.close()
    return Portal(url, kind, people, ORG_NAMES, org_ids, all_specs, artifacts, runs)


@contextlib.contextmanager
def seeded_server(kind: str, home: Path, seaweed: Any = None) -> Iterator[Portal]:
    """A live server on one backend pair, seeded; closed (and its schema released) after."""
    store = make_settings(kind, home, seaweed)
    settings = ServerSettings.load(
        environ={}, store=store, secret=SECRET, upload_dir=str(home / "uploads")
    )
    app = create_app(settings)
    try:
        with serving(app) as url:
            world = seed(app, url, kind)
            parts = urlsplit(store.store or "")
            world.store_root = f"{parts.netloc}{parts.path}" if parts.scheme else str(home)
            yield world
    finally:
        state_of(app).close()
        if kind.endswith("postgres"):
            pgserver.release()


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """The module's seeded server on the embedded default (local directory + SQLite)."""
    with seeded_server("local", tmp_path_factory.mktemp("portal")) as world:
        yield world


@pytest.fixture(scope="module")
def s3_portal(tmp_path_factory: pytest.TempPathFactory, seaweed: Any) -> Iterator[Portal]:
    """The same world on the scale pair: SeaweedFS S3 + PostgreSQL."""
    with seeded_server("s3+postgres", tmp_path_factory.mktemp("portal-s3"), seaweed) as world:
        yield world


# -- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Module scope, not the session's: while Playwright's sync API lives, its event loop
    # counts as running in this thread, and no asyncio test (the portal's HTTP-level tests
    # beside these, the rest of the suite) could run. A browser starts in about 0.5 s.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the portal tests need Debian's chromium "
            "(`bash scripts/bootstrap dev` installs it)"
        )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield launched
    launched.close()


def new_context(browser: Browser, viewport: dict[str, int] = WIDE) -> BrowserContext:
    context = browser.new_context(viewport=viewport, accept_downloads=True, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(2 * TIMEOUT_MS)
    return context


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    made = new_context(browser)
    yield made
    made.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()


Login = Callable[..., Page]


def log_in(page: Page, world: Portal, who: str, next_path: str | None = None) -> Page:
    """Log ``who`` in through the form (``next_path``: where the login goes after)."""
    target = world.at("/login" + (f"?next={quote(next_path)}" if next_path else ""))
    page.goto(target)
    form = page.locator("#login-form")
    form.locator("input[name=email]").fill(world.people[who].email)
    form.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "/login" not in page.url, f"the login of {who} did not leave the login page"
    return page


_states: dict[tuple[str, str], Any] = {}


@pytest.fixture
def as_user(browser: Browser, portal: Portal) -> Iterator[Callable[..., Page]]:
    """``as_user(who, viewport=WIDE)``: a page of a fresh context already logged in as
    ``who`` (logged in through the form once per server and user, its cookies reused)."""
    opened: list[BrowserContext] = []

    def _as(who: str, viewport: dict[str, int] = WIDE) -> Page:
        key = (portal.url, who)
        if key not in _states:
            first = new_context(browser)
            try:
                log_in(first.new_page(), portal, who)
                _states[key] = first.storage_state()
            finally:
                first.close()
        made = new_context(browser, viewport)
        made.add_cookies(_states[key]["cookies"])
        opened.append(made)
        return made.new_page()

    yield _as
    for made in opened:
        made.close()


@pytest.fixture
def login(portal: Portal) -> Login:
    """``login(page, who)``: log in on the module's server."""

    def _login(page: Page, who: str, next_path: str | None = None) -> Page:
        return log_in(page, portal, who, next_path)

    return _login


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot in ``test-output/portal/``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    # Headless Chromium leaves the previews' sandboxed iframes blank in a ``full_page``
    # shot below the fold: the viewport is made as tall as the page instead.
    size = page.viewport_size or WIDE
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 1), 8_000)})
    try:
        if page.locator("iframe").count():
            page.wait_for_timeout(400)  # the frames repaint at the new size
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)
    return path


def listed_ids(page: Page) -> set[str]:
    """The artifact ids of every page of the current list (following ``a#next-page``)."""
    seen: set[str] = set()
    for _ in range(50):
        rows = page.locator("table#artifacts tbody tr[data-artifact-id]")
        seen |= set(rows.evaluate_all("rows => rows.map(r => r.dataset.artifactId)"))
        more = page.locator("a#next-page")
        if more.count() == 0:
            return seen
        with page.expect_navigation():
            more.first.click()
    raise AssertionError("more than 50 pages of artifacts")


def artifacts_url(
    world: Portal, origins: tuple[str, ...] = (), kinds: tuple[str, ...] = (), q: str | None = None
) -> str:
    params = [("origin", o) for o in origins] + [("kind", k) for k in kinds]
    if q is not None:
        params.append(("q", q))
    query = "&".join(f"{k}={quote(v)}" for k, v in params)
    return world.at("/artifacts" + (f"?{query}" if query else ""))


def apply_filter(page: Page, selector: str) -> None:
    """Tick a filter the way a person does: the page submits on change (JS); failing that,
    the Apply button."""
    before = page.url
    page.locator(selector).check()
    try:
        page.wait_for_url(lambda url: url != before, timeout=1_500)
    except PlaywrightTimeout:
        with page.expect_navigation():
            page.locator("#apply-filters").click()
    page.wait_for_load_state()
