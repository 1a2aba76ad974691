"""The usage figures' answer (``GET /api/v1/usage``): ``satchel.usage.UsageReport``'s JSON."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["OrgUsageOut", "UsageOut", "UsageReportOut", "UserUsageOut"]


class UsageOut(BaseModel):
    """One scope's figures (``satchel.usage.Usage``)."""

    artifacts: int
    pending: int
    files: int
    bytes: int
    dedup_bytes: int
    pinned: int
    pinned_bytes: int


class UserUsageOut(UsageOut):
    user_id: str | None
    email: str | None


class OrgUsageOut(UsageOut):
    org_id: str | None
    name: str | None
    users: list[UserUsageOut]


class UsageReportOut(BaseModel):
    """The caller's org (one item in ``orgs``); ``total`` (the whole store's) is always
    null over the API: no caller sees beyond their org."""

    total: UsageOut | None
    orgs: list[OrgUsageOut]
