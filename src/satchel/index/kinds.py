"""The distinct kinds of the stored artifacts, read off ``ix_artifacts_kind`` alone.

A ``SELECT DISTINCT kind`` reads every entry of the index (a million at a million
artifacts); a loose index scan asks for the smallest kind after the previous one, one
index probe per kind, so its cost follows the number of kinds, not of artifacts. The same
recursive statement runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection, text

__all__ = ["distinct_kinds"]

_LOOSE_SCAN: Final = text(
    """
    WITH RECURSIVE found(kind) AS (
        SELECT (SELECT min(kind) FROM artifacts)
        UNION ALL
        SELECT (SELECT min(a.kind) FROM artifacts a WHERE a.kind > found.kind)
        FROM found WHERE found.kind IS NOT NULL
    )
    SELECT kind FROM found WHERE kind IS NOT NULL LIMIT :limit
    """
)


def distinct_kinds(conn: Connection, limit: int) -> list[str]:
    """Up to ``limit`` distinct non-null kinds, in text order."""
    return [str(row.kind) for row in conn.execute(_LOOSE_SCAN, {"limit": limit})]
