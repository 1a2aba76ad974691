"""Options every ``satchel`` command takes: which store and index it works on."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["IndexOption", "StoreOption"]

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store directory or URL (default: SATCHEL_STORE, else SATCHEL_HOME, else ~/.satchel).",
    ),
]
IndexOption = Annotated[
    str | None, typer.Option("--index", help="Index URL (default: the store's SQLite index).")
]
