"""Which filters a search starts from, counted rather than guessed.

SQLite's planner knows an index's average rows per value (ANALYZE), not how many artifacts
"dataset = ds12 of kind model" holds, and it starts from one index only. A search whose
filters together pass a few in ten thousand then reads a whole kind, a row at a time. Here
each label, tag and scope filter's own index is counted (index entries only, capped: a
fraction of a millisecond per thousand), and the filters that pass few artifacts are
intersected, again off their indexes alone; the search then reads just the artifact rows
of that intersection and sorts them (``query.build_select(drivers=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import Connection, Row, func, literal, select

from satchel.index.base import ArtifactQuery
from satchel.index.query import (
    FETCH_WALKS,
    MAX_WALK,
    NARROW,
    Driver,
    driven_ids,
    driven_ranking,
    driver_candidates,
    driver_rows,
    ranked_rows,
)

__all__ = [
    "DRIVEN_MAX",
    "DRIVER_CAP",
    "PG_DRIVEN_MAX",
    "READER_CAP",
    "SPREAD",
    "Drive",
    "choose",
    "driven_sort",
    "unranked_drive",
]

#: The most index entries counted for one filter; a filter passing more never drives.
DRIVER_CAP: Final = 2 * MAX_WALK
#: The most counted for the access filter: a reader of a large org would otherwise count
#: its whole org on every page, where reading newest first finds a page at once. Past it,
#: sorting what the reader may read costs more than the longest walk of a ranking.
READER_CAP: Final = MAX_WALK // FETCH_WALKS
#: A filter joins the intersection when it passes at most this many times what the
#: smallest one does: reading its entries costs less than the rows it rules out.
SPREAD: Final = 8
#: An unranked search sorts what its drivers pass when that is at most this many
#: artifacts; past it, reading newest first and filtering finds a page sooner (SQLite,
#: measured at a million artifacts; PostgreSQL's own plans are slower: ``PG_DRIVEN_MAX``).
DRIVEN_MAX: Final = 2000
#: The same on PostgreSQL: 3,300 artifacts read filter-first took 50-120 ms at a million,
#: the planner's own plan 240-450 ms.
PG_DRIVEN_MAX: Final = 5000


@dataclass(frozen=True)
class Drive:
    """The filters to start from (none: the planner's own way in) and how many artifacts
    they pass together (an estimate of the rows a driven sort reads)."""

    drivers: tuple[Driver, ...]
    rows: int
    #: The ids several drivers pass together, read once to count them and kept for the
    #: search itself (None: one driver, whose index the search reads again).
    ids: tuple[str, ...] | None = None


def _count(conn: Connection, rows: Any, cap: int | None) -> int:
    capped = rows if cap is None else rows.limit(cap)
    return int(conn.execute(select(func.count()).select_from(capped.subquery())).scalar_one())


def choose(conn: Connection, query: ArtifactQuery) -> Drive:
    """Count each candidate filter and pick the ones to start from (see the module)."""
    counted: list[tuple[int, Driver]] = []
    cap = DRIVER_CAP
    smallest = DRIVER_CAP
    for driver in driver_candidates(query):  # labels and tags first, then scopes
        # A scope matters only if smaller than every label and tag (then it is the way in);
        # a label or tag if within the spread of the smallest (then it is intersected).
        limit = min(cap, smallest + 1) if driver[0] == "column" else cap
        if driver[0] == "reader":
            limit = min(limit, READER_CAP)
        # Counting ``1``, not the id: read off the index entries alone, even a scope's.
        found = _count(conn, driver_rows(query, driver).with_only_columns(literal(1)), limit)
        if found < limit:
            counted.append((found, driver))
            smallest = min(smallest, found)
            cap = min(cap, SPREAD * found + 1)
    if not counted:
        return Drive((), MAX_WALK)
    counted.sort()
    smallest, first = counted[0]
    if first[0] == "column":  # a scope smaller than every label and tag: its own index
        return Drive((), smallest)
    chosen = tuple(d for n, d in counted if d[0] != "column" and n <= SPREAD * smallest)
    if len(chosen) == 1:
        return Drive(chosen, smallest)
    # At most ``smallest`` ids (an intersection), so fetching them is bounded; the search
    # then reads just these rows by primary key.
    ids = tuple(str(i) for i in conn.execute(driven_ids(query, chosen)).scalars())
    return Drive(chosen, len(ids), ids)


def unranked_drive(
    conn: Connection, query: ArtifactQuery, driven_max: int = DRIVEN_MAX
) -> Drive | None:
    """For a newest-first page with label or tag filters or a reader, the drivers to sort
    from when they pass at most ``driven_max`` artifacts, or None to read newest first."""
    if query.limit is None or NARROW & query.equals.keys():
        return None
    if not query.labels and not query.tags_all and query.reader is None:
        return None
    drive = choose(conn, query)
    return drive if drive.drivers and drive.rows <= driven_max else None


def driven_sort(conn: Connection, query: ArtifactQuery, drive: Drive) -> list[Row[Any]]:
    """A ranked page from what ``drive`` passes: rank the ids off their metric rows, then
    read artifact rows down that order, a stretch at a time, until the page is full.

    The first stretch is twice the page: the drivers passed every row on their own filters
    and kind, so only the others (scope, status, time) can still leave a row out.
    """
    assert query.limit is not None
    ranked = [
        str(i) for i in conn.execute(driven_ranking(query, drive.drivers, drive.ids)).scalars()
    ]
    unpaged = replace(query, after=None, limit=None)
    found: list[Row[Any]] = []
    start, stretch = 0, max(2 * query.limit, 16)
    while start < len(ranked) and len(found) < query.limit:
        ids = ranked[start : start + stretch]
        rows = {
            row.artifact_id: row for row in conn.execute(ranked_rows(unpaged, drive.drivers, ids))
        }
        found.extend(rows[i] for i in ids if i in rows)
        start, stretch = start + stretch, 2 * stretch
    return found[: query.limit]
