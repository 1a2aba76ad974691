"""Bodies every area shares: pages, the server's description."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Health", "Info", "Page", "Strict"]

T = TypeVar("T")


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back for the next (None: the last)."""

    items: list[T]
    next_cursor: str | None = None


class Health(BaseModel):
    status: str


class Info(BaseModel):
    """What a client needs to know about this server."""

    version: str
    chunk_size: int
    content_max: int
    body_max: int
    link_default_expiry: int
    link_max_expiry: int
    presigned_uploads: bool
