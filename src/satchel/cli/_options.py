"""Options every ``satchel`` command takes: which store and index it works on."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["IndexOption", "ServerOption", "StoreOption", "TokenOption"]

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
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="A satchel server's URL (default: SATCHEL_SERVER; none: the embedded store).",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="API token for --server (default: SATCHEL_TOKEN, else the one `satchel login` saved).",
    ),
]
