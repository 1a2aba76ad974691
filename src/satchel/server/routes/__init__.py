"""The routers, one per area, and the error answers every route documents."""

from __future__ import annotations

from typing import Any, Final

from satchel.server.errors import ErrorBody

__all__ = ["ERRORS", "errors"]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, all in the one error shape."""
    return {status: {"model": ErrorBody} for status in statuses}


#: What any authenticated route may answer besides its success.
ERRORS: Final = errors(401, 403, 404, 409, 413, 422)
