"""The access filter on every read path: get, list, best, lexical, semantic, counts.

One small world of orgs, users, artifacts and grants on each index backend, read by six
actors: the creator, a member of the creator's org, a member of another org, a grantee by
email, a member of a grantee org, and a grantee whose grant was revoked. What each may read
is decided in Python by ``satchel.access.may_read`` from the grants the test made; every
path must find exactly those artifacts, and a reader's ranking must be the one an index
holding only those artifacts gives: an artifact the reader may not read is never a hit, a
count, a score, a page slot or a cursor position.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import pgserver
import satchel.index.sql
from satchel.access import may_read
from satchel.config import Settings
from satchel.errors import NotFoundError, ValidationError
from satchel.facade import ContextInfo, FacadeCore, SyncArtifactFacade
from satchel.index import ArtifactQuery, ArtifactWrite, Index, open_index
from satchel.index import query as plans
from satchel.index.base import ORIGINS, Origin, QueryPosition
from satchel.index.sql import SqlIndex
from satchel.models import Artifact, ArtifactFile, format_time
from satchel.search.embed import Embedder
from satchel.search.semantic import SemanticSearch
from satchel.storage.memory import MemoryBlobStore
from satchel.store import ArtifactStore
from satchel.tenancy import Actor, Grant, SqlTenancy, tenancy_of

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TOPICS = [
    "resnet checkpoint imagenet weights",
    "bert sentiment classifier model",
    "training loss curve log",
    "churn evaluation report",
    "tokenizer dataset shard",
    "resnet training report",
]
#: (user, org) of each artifact's creator, in turn.
CREATORS = [
    ("ann", "acme"),
    ("eve", "rival"),
    ("ben", "acme"),
    ("zed", "rival"),
    ("pat", "partner"),
    ("eve", "rival"),
]
READERS = ["ann", "ben", "eve", "pat", "quinn", "rex"]


@dataclass
class World:
    index: Index
    tenancy: SqlTenancy
    artifacts: list[Artifact]
    actors: dict[str, Actor]
    #: Org name -> org id (and user name -> user id below: the ids are generated).
    orgs: dict[str, str]
    grants: dict[str, list[Grant]] = field(default_factory=dict)

    def readable(self, who: str) -> list[Artifact]:
        actor = self.actors[who]
        return [a for a in self.artifacts if may_read(actor, a, self.grants.get(a.artifact_id, []))]

    def query(self, who: str, **fields: Any) -> ArtifactQuery:
        return ArtifactQuery(reader=self.actors[who].reader, **fields)

    def of(self, org: str) -> list[Artifact]:
        return [a for a in self.artifacts if a.org_id == self.orgs[org]]


HOMES = {
    "ann": "acme",
    "ben": "acme",
    "eve": "rival",
    "zed": "rival",
    "pat": "partner",
    "quinn": "friends",
    "rex": "loners",
}


def make_artifacts(actors: dict[str, Actor], count: int = 48) -> list[Artifact]:
    out = []
    for i in range(count):
        creator = actors[CREATORS[i % len(CREATORS)][0]]
        when = T0 + timedelta(seconds=i)
        digest = f"{i:064x}"
        out.append(
            Artifact(
                artifact_id=f"01TEST{i:020d}",
                name=f"{TOPICS[i % len(TOPICS)]} {i}",
                kind=("model", "report", "log")[i % 3],
                status="completed",
                run_id=f"run-{i % 4}",
                sha256=digest,
                bytes=1,
                user_id=creator.user_id,
                org_id=creator.org_id,
                created_at=when,
                updated_at=when,
                labels={"ds": f"d{i % 4}"},
                tags=["t"] if i % 2 else [],
                metrics={"acc": (i * 7) % 11 / 10, **({"loss": i % 5} if i % 3 else {})},
                files=[ArtifactFile(path="f.txt", sha256=digest, bytes=1)],
            )
        )
    return out


@pytest.fixture
def world(index: Index) -> World:
    tenancy = tenancy_of(index)
    orgs = {name: tenancy.create_org(name).org_id for name in sorted(set(HOMES.values()))}
    actors: dict[str, Actor] = {}
    for who, org in HOMES.items():
        user = tenancy.create_user(email=f"{who}@{org}.example", org_id=orgs[org])
        # Any case in the reader's email: grants compare lower case.
        actors[who] = Actor(
            user_id=user.user_id, org_id=user.org_id, email=user.email.upper(), role="member"
        )
    artifacts = make_artifacts(actors)
    index.commit_writes([ArtifactWrite(artifact=a) for a in artifacts])
    w = World(index=index, tenancy=tenancy, artifacts=artifacts, actors=actors, orgs=orgs)
    revoked: list[Grant] = []
    for i, a in enumerate(artifacts):
        made: list[Grant] = []
        aid = a.artifact_id
        if a.org_id == orgs["acme"] and i % 4 == 0:
            made.append(tenancy.add_grant(aid, email="Pat@Partner.example", granted_by="ann"))
        if a.org_id == orgs["acme"] and i % 3 == 2:
            made.append(tenancy.add_grant(aid, org_id=orgs["friends"], granted_by="ann"))
        if a.org_id == orgs["rival"] and i % 7 == 3:
            made.append(tenancy.add_grant(aid, org_id=orgs["acme"], granted_by="eve"))
        if a.org_id == orgs["rival"] and i % 5 == 1:
            made.append(tenancy.add_grant(aid, email="ann@acme.example", granted_by="eve"))
        if i % 5 == 2:
            revoked.append(tenancy.add_grant(aid, email="rex@loners.example", granted_by="x"))
        w.grants[aid] = made
    for g in revoked:
        assert tenancy.revoke_grant(g.grant_id)
    return w


def newest_first(rows: list[Artifact]) -> list[str]:
    return [
        a.artifact_id
        for a in sorted(rows, key=lambda a: (a.created_at, a.artifact_id), reverse=True)
    ]


def test_the_world_covers_every_case(world: World) -> None:
    counts = {who: len(world.readable(who)) for who in READERS}
    total = len(world.artifacts)
    assert 0 == counts["rex"] < counts["quinn"] < counts["pat"] < counts["ann"] < total
    assert counts["ann"] > counts["ben"]  # an email grant on another org's artifact
    assert counts["quinn"] > 0
    assert {a.org_id for a in world.readable("pat")} == {world.orgs["acme"], world.orgs["partner"]}
    assert world.readable("rex") == []  # revoked: nothing shared, nothing of its own


@pytest.mark.parametrize("who", READERS)
def test_get_reads_only_what_the_reader_may(world: World, who: str) -> None:
    allowed = {a.artifact_id for a in world.readable(who)}
    reader = world.actors[who].reader
    for a in world.artifacts:
        got = world.index.get(a.artifact_id, reader=reader)
        assert (got is not None) == (a.artifact_id in allowed), a.artifact_id
        assert world.index.get(a.artifact_id) is not None  # no reader: full rights
    assert isinstance(world.index, SqlIndex)
    every = [a.artifact_id for a in world.artifacts]
    assert [a.artifact_id for a in world.index.get_many(every, reader=reader)] == [
        i for i in every if i in allowed
    ]
    assert sorted(world.index.matching_ids(world.query(who))) == sorted(allowed)
    assert world.index.matching_ids(world.query(who), list(reversed(every))) == [
        i for i in reversed(every) if i in allowed
    ]


SHAPES: list[dict[str, Any]] = [
    {},
    {"equals": {"kind": "model"}},
    {"labels": {"ds": "d1"}},
    {"tags_all": ("t",)},
    {"equals": {"kind": "report"}, "labels": {"ds": "d2"}, "tags_all": ("t",)},
    {"equals": {"run_id": "run-1"}},
    {"equals": {"run_id": "run-2"}, "labels": {"ds": "d2"}},
]


def passes(a: Artifact, shape: dict[str, Any]) -> bool:
    return (
        all(getattr(a, k) == v for k, v in shape.get("equals", {}).items())
        and all(a.labels.get(k) == v for k, v in shape.get("labels", {}).items())
        and set(shape.get("tags_all", ())) <= set(a.tags)
    )


@pytest.mark.parametrize("driven_max", [0, 2000], ids=["newest-first", "filter-first"])
@pytest.mark.parametrize("who", READERS)
def test_listing_pages_hold_only_readable_artifacts(
    world: World, who: str, driven_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(world.index, SqlIndex)
    monkeypatch.setattr(world.index, "_driven_max", driven_max)
    readable = world.readable(who)
    for shape in SHAPES:
        want = newest_first([a for a in readable if passes(a, shape)])
        assert [a.artifact_id for a in world.index.query(world.query(who, **shape))] == want
        # Full pages of 3 and a cursor that never lands on an unreadable artifact.
        paged: list[str] = []
        position: QueryPosition | None = None
        while True:
            page = world.index.query(world.query(who, limit=3, after=position, **shape))
            paged.extend(a.artifact_id for a in page)
            if len(page) < 3:
                break
            last = page[-1]
            assert last.created_at is not None
            position = QueryPosition(
                created_at=format_time(last.created_at), artifact_id=last.artifact_id
            )
        assert paged == want, shape


def ranked(rows: list[Artifact], metric: str, order: str) -> list[str]:
    found = [a for a in rows if metric in a.metrics]
    sign = -1 if order == "max" else 1
    found.sort(key=lambda a: a.artifact_id, reverse=True)
    found.sort(key=lambda a: a.created_at or T0, reverse=True)
    found.sort(key=lambda a: sign * a.metrics[metric])
    return [a.artifact_id for a in found]


@pytest.mark.parametrize(
    ("first", "most"), [(2, 3), (2, 1000), (2000, 64000)], ids=["sorts", "walks", "default"]
)
@pytest.mark.parametrize("who", READERS)
def test_best_ranks_only_readable_artifacts(
    world: World, who: str, first: int, most: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(satchel.index.sql, "FIRST_WALK", first)
    monkeypatch.setattr(plans, "MAX_WALK", most)
    readable = world.readable(who)
    for shape in SHAPES:
        for metric, order in (("acc", "max"), ("loss", "min")):
            want = ranked([a for a in readable if passes(a, shape)], metric, order)
            for limit in (1, 4, 100):
                query = world.query(who, metric=metric, metric_order=order, limit=limit, **shape)
                got = [a.artifact_id for a in world.index.query(query)]
                assert got == want[:limit], (shape, metric, limit)


def origin_of(world: World, who: str, a: Artifact) -> set[Origin]:
    actor = world.actors[who]
    found: set[Origin] = set()
    if a.user_id == actor.user_id:
        found.add("mine")
    if a.org_id == actor.org_id:
        found.add("org")
    granted = any(
        g.recipient_email == actor.email.lower() or g.recipient_org_id == actor.org_id
        for g in world.grants.get(a.artifact_id, [])
    )
    if granted and a.org_id != actor.org_id:
        found.add("shared")
    return found


@pytest.mark.parametrize("who", READERS)
def test_origin_filters_combine_as_a_union(world: World, who: str) -> None:
    readable = world.readable(who)
    for size in (1, 2, 3):
        for combo in itertools.combinations(sorted(ORIGINS), size):
            origin = frozenset(combo)
            want = newest_first([a for a in readable if origin_of(world, who, a) & origin])
            got = world.index.query(world.query(who, origin=origin))
            assert [a.artifact_id for a in got] == want, combo
    # Every readable artifact has an origin, and "shared" means another org's.
    assert all(origin_of(world, who, a) for a in readable)
    shared = world.index.query(world.query(who, origin=frozenset({"shared"})))
    assert all(a.org_id != world.actors[who].org_id for a in shared)


def test_an_origin_needs_a_reader_and_a_known_name(world: World) -> None:
    with pytest.raises(ValidationError):
        world.index.query(ArtifactQuery(origin=frozenset({"mine"})))
    with pytest.raises(ValidationError):
        world.index.query(world.query("ann", origin=frozenset({"theirs"})))  # type: ignore[arg-type]


@pytest.fixture
def clean_index(index: Index, tmp_path: Path) -> Iterator[Callable[[list[Artifact]], Index]]:
    """Another index of the same backend holding only the given artifacts: what a reader's
    ranking must equal."""
    opened: list[Index] = []
    counter = itertools.count()

    def make(rows: list[Artifact]) -> Index:
        if index.url.startswith("sqlite"):
            clean = open_index(f"sqlite:///{tmp_path / f'clean-{next(counter)}.db'}")
        else:
            clean = open_index(pgserver.index_url())
        opened.append(clean)
        clean.commit_writes([ArtifactWrite(artifact=a) for a in rows])
        return clean

    yield make
    for clean in opened:
        clean.close()


LEXICAL = ["resnet", "training report", "classifier", "shard", "resnet checkpoint", "rep"]


@pytest.mark.parametrize("who", READERS)
def test_lexical_search_ranks_as_if_alone_with_what_it_may_read(
    world: World, who: str, clean_index: Callable[[list[Artifact]], Index]
) -> None:
    readable = world.readable(who)
    allowed = {a.artifact_id for a in readable}
    clean = clean_index(readable)
    assert isinstance(world.index, SqlIndex)
    assert isinstance(clean, SqlIndex)
    postgres = world.index.url.startswith("postgresql")
    for text in LEXICAL:
        everything = [a.artifact_id for a in clean.lexical(text, ArtifactQuery(), 100)]
        found = [a.artifact_id for a in world.index.lexical(text, world.query(who), 100)]
        assert set(found) <= allowed
        assert sorted(found) == sorted(everything), text  # every readable match, no other
        for limit in (1, 3):
            page = [a.artifact_id for a in world.index.lexical(text, world.query(who), limit)]
            assert len(page) == min(limit, len(everything)), text
            assert set(page) <= allowed
            if postgres:  # a relevance of the document alone: the same ranking exactly
                alone = [a.artifact_id for a in clean.lexical(text, ArtifactQuery(), limit)]
                assert page == alone, (text, limit)


SEMANTIC = ["an image classification network", "how the model learned over time", "customer churn"]


@pytest.mark.parametrize("who", READERS)
def test_semantic_search_ranks_as_if_alone_with_what_it_may_read(
    world: World, who: str, clean_index: Callable[[list[Artifact]], Index], numpy_embedder: Embedder
) -> None:
    readable = world.readable(who)
    clean = clean_index(readable)
    search = SemanticSearch(numpy_embedder)
    assert isinstance(world.index, SqlIndex)
    assert isinstance(clean, SqlIndex)
    for text in SEMANTIC:
        for depth in (1, 5, 100):
            got = search.search(world.index, "world", text, world.query(who), depth)
            alone = search.search(clean, "clean", text, ArtifactQuery(), depth)
            assert [a.artifact_id for a in got] == [a.artifact_id for a in alone], (text, depth)
            assert len(got) == min(depth, len(readable))


def test_a_revoked_grant_ends_access_on_the_next_query(world: World) -> None:
    target = world.of("rival")[0]
    reader = world.actors["rex"].reader
    grant = world.tenancy.add_grant(
        target.artifact_id, email="rex@loners.example", granted_by="eve"
    )
    assert world.index.get(target.artifact_id, reader=reader) is not None
    assert target.artifact_id in {a.artifact_id for a in world.index.query(world.query("rex"))}
    assert world.tenancy.revoke_grant(grant.grant_id)
    assert world.index.get(target.artifact_id, reader=reader) is None
    assert target.artifact_id not in {a.artifact_id for a in world.index.query(world.query("rex"))}
    assert isinstance(world.index, SqlIndex)
    assert target.artifact_id not in {
        a.artifact_id for a in world.index.lexical(target.name or "", world.query("rex"), 50)
    }


def test_a_facade_for_a_reader_finds_only_what_it_may_read(world: World, tmp_path: Path) -> None:
    settings = Settings.load(environ={}, home=str(tmp_path / "home"), store="memory://reader")
    store = ArtifactStore(MemoryBlobStore(), world.index, settings, tmp_path / "home")
    ben = world.actors["ben"]
    info = ContextInfo(run_id="run-x", org_id=ben.org_id, user_id=ben.user_id, reader=ben.reader)
    arts = SyncArtifactFacade(FacadeCore(store, info))
    readable = {a.artifact_id for a in world.readable("ben")}
    ours = {a.artifact_id for a in world.of("acme")}
    assert {a.artifact_id for a in arts.list(level="org")} == ours
    found = arts.search(query="resnet", mode="lexical", level="org", limit=100)
    assert found
    assert {a.artifact_id for a in found} <= ours
    hidden = next(a for a in world.artifacts if a.artifact_id not in readable)
    assert arts.get_by_id(hidden.artifact_id) is None
    with pytest.raises(NotFoundError):
        arts.pin(hidden.artifact_id)
    with pytest.raises(NotFoundError):
        arts.lineage(hidden.artifact_id)
    shared = next(a for a in world.of("rival") if a.artifact_id in readable)
    assert arts.get_by_id(shared.artifact_id) is not None
