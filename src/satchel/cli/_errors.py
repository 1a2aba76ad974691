"""How the CLI reports failures: one place maps errors to messages and exit codes.

A ``SatchelError`` prints ``error[<code>]: <message>`` on standard error and exits with 1;
a usage error is Typer's (exit 2). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import typer

from satchel.errors import SatchelError

__all__ = ["EXIT_ERROR", "reported"]

EXIT_ERROR: Final = 1


@contextmanager
def reported() -> Iterator[None]:
    """Turn a ``SatchelError`` raised inside into a message and exit code 1."""
    try:
        yield
    except SatchelError as exc:
        typer.echo(f"error[{exc.code}]: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from exc
