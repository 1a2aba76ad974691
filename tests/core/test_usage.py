"""Usage figures (``UsageFigures``) on every index backend, against a brute-force count.

A seeded mix of orgs (one of them none: embedded saves), users (one of them none),
artifacts of one to four files drawn from a small pool of contents (so the same bytes recur
within a user, across users of one org and across orgs), small files kept inline, pending
uploads (some of their files already completed) and pins. The expected figures are counted
in Python over the inputs as saved, with no SQL: ``satchel.usage`` is the definition.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from satchel.access import may_see_usage
from satchel.index import ArtifactWrite, Index
from satchel.index.base import UsageFigures
from satchel.models import Artifact, ArtifactFile, format_time
from satchel.tenancy.base import Actor
from satchel.usage import OrgUsage, Usage, UsageReport, UserUsage

T0 = datetime(2026, 6, 1, tzinfo=UTC)
ORGS: dict[str | None, list[str | None]] = {
    "org-a": ["ua1", "ua2", "ua3"],
    "org-b": ["ub1", None],
    None: [None, "local"],
}


@dataclass
class Saved:
    artifact: Artifact
    pinned: bool = False


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _scenario(seed: int, count: int) -> list[Saved]:
    rng = random.Random(seed)
    pool = [rng.randbytes(rng.choice((3, 40, 700, 5000, 20000))) for _ in range(12)]
    saved = []
    for i in range(count):
        org = rng.choice(list(ORGS))
        user = rng.choice(ORGS[org])
        pending = rng.random() < 0.2
        files = []
        for n in range(rng.randint(1, 4)):
            data = rng.choice(pool)
            done = not pending or n % 2 == 1
            files.append(
                ArtifactFile(
                    path=f"d/f{n}.bin",
                    sha256=_sha(data),
                    bytes=len(data),
                    status="completed" if done else "pending",
                )
            )
        when = T0 + timedelta(seconds=i)
        pinned = rng.random() < 0.3
        artifact = Artifact(
            artifact_id=f"{i:026d}",
            name=f"a{i}",
            kind="model",
            status="pending" if pending else "completed",
            sha256=_sha(str(i).encode()),
            bytes=sum(f.bytes for f in files),
            created_at=when,
            updated_at=when,
            org_id=org,
            user_id=user,
            files=files,
            pinned=pinned and pending,  # a pin asked for at creation: counted once completed
        )
        saved.append(Saved(artifact=artifact, pinned=pinned))
    return saved


def _commit(index: Index, saved: list[Saved]) -> None:
    """Save as the store does: files up to 1,000 bytes inline, the others as blobs."""
    writes = []
    for s in saved:
        inline = {}
        for f in s.artifact.files:
            if f.bytes <= 1000:
                inline[f.sha256] = b"x" * f.bytes  # the index keeps them; only sizes count here
        writes.append(ArtifactWrite(artifact=s.artifact, inline_blobs=inline))
    index.commit_writes(writes)
    for s in saved:
        if s.artifact.status == "completed":
            index.set_pinned(s.artifact.artifact_id, s.pinned, updated_at=format_time(T0))


def _figures(saved: Iterable[Saved]) -> Usage:
    items = list(saved)
    done = [s for s in items if s.artifact.status == "completed"]
    files = [f for s in done for f in s.artifact.files]
    digests = {f.sha256: f.bytes for f in files}
    return Usage(
        artifacts=len(done),
        pending=sum(1 for s in items if s.artifact.status == "pending"),
        files=len(files),
        bytes=sum(f.bytes for f in files),
        dedup_bytes=sum(digests.values()),
        pinned=sum(1 for s in done if s.pinned),
        pinned_bytes=sum(f.bytes for s in done if s.pinned for f in s.artifact.files),
    )


def _order(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


def _expected(saved: list[Saved], org_id: str | None = None, *, every: bool) -> UsageReport:
    by_org: dict[str | None, dict[str | None, list[Saved]]] = defaultdict(lambda: defaultdict(list))
    for s in saved:
        if every or s.artifact.org_id == org_id:
            by_org[s.artifact.org_id][s.artifact.user_id].append(s)
    if not every:
        by_org.setdefault(org_id, defaultdict(list))
    orgs = tuple(
        OrgUsage(
            org_id=org,
            figures=_figures(s for rows in users.values() for s in rows),
            users=tuple(
                UserUsage(user_id=user, figures=_figures(users[user]))
                for user in sorted(users, key=_order)
            ),
        )
        for org, users in sorted(by_org.items(), key=lambda item: _order(item[0]))
    )
    return UsageReport(orgs=orgs, total=_figures(saved) if every else None)


def test_figures_match_a_brute_force_count(index: Index) -> None:
    assert isinstance(index, UsageFigures)
    assert index.usage() == UsageReport(total=Usage())  # an empty store: zeros, no org
    saved = _scenario(seed=8, count=90)
    _commit(index, saved)
    want = _expected(saved, every=True)
    # The scenario holds what the figures are about, so that a wrong sum shows.
    assert want.total is not None and want.total.pinned and want.total.pending
    assert want.total.dedup_bytes < sum(o.figures.dedup_bytes for o in want.orgs)
    org_a = next(o for o in want.orgs if o.org_id == "org-a")
    assert org_a.figures.dedup_bytes < sum(u.figures.dedup_bytes for u in org_a.users)
    assert org_a.figures.dedup_bytes < org_a.figures.bytes

    assert index.usage() == want
    for org in ORGS:
        if org is not None:
            assert index.usage(org_id=org) == _expected(saved, org, every=False)
    assert index.usage(org_id="org-none") == UsageReport(
        orgs=(OrgUsage(org_id="org-none", figures=Usage()),)
    )
    assert index.usage(org_id="o\x00") == UsageReport()


def test_figures_follow_deletes_and_unpins(index: Index) -> None:
    assert isinstance(index, UsageFigures)
    saved = _scenario(seed=80, count=40)
    _commit(index, saved)
    done = [s for s in saved if s.artifact.status == "completed"]
    for s in done[:5]:
        index.delete_artifact(s.artifact.artifact_id)
    for s in done[5:10]:
        index.set_pinned(s.artifact.artifact_id, False, updated_at=format_time(T0))
    kept = [replace(s, pinned=False) if s in done[5:10] else s for s in saved if s not in done[:5]]
    assert index.usage() == _expected(kept, every=True)


def test_who_sees_which_usage_row() -> None:
    member = Actor(user_id="u1", org_id="o1", email="m@example.com", role="member")
    admin = replace(member, user_id="u2", role="admin")
    job = replace(admin, run_id="r1")  # an admin's job token is no admin
    assert may_see_usage(member, "o1", "u1")
    assert not may_see_usage(member, "o1", "u2")
    assert not may_see_usage(member, "o1", None)
    assert may_see_usage(admin, "o1", "u1") and may_see_usage(admin, "o1", None)
    assert may_see_usage(job, "o1", "u2") and not may_see_usage(job, "o1", "u1")
    for actor in (member, admin, job):
        assert not may_see_usage(actor, "o2", actor.user_id)
        assert not may_see_usage(actor, None, actor.user_id)
