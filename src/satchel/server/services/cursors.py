"""The opaque cursor of a page of runs: the last run's start time and id (keyset paging)."""

from __future__ import annotations

import base64
import binascii
import json

from satchel.errors import ValidationError
from satchel.index.base import RunPosition
from satchel.models import Run, format_time

__all__ = ["run_cursor", "run_position"]


def run_cursor(run: Run) -> str:
    """The cursor of the page after ``run``."""
    assert run.started_at is not None
    raw = json.dumps({"t": format_time(run.started_at), "i": run.run_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def run_position(cursor: str) -> RunPosition:
    """The position a cursor names; ``ValidationError`` for anything else."""
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return RunPosition(started_at=str(body["t"]), run_id=str(body["i"]))
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValidationError("not a valid cursor") from exc
