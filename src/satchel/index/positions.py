"""Recorded order: where an artifact (or vector) row stands, on either dialect.

Paging a ranked search over the same rows (``recorded_until``) and the background indexers'
watermarks ("every row up to N is indexed") both need a position that only grows in the
order rows become visible. SQLite has it for free: its rowid, drawn under the one write lock.

PostgreSQL's ``seq`` identity column does not have it by itself: a sequence value is drawn at
INSERT, not at COMMIT, so a transaction holding position 7 can commit after one holding 8 is
already visible, and a watermark that passed 8 would skip 7 forever. So every transaction
that draws positions first takes one advisory transaction lock (``claim``), held until its
commit has become visible: positions are drawn in commit order, and a reader that sees
position N sees every committed position below it. Only the short save and vector-store
transactions take it; a text catch-up or a migration never does.

Locks are keyed by the schema (``current_schema()``), so two satchel indexes in one database
never wait for each other; only migrations share one lock per database, as they may create
the database-wide ``pg_trgm`` extension.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import BigInteger, Connection, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

__all__ = [
    "ARTIFACT_POSITION",
    "CLAIM_SQL",
    "VECTOR_POSITION",
    "ArtifactPosition",
    "VectorPosition",
    "claim",
    "hold",
]


class ArtifactPosition(ColumnElement[int]):
    """The recorded position of an ``artifacts`` row: ``rowid`` or ``seq`` by dialect."""

    __visit_name__ = "satchel_artifact_position"
    inherit_cache = True
    _traverse_internals: list[Any] = []  # noqa: RUF012 - SQLAlchemy reads it: no state
    type: TypeEngine[int] = BigInteger()


class VectorPosition(ColumnElement[int]):
    """The recorded position of an ``artifact_vectors`` row: ``rowid`` or ``seq``."""

    __visit_name__ = "satchel_vector_position"
    inherit_cache = True
    _traverse_internals: list[Any] = []  # noqa: RUF012 - SQLAlchemy reads it: no state
    type: TypeEngine[int] = BigInteger()


@compiles(ArtifactPosition)
def _artifact_rowid(_element: ArtifactPosition, _compiler: Any, **_kw: Any) -> str:
    return "artifacts.rowid"


@compiles(ArtifactPosition, "postgresql")
def _artifact_seq(_element: ArtifactPosition, _compiler: Any, **_kw: Any) -> str:
    return "artifacts.seq"


@compiles(VectorPosition)
def _vector_rowid(_element: VectorPosition, _compiler: Any, **_kw: Any) -> str:
    return "artifact_vectors.rowid"


@compiles(VectorPosition, "postgresql")
def _vector_seq(_element: VectorPosition, _compiler: Any, **_kw: Any) -> str:
    return "artifact_vectors.seq"


ARTIFACT_POSITION: Final = ArtifactPosition()
VECTOR_POSITION: Final = VectorPosition()

_LOCK_SQL: Final = "SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext({name}))"
#: The statement that opens a PostgreSQL save transaction (``RawWriter``): the positions lock.
CLAIM_SQL: Final = _LOCK_SQL.format(name="'satchel:positions'")


def hold(conn: Connection, name: str, *, database: bool = False) -> None:
    """Serialise, until this transaction ends, every transaction that holds ``name``.

    SQLite needs nothing: its write transactions (``BEGIN IMMEDIATE``) already run one at a
    time. On PostgreSQL, a transaction-scoped advisory lock per schema and name (per
    database and name with ``database``).
    """
    if conn.dialect.name == "postgresql":
        sql = _LOCK_SQL.format(name=":name")
        if database:
            sql = sql.replace("hashtext(current_schema())", "0")
        conn.execute(text(sql), {"name": f"satchel:{name}"})


def claim(conn: Connection) -> None:
    """Take the positions lock before drawing positions (see the module docstring)."""
    hold(conn, "positions")
