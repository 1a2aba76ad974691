"""Usage figures: what a store holds, per organisation and per user (``satchel usage``).

The figures an operator of W&B, MLflow or DVC expects, all of them counted over
**completed** artifacts (an upload in progress is only counted, as ``pending``):

- ``artifacts``: completed artifacts; ``pending``: uploads not completed yet.
- ``files`` and ``bytes``: their files and the sum of those files' sizes (the logical size,
  what downloading all of them would read; a small file kept inline in the index counts
  like any other).
- ``dedup_bytes``: the bytes of the **distinct** contents (SHA-256 digests) those files
  reference: a blob shared by two artifacts of the same scope counts once. Summed over the
  users of an org it can be more than the org's own figure (two users saving the same
  bytes); the store-wide figure counts each digest once across every org, which is what
  the blob store (and the index's inline blobs) must hold for the completed artifacts,
  uploads in progress and garbage left out.
- ``pinned`` and ``pinned_bytes``: the completed artifacts pinned for retention and their
  logical bytes.

A user's row is its artifacts' creator (``user_id``) within the artifact's org
(``org_id``); the embedded SDK saves without either, so those rows have ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["OrgUsage", "Usage", "UsageReport", "UserUsage", "with_people"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """The figures of one scope (a user in an org, an org, or the whole store)."""

    artifacts: int = 0
    pending: int = 0
    files: int = 0
    bytes: int = 0
    dedup_bytes: int = 0
    pinned: int = 0
    pinned_bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        """The figures as a JSON-ready dict (the API's and ``satchel usage --json``'s)."""
        return {
            "artifacts": self.artifacts,
            "pending": self.pending,
            "files": self.files,
            "bytes": self.bytes,
            "dedup_bytes": self.dedup_bytes,
            "pinned": self.pinned,
            "pinned_bytes": self.pinned_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        """The figures of a ``to_dict`` document (unknown keys ignored)."""
        return cls(
            artifacts=int(data["artifacts"]),
            pending=int(data["pending"]),
            files=int(data["files"]),
            bytes=int(data["bytes"]),
            dedup_bytes=int(data["dedup_bytes"]),
            pinned=int(data["pinned"]),
            pinned_bytes=int(data["pinned_bytes"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUsage:
    """One creator's figures within one org; ``email`` is filled in by whoever knows it
    (the server and the CLI, from the directory), never by the index."""

    user_id: str | None
    figures: Usage
    email: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "email": self.email, **self.figures.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserUsage:
        return cls(
            user_id=data.get("user_id"), email=data.get("email"), figures=Usage.from_dict(data)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgUsage:
    """One org's figures, and its users' (by ``user_id``, a ``None`` user first)."""

    org_id: str | None
    figures: Usage
    users: tuple[UserUsage, ...] = ()
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "name": self.name,
            **self.figures.to_dict(),
            "users": [u.to_dict() for u in self.users],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrgUsage:
        return cls(
            org_id=data.get("org_id"),
            name=data.get("name"),
            figures=Usage.from_dict(data),
            users=tuple(UserUsage.from_dict(u) for u in data.get("users", ())),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageReport:
    """The figures of every org asked for; ``total`` is the whole store's (only when every
    org was asked for: a caller who sees one org never sees the store's figures)."""

    orgs: tuple[OrgUsage, ...] = ()
    total: Usage | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": None if self.total is None else self.total.to_dict(),
            "orgs": [o.to_dict() for o in self.orgs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UsageReport:
        total = data.get("total")
        return cls(
            total=None if total is None else Usage.from_dict(total),
            orgs=tuple(OrgUsage.from_dict(o) for o in data.get("orgs", ())),
        )


def _by_user(row: UserUsage) -> tuple[bool, str]:
    return (row.user_id is not None, row.user_id or "")


def with_people(
    report: UsageReport,
    *,
    emails: Mapping[str, str],
    org_names: Mapping[str, str],
    members: Mapping[str, Iterable[str]] | None = None,
    orgs: Iterable[str] = (),
) -> UsageReport:
    """``report`` with each user's email and each org's name (from the directory), a row of
    zeros for each of ``members`` (org id -> user ids) who holds no artifact yet, and one
    for each of ``orgs`` that holds none.

    Members gain rows only in the orgs the report (or ``orgs``) holds; orgs stay in
    ``org_id`` order and users in ``user_id`` order (``None`` first).
    """
    found = {o.org_id: o for o in report.orgs}
    for org_id in orgs:
        found.setdefault(org_id, OrgUsage(org_id=org_id, figures=Usage()))
    named = []
    for org in sorted(found.values(), key=lambda o: (o.org_id is not None, o.org_id or "")):
        rows = {u.user_id: u for u in org.users}
        if org.org_id is not None and members is not None:
            for user_id in members.get(org.org_id, ()):
                rows.setdefault(user_id, UserUsage(user_id=user_id, figures=Usage()))
        users = tuple(
            replace(u, email=emails.get(u.user_id) if u.user_id is not None else None)
            for u in sorted(rows.values(), key=_by_user)
        )
        name = org_names.get(org.org_id) if org.org_id is not None else None
        named.append(replace(org, name=name, users=users))
    return replace(report, orgs=tuple(named))
