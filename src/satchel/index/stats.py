"""Planner statistics for SQLite: ``ANALYZE`` whenever the artifacts table has doubled.

Without statistics SQLite guesses how many rows an index lookup finds, and with a metric
sort it may then walk a whole kind in metric order looking for one run's few artifacts, or
sort a whole kind when the rank index would have served. ``ANALYZE`` records real figures
(``sqlite_stat1``) for the two tables whose indexes the planner chooses between,
``artifacts`` and ``artifact_metrics`` (labels and tags are only probed by primary key).
It reads every index entry: ``PRAGMA analysis_limit`` samples only the first entries of an
index, which says "1,000 rows per kind" whatever the truth. About 1.5 s at a million
artifacts.

When: at the first search (structured or text) once the store has ``MIN_ROWS`` artifacts,
and again at a search whenever the artifacts table has grown to twice the size it had at
the last ``ANALYZE``: about log2(N) times over a store's life, never on the save path.
``search_watermarks`` keeps the size (newest rowid) it had then.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection
from sqlalchemy import text as sql_text

from satchel.index.pending import newest_position, set_watermark, watermark

__all__ = ["ANALYZED", "analyze", "is_stale"]

#: The tables ``ANALYZE`` reads.
ANALYZED: Final = ("artifacts", "artifact_metrics")
#: Tables this small are planned well enough without statistics.
MIN_ROWS: Final = 1000
WATERMARK: Final = "statistics"


def _sizes(conn: Connection) -> tuple[int, int]:
    return newest_position(conn), watermark(conn, WATERMARK)


def is_stale(conn: Connection) -> bool:
    """Whether the artifacts table has doubled (and has ``MIN_ROWS``) since the last ANALYZE."""
    now, then = _sizes(conn)
    return now >= MIN_ROWS and now >= 2 * then


def analyze(conn: Connection) -> None:
    """Gather planner statistics (inside a write transaction) and note the table's size."""
    now, _ = _sizes(conn)
    for table in ANALYZED:
        conn.execute(sql_text(f"ANALYZE {table}"))
    set_watermark(conn, WATERMARK, now)
