"""How the CLI prints: Rich tables for people, ``--json`` for scripts, one place for both.

Consoles are made per call, so they write to whatever ``sys.stdout`` is at that moment
(Typer's test runner swaps it). Tables never cut an id short: id columns do not wrap, and
the other columns fold instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.table import Table

from satchel.models import Artifact, format_time
from satchel.tenancy.base import Grant
from satchel.units import human_size

__all__ = [
    "ARTIFACT_HEADER",
    "GRANT_HEADER",
    "JsonOption",
    "artifact_row",
    "console",
    "emit_json",
    "grant_dict",
    "grant_rows",
    "human_bytes",
    "note",
    "table",
    "when",
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (one document) instead of a table.")
]

#: The width of a table on a pipe or file: wide enough for any row.
_PIPED_WIDTH: Final = 4096
#: Columns of free text, which may wrap on a narrow terminal.
_FREE_TEXT = frozenset(
    {"NAME", "PATH", "LOCATION", "URL", "MESSAGE", "LABELS", "TAGS", "WHO", "RULES", "REASON"}
)
#: Columns whose values must never be cut short (ids are copied into other commands).
_WHOLE = frozenset(
    {"ID", "ARTIFACT_ID", "RUN", "RUN_ID", "GRANT_ID", "EXPERIMENT", "PARENT", "POLICY_ID"}
)


def console(*, err: bool = False) -> Console:
    """A console on the current standard output (or error)."""
    stream = sys.stderr if err else sys.stdout
    # Piped or redirected: as wide as the rows need (Rich would assume 80 columns and wrap
    # every cell), so that scripts read one row per line.
    width = None if stream.isatty() else _PIPED_WIDTH
    return Console(file=stream, highlight=False, soft_wrap=False, width=width)


def note(message: str) -> None:
    """A line for people, on standard error (standard output stays the command's result)."""
    typer.echo(message, err=True)


def emit_json(value: Any) -> None:
    """``value`` as indented JSON on standard output."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, title: str | None = None
) -> None:
    """A Rich table on standard output."""
    out = Table(title=title, show_edge=False, pad_edge=False, header_style="bold")
    for name in header:
        # Only free text may wrap on a narrow terminal; ids, types, statuses, sizes never.
        wraps = name in _FREE_TEXT and name not in _WHOLE
        out.add_column(name, no_wrap=not wraps, overflow="fold", min_width=len(name))
    for row in rows:
        out.add_row(*row)
    console().print(out)


def when(value: datetime | None) -> str:
    return "-" if value is None else format_time(value)[:19].replace("T", " ")


def human_bytes(size: int | None) -> str:
    return "-" if size is None else human_size(size)


def artifact_row(a: Artifact) -> list[str]:
    """ID NAME TYPE STATUS FILES BYTES RUN CREATED, as ``artifacts list`` prints them."""
    model = "-" if a.model_id is None else f"{a.model_id}:{a.model_version or '-'}"
    return [
        a.artifact_id,
        a.name or "-",
        a.kind or "-",
        a.status,
        str(len(a.files)),
        human_bytes(a.bytes),
        model,
        a.run_id or "-",
        when(a.updated_at or a.created_at),
    ]


ARTIFACT_HEADER = ("ID", "NAME", "TYPE", "STATUS", "FILES", "SIZE", "MODEL", "RUN", "UPDATED")


def grant_dict(g: Grant) -> dict[str, Any]:
    """A grant as the API answers it."""
    return {
        "grant_id": g.grant_id,
        "artifact_id": g.artifact_id,
        "email": g.recipient_email,
        "org_id": g.recipient_org_id,
        "granted_by": g.granted_by,
        "created_at": format_time(g.created_at),
    }


def grant_rows(grants: Iterable[Grant]) -> list[list[str]]:
    return [
        [
            g.grant_id,
            g.recipient_email or "-",
            g.recipient_org_id or "-",
            g.granted_by,
            when(g.created_at),
        ]
        for g in grants
    ]


GRANT_HEADER = ("GRANT_ID", "EMAIL", "ORG_ID", "GRANTED_BY", "CREATED")
