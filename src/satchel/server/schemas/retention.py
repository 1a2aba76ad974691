"""Retention policies and a policy's dry run."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from satchel.retention import MAX_COUNT, MAX_TTL_SECONDS, Expiry, RetentionPolicy
from satchel.server.schemas.common import Strict

__all__ = ["ExpiryOut", "PreviewOut", "RetentionIn", "RetentionOut"]

Short = Annotated[str, Field(min_length=1, max_length=255)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]


class RetentionIn(Strict):
    """A new policy of the caller's org (docs/cli.md, Retention, for the rules)."""

    name: Short | None = None
    kind: Short | None = None
    run_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    group_by: Literal["all", "run", "name"] = "all"
    keep_last: Count | None = None
    keep_best: Count | None = None
    metric: Short | None = None
    metric_mode: Literal["max", "min"] | None = None
    ttl_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = None


class RetentionOut(BaseModel):
    policy_id: str
    org_id: str | None
    name: str | None
    kind: str | None
    run_id: str | None
    group_by: Literal["all", "run", "name"]
    keep_last: int | None
    keep_best: int | None
    metric: str | None
    metric_mode: Literal["max", "min"] | None
    ttl_seconds: int | None
    created_by: str | None
    created_at: str
    #: The rules in words (``keep the last 3 per run and pinned ones``).
    description: str

    @classmethod
    def of(cls, policy: RetentionPolicy) -> RetentionOut:
        return cls(**policy.to_dict(), description=policy.describe())


class ExpiryOut(BaseModel):
    artifact_id: str
    name: str | None
    run_id: str | None
    created_at: str | None
    reason: str

    @classmethod
    def of(cls, expiry: Expiry) -> ExpiryOut:
        found = expiry.to_dict()
        del found["policy_id"]
        return cls(**found)


class PreviewOut(BaseModel):
    """What a policy alone would remove now (oldest first); nothing is removed."""

    policy: RetentionOut
    as_of: str
    count: int
    items: list[ExpiryOut]
