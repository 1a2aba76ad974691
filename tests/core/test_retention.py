"""Retention policies on every index backend: validation, storage, and what ``expired``
plans, against an independent brute-force oracle over randomised artifacts (pins, missing
metrics, ties in time and metric, groups, run families, orgs, running runs, pending rows,
several policies at once)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from satchel.errors import ConflictError, NotFoundError, ValidationError
from satchel.index import ArtifactWrite, Index
from satchel.models import Artifact, ArtifactFile, Run, new_id
from satchel.retention import (
    Expiry,
    RetentionPolicy,
    expired,
    format_duration,
    policies_of,
    preview,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=40)
SHA = "ab" * 32
#: run -> (parent, status); "ghost" is named by artifacts but has no row.
RUNS = {
    "r1": (None, "done"),
    "r1-exp0": ("r1", "failed"),
    "r1-exp0-a": ("r1-exp0", "done"),
    "r2": (None, "running"),
    "r3": (None, "crashed"),
}


def make(
    *,
    created: datetime,
    kind: str = "checkpoint",
    run_id: str | None = "r1",
    name: str | None = "model.ckpt",
    pinned: bool = False,
    metrics: dict[str, float] | None = None,
    org_id: str | None = None,
    status: str = "completed",
    artifact_id: str | None = None,
) -> Artifact:
    return Artifact(
        artifact_id=artifact_id or new_id(),
        name=name,
        kind=kind,
        status=status,  # type: ignore[arg-type]
        run_id=run_id,
        sha256=SHA,
        bytes=1,
        created_at=created,
        updated_at=created,
        metrics=metrics or {},
        pinned=pinned,
        org_id=org_id,
        files=[ArtifactFile(path="f", sha256=SHA, bytes=1, status="completed")],
    )


def commit(index: Index, arts: list[Artifact]) -> None:
    for run_id, (parent, status) in RUNS.items():
        index.ensure_run(
            Run(run_id=run_id, parent_run_id=parent, status=status, started_at=T0)  # type: ignore[arg-type]
        )
    index.commit_writes([ArtifactWrite(artifact=a, inline_blobs={SHA: b"x"}) for a in arts])


def ids(found: list[Expiry]) -> list[str]:
    return [e.artifact_id for e in found]


# -- the policy value ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "at least one of keep_last, keep_best or ttl"),
        ({"keep_last": 0}, "keep_last must be between 1"),
        ({"keep_last": -2}, "keep_last must be between 1"),
        ({"keep_last": True}, "keep_last must be a whole number"),
        ({"keep_best": 2}, "keep_best needs the metric"),
        ({"keep_best": -1, "metric": "acc"}, "keep_best must be between 1"),
        ({"keep_last": 1, "metric": "acc"}, "only used by keep_best"),
        ({"keep_last": 1, "metric_mode": "min"}, "metric_mode needs a metric"),
        ({"keep_best": 1, "metric": "acc", "metric_mode": "avg"}, "max or min"),
        ({"keep_last": 1, "group_by": "kind"}, "group_by must be one of"),
        ({"ttl_seconds": 0}, "ttl_seconds must be between 1"),
        ({"ttl_seconds": -60}, "ttl_seconds must be between 1"),
        ({"ttl_seconds": 1.5}, "ttl_seconds must be a whole number"),
        ({"ttl_seconds": 10**12}, "100 years"),
        ({"keep_last": 1, "kind": ""}, "kind must not be empty"),
        ({"keep_last": 1, "run_id": "r\x00"}, "non-printable"),
        ({"keep_last": 1, "created_at": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_a_policy_refuses_what_cannot_mean_anything(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        RetentionPolicy(**fields)


def test_a_policy_round_trips_and_reads_as_words() -> None:
    policy = RetentionPolicy(
        kind="checkpoint",
        group_by="run",
        keep_last=3,
        keep_best=1,
        metric="acc",
        ttl_seconds=86400 * 30,
    )
    assert policy.metric_mode == "max"  # the default once there is a metric
    assert RetentionPolicy.from_dict(policy.to_dict()) == policy
    assert policy.describe() == (
        "keep the last 3 per run, the best 1 per run by acc (max), what is younger than 30d "
        "and pinned ones"
    )
    assert RetentionPolicy(ttl_seconds=3600).describe() == (
        "keep what is younger than 1h and pinned ones"
    )
    assert [format_duration(s) for s in (45, 90 * 60, 12 * 3600, 86400 * 7, 61)] == [
        "45s",
        "90m",
        "12h",
        "7d",
        "61s",
    ]


def test_policies_are_kept_listed_per_org_and_removed(index: Index) -> None:
    store = policies_of(index)
    wide = RetentionPolicy(ttl_seconds=60, created_at=T0)
    ours = RetentionPolicy(org_id="o1", kind="log", keep_last=2, created_by="u1", created_at=T0)
    theirs = RetentionPolicy(org_id="o2", keep_best=1, metric="loss", metric_mode="min")
    for policy in (theirs, ours, wide):
        store.add_policy(policy)
    with pytest.raises(ConflictError):
        store.add_policy(ours)
    every = store.list_policies()
    assert {p.policy_id for p in every} == {wide.policy_id, ours.policy_id, theirs.policy_id}
    assert every[-1] == theirs  # oldest first
    assert store.list_policies(org_id="o1") == [ours]
    assert store.get_policy(theirs.policy_id) == theirs
    assert store.get_policy("nope") is None
    assert store.get_policy("n\x00pe") is None
    assert store.delete_policy(ours.policy_id) is True
    assert store.delete_policy(ours.policy_id) is False
    assert store.list_policies(org_id="o1") == []


# -- planning, by example ------------------------------------------------------------------


def test_keep_last_per_run_spares_pins_running_runs_and_pending_uploads(index: Index) -> None:
    day = timedelta(days=1)
    r1 = [make(created=T0 + i * day, run_id="r1") for i in range(5)]
    pinned_old = make(created=T0 - day, run_id="r1", pinned=True)
    running = [make(created=T0 + i * day, run_id="r2") for i in range(4)]
    pending = make(created=T0 - 2 * day, run_id="r1", status="pending")
    other_kind = make(created=T0 - 3 * day, run_id="r1", kind="log")
    commit(index, [*r1, pinned_old, *running, pending, other_kind])
    policy = RetentionPolicy(kind="checkpoint", group_by="run", keep_last=2)
    found = expired(index, now=NOW, policies=[policy])
    assert ids(found) == [a.artifact_id for a in r1[:3]]  # oldest first
    assert {e.reason for e in found} == {"not among the last 2 of run r1"}
    assert found[0].name == "model.ckpt" and found[0].run_id == "r1"
    assert found[0].created_at == T0 and found[0].policy_id == policy.policy_id


def test_ttl_counts_back_from_now_and_an_artifact_expires_at_its_age(index: Index) -> None:
    due = make(created=NOW - timedelta(days=30))
    young = make(created=NOW - timedelta(days=30) + timedelta(microseconds=1))
    old = make(created=NOW - timedelta(days=31), kind="log")
    commit(index, [due, young, old])
    policy = RetentionPolicy(ttl_seconds=30 * 86400)
    found = expired(index, now=NOW, policies=[policy])
    assert ids(found) == [old.artifact_id, due.artifact_id]
    assert found[0].reason == "older than 30d"
    with pytest.raises(ValidationError):
        expired(index, now=NOW.replace(tzinfo=None), policies=[policy])


def test_keep_best_ranks_by_metric_and_never_counts_an_artifact_without_it(index: Index) -> None:
    hour = timedelta(hours=1)
    low = make(created=T0, metrics={"loss": 0.1})
    tie_old = make(created=T0 + hour, metrics={"loss": 0.2})
    tie_new = make(created=T0 + 2 * hour, metrics={"loss": 0.2})
    high = make(created=T0 + 3 * hour, metrics={"loss": 0.9})
    bare = make(created=T0 + 4 * hour, metrics={"acc": 0.5})
    commit(index, [low, tie_old, tie_new, high, bare])
    policy = RetentionPolicy(keep_best=2, metric="loss", metric_mode="min")
    found = {e.artifact_id: e.reason for e in expired(index, now=NOW, policies=[policy])}
    assert found == {
        tie_old.artifact_id: "not among the best 2 by loss (min)",  # the newer wins a tie
        high.artifact_id: "not among the best 2 by loss (min)",
        bare.artifact_id: "no loss metric",
    }


def test_a_run_policy_covers_its_experiments_and_keeping_wins(index: Index) -> None:
    day = timedelta(days=1)
    family = [
        make(created=T0 + day, run_id="r1"),
        make(created=T0 + 2 * day, run_id="r1-exp0"),
        make(created=T0 + 3 * day, run_id="r1-exp0-a"),
    ]
    outside = make(created=T0, run_id="r3")
    commit(index, [*family, outside])
    last_one = RetentionPolicy(run_id="r1", keep_last=1)
    assert ids(expired(index, now=NOW, policies=[last_one])) == ids_of(family[:2])
    branch = RetentionPolicy(run_id="r1-exp0", keep_last=1)
    assert ids(expired(index, now=NOW, policies=[branch])) == ids_of(family[1:2])
    # The branch policy keeps r1-exp0's newest, which the run policy expires: kept.
    young = RetentionPolicy(run_id="r1-exp0", ttl_seconds=int((NOW - T0).total_seconds()) - 1)
    assert young.ttl_seconds is not None
    both = expired(index, now=NOW, policies=[last_one, young])
    assert ids(both) == ids_of(family[:1])
    assert both[0].policy_id == last_one.policy_id


def ids_of(arts: list[Artifact]) -> list[str]:
    return [a.artifact_id for a in arts]


def test_stored_policies_apply_per_org_and_preview_shows_one(index: Index) -> None:
    mine = [make(created=T0 + timedelta(hours=i), org_id="o1") for i in range(3)]
    theirs = [make(created=T0 + timedelta(hours=i), org_id="o2") for i in range(3)]
    commit(index, [*mine, *theirs])
    store = policies_of(index)
    ours = RetentionPolicy(org_id="o1", keep_last=1, created_at=T0)
    half_hour_in = int((NOW - T0).total_seconds()) - 1800
    wide = RetentionPolicy(ttl_seconds=half_hour_in, created_at=T0 + timedelta(seconds=1))
    store.add_policy(ours)
    assert ids(expired(index, now=NOW)) == ids_of(mine[:2])
    store.add_policy(wide)
    # The store-wide ttl keeps mine[1], which ours expires: keeping wins.
    assert sorted(ids(expired(index, now=NOW))) == sorted(ids_of([mine[0], *theirs[:1]]))
    assert ids(preview(index, ours.policy_id, now=NOW)) == ids_of(mine[:2])
    assert ids(preview(index, ours.policy_id, now=NOW, org_id="o1")) == ids_of(mine[:2])
    with pytest.raises(NotFoundError):
        preview(index, ours.policy_id, now=NOW, org_id="o2")
    with pytest.raises(NotFoundError):
        preview(index, wide.policy_id, now=NOW, org_id="o1")  # store-wide: not an org's
    with pytest.raises(NotFoundError):
        preview(index, "missing", now=NOW)


# -- planning, against a brute-force oracle --------------------------------------------


@dataclass(frozen=True)
class Item:
    artifact_id: str
    created: datetime
    kind: str
    run_id: str | None
    name: str | None
    pinned: bool
    metrics: dict[str, float]
    org_id: str | None
    status: str


def _family(run_id: str) -> set[str]:
    found = {run_id}
    while True:
        more = {r for r, (parent, _) in RUNS.items() if parent in found} - found
        if not more:
            return found
        found |= more


def _selects(p: RetentionPolicy, a: Item) -> bool:
    return (
        a.status == "completed"
        and (p.org_id is None or a.org_id == p.org_id)
        and (p.kind is None or a.kind == p.kind)
        and (p.run_id is None or a.run_id in _family(p.run_id))
    )


def _group(p: RetentionPolicy, a: Item) -> object:
    return {"all": None, "run": a.run_id, "name": a.name}[p.group_by]


def _oracle_expires(p: RetentionPolicy, a: Item, items: list[Item], now: datetime) -> bool:
    """One policy, one artifact, by counting: nothing shared with the implementation."""
    if a.pinned:
        return False
    peers = [b for b in items if _selects(p, b) and _group(p, b) == _group(p, a)]
    if p.keep_last is not None:
        newer = [b for b in peers if (b.created, b.artifact_id) > (a.created, a.artifact_id)]
        if len(newer) < p.keep_last:
            return False
    if p.keep_best is not None and p.metric in a.metrics:
        mine = a.metrics[p.metric]

        def better(b: Item) -> bool:
            theirs = b.metrics[p.metric]  # type: ignore[index]
            if theirs != mine:
                return theirs > mine if p.metric_mode == "max" else theirs < mine
            return (b.created, b.artifact_id) > (a.created, a.artifact_id)

        if len([b for b in peers if p.metric in b.metrics and better(b)]) < p.keep_best:
            return False
    return not (p.ttl_seconds is not None and a.created > now - timedelta(seconds=p.ttl_seconds))


def oracle(policies: list[RetentionPolicy], items: list[Item], now: datetime) -> dict[str, str]:
    found = {}
    for a in items:
        selecting = [p for p in policies if _selects(p, a)]
        if not selecting or (a.run_id is not None and RUNS.get(a.run_id, ("", ""))[1] == "running"):
            continue
        if all(_oracle_expires(p, a, items, now) for p in selecting):
            found[a.artifact_id] = selecting[0].policy_id
    return found


def _random_items(rng: random.Random, count: int) -> list[Item]:
    times = [T0 + timedelta(hours=h) for h in rng.sample(range(0, 40 * 24), 25)]
    items = []
    for _ in range(count):
        metrics = {}
        if rng.random() < 0.7:
            metrics["acc"] = rng.choice([0.1, 0.5, 0.5, 0.9, 0.95])
        if rng.random() < 0.3:
            metrics["loss"] = rng.choice([1.0, 2.0, 2.0, 3.5])
        items.append(
            Item(
                artifact_id=new_id(),
                created=rng.choice(times),  # ties in time are common
                kind=rng.choice(["checkpoint", "checkpoint", "log"]),
                run_id=rng.choice([*RUNS, None, "ghost"]),
                name=rng.choice(["a.ckpt", "b.ckpt", None]),
                pinned=rng.random() < 0.15,
                metrics=metrics,
                org_id=rng.choice(["o1", "o1", "o2", None]),
                status="pending" if rng.random() < 0.1 else "completed",
            )
        )
    return items


def _random_policy(rng: random.Random, serial: int) -> RetentionPolicy:
    while True:
        fields: dict[str, Any] = {
            "org_id": rng.choice([None, "o1", "o2"]),
            "kind": rng.choice([None, "checkpoint", "log"]),
            "run_id": rng.choice([None, None, "r1", "r1-exp0", "r2", "ghost"]),
            "group_by": rng.choice(["all", "run", "name"]),
            "created_at": T0 + timedelta(seconds=serial),
        }
        if rng.random() < 0.6:
            fields["keep_last"] = rng.randint(1, 6)
        if rng.random() < 0.5:
            fields["keep_best"] = rng.randint(1, 4)
            fields["metric"] = rng.choice(["acc", "loss"])
            fields["metric_mode"] = rng.choice(["max", "min", None])
        if rng.random() < 0.5:
            fields["ttl_seconds"] = rng.randint(1, 40 * 86400)
        try:
            return RetentionPolicy(**fields)
        except ValidationError:
            continue


@pytest.mark.parametrize("seed", [1, 2])
def test_expired_matches_a_brute_force_oracle(index: Index, seed: int) -> None:
    rng = random.Random(seed)
    items = _random_items(rng, 160)
    commit(
        index,
        [
            make(
                created=i.created,
                kind=i.kind,
                run_id=i.run_id,
                name=i.name,
                pinned=i.pinned,
                metrics=i.metrics,
                org_id=i.org_id,
                status=i.status,
                artifact_id=i.artifact_id,
            )
            for i in items
        ],
    )
    stored = items
    checked = 0
    for round_ in range(12):
        policies = [_random_policy(rng, 10 * round_ + n) for n in range(rng.randint(1, 3))]
        want = oracle(policies, stored, NOW)
        got = expired(index, now=NOW, policies=policies)
        assert {e.artifact_id: e.policy_id for e in got} == want, policies
        assert ids(got) == sorted(ids(got), key=lambda i: (_by_id(stored)[i].created, i))
        checked += len(want)
    assert checked > 50  # the rounds expired enough to mean something
    # The stored policies plan the same as the same policies given.
    for policy in policies:
        policies_of(index).add_policy(policy)
    assert {e.artifact_id for e in expired(index, now=NOW)} == set(oracle(policies, stored, NOW))


def _by_id(items: list[Item]) -> dict[str, Item]:
    return {i.artifact_id: i for i in items}
