"""The distinct kinds of the stored artifacts, or of those one reader may read.

A ``SELECT DISTINCT kind`` reads every entry of an index (a million at a million
artifacts); a loose index scan asks for the smallest kind after the previous one, one
index probe per kind, so its cost follows the number of kinds, not of artifacts. The same
recursive statements run on SQLite and PostgreSQL.

For a reader, the kinds are those of its organisation's artifacts (``ix_artifacts_org_kind``,
migration 0007; a user's own artifacts carry its organisation) and those of the artifacts
granted to its email or its organisation (read through the grants, so their cost follows
the number of grants to the reader).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection, text

from satchel.index.base import Reader

__all__ = ["distinct_kinds", "reader_kinds"]

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

_ORG_SCAN: Final = text(
    """
    WITH RECURSIVE found(kind) AS (
        SELECT (SELECT min(kind) FROM artifacts WHERE org_id = :org)
        UNION ALL
        SELECT (SELECT min(a.kind) FROM artifacts a WHERE a.org_id = :org AND a.kind > found.kind)
        FROM found WHERE found.kind IS NOT NULL
    )
    SELECT kind FROM found WHERE kind IS NOT NULL LIMIT :limit
    """
)

# Completed artifacts only: a grant may name an artifact whose upload is still pending.
_GRANTED: Final = text(
    """
    SELECT DISTINCT a.kind FROM grants g JOIN artifacts a ON a.artifact_id = g.artifact_id
    WHERE (g.recipient_email = :email OR g.recipient_org_id = :org)
      AND a.status = 'completed' AND a.kind IS NOT NULL
    LIMIT :limit
    """
)


def distinct_kinds(conn: Connection, limit: int) -> list[str]:
    """Up to ``limit`` distinct non-null kinds, in text order."""
    return [str(row.kind) for row in conn.execute(_LOOSE_SCAN, {"limit": limit})]


def reader_kinds(conn: Connection, reader: Reader, limit: int) -> list[str]:
    """Up to ``limit`` distinct kinds of what ``reader`` may read (of its organisation's,
    pending ones included, and of those granted to it), in text order."""
    found = {str(r.kind) for r in conn.execute(_ORG_SCAN, {"org": reader.org_id, "limit": limit})}
    granted = conn.execute(
        _GRANTED, {"email": reader.email.lower(), "org": reader.org_id, "limit": limit}
    )
    found.update(str(r.kind) for r in granted)
    return sorted(found)[:limit]
