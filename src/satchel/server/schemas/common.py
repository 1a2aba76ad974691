"""Bodies every area shares: pages, the server's description."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from satchel.models import format_time

__all__ = ["Health", "Info", "Page", "Strict", "plain"]

T = TypeVar("T")


def plain(value: Any, **renamed: str) -> dict[str, Any]:
    """A frozen dataclass as an answer's fields: times as RFC 3339, fields ``renamed``."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(value):
        item = getattr(value, field.name)
        out[renamed.get(field.name, field.name)] = (
            format_time(item) if isinstance(item, datetime) else item
        )
    return out


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
    presigned_multipart: bool
