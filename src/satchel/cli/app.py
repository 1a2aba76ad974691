"""The ``satchel`` command: ``artifacts``, ``runs``, ``run``, ``search``, ``best``,
``login``, ``logout``, ``serve``, ``fsck``, ``gc``, ``usage``, ``retention``, ``reindex``,
``db`` and ``admin`` (docs/cli.md).

Each command group lives in its own module; this one registers them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from satchel.cli import fetch as _fetch  # noqa: F401 - registers `artifacts get|where`
from satchel.cli import sharing as _sharing  # noqa: F401 - `artifacts grant|revoke|grants|link`
from satchel.cli._errors import reported
from satchel.cli._options import IndexOption, StoreOption
from satchel.cli.admin import admin_app
from satchel.cli.artifacts import artifacts_app
from satchel.cli.gc import gc_command
from satchel.cli.login import login, logout
from satchel.cli.maintenance import fsck_command
from satchel.cli.retention import retention_app
from satchel.cli.run import RUN_CONTEXT, run
from satchel.cli.runs import runs_app
from satchel.cli.search import best, search
from satchel.cli.serve import serve
from satchel.cli.usage import usage
from satchel.config import Settings
from satchel.errors import ValidationError
from satchel.index import Index, open_index
from satchel.index.base import LexicalSearch, SchemaMigrations, VectorStore
from satchel.store import ArtifactStore, index_url_of

__all__ = ["app", "main"]

app = typer.Typer(
    name="satchel",
    help="satchel: an artifact store for machine-learning work.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """satchel: an artifact store for machine-learning work."""


app.add_typer(artifacts_app)
app.add_typer(runs_app)
app.command()(search)
app.command()(best)
app.command()(login)
app.command()(logout)
app.command()(serve)
app.command(context_settings=RUN_CONTEXT)(run)
app.command("fsck")(fsck_command)
app.command("gc")(gc_command)
app.command()(usage)


@app.command()
def reindex(
    store: StoreOption = None,
    index: IndexOption = None,
    semantic: Annotated[
        bool,
        typer.Option(
            "--semantic/--no-semantic",
            help="Also embed every artifact again with the default model (needs the "
            "'semantic' extra).",
        ),
    ] = True,
) -> None:
    """Rebuild the text indexes and the default model's vectors from the artifact rows."""
    with reported():
        settings = Settings.load(store=store, index=index)
        opened = ArtifactStore.open(settings)
        try:
            _reindex(opened, semantic=semantic)
        finally:
            opened.close()


def _reindex(store: ArtifactStore, *, semantic: bool) -> None:
    idx = store.index
    if not isinstance(idx, LexicalSearch):
        raise ValidationError(f"the index at {idx.url} has no text search to rebuild")
    searcher = None
    if semantic:
        if not isinstance(idx, VectorStore):
            raise ValidationError(f"the index at {idx.url} stores no vectors")
        # Load the model (or fail with what to install) before anything is dropped.
        from satchel.search.embed import default_embedder  # noqa: PLC0415
        from satchel.search.semantic import SemanticSearch  # noqa: PLC0415

        searcher = SemanticSearch(default_embedder())
    typer.echo(f"text: {idx.reindex():,} artifacts indexed")
    if searcher is not None:
        assert isinstance(idx, VectorStore)
        idx.reset_vectors(searcher.model)
        done = searcher.catch_up(idx, progress=lambda n: typer.echo(f"  embedded {n:,}", err=True))
        typer.echo(f"vectors ({searcher.model}): {done:,} artifacts embedded")


app.add_typer(admin_app)
app.add_typer(retention_app)

db_app = typer.Typer(
    name="db",
    help="The index's schema: which revision it is at, and migrating it.",
    no_args_is_help=True,
)
app.add_typer(db_app)


def _schema_of(store: str | None, index: str | None) -> tuple[Index, SchemaMigrations]:
    """The index the options name, opened without migrating it."""
    settings = Settings.load(store=store, index=index)
    opened = open_index(index_url_of(settings), migrate=False)
    if not isinstance(opened, SchemaMigrations):
        opened.close()
        raise ValidationError(f"the index at {opened.url} has no schema revisions")
    return opened, opened


@db_app.command("status")
def db_status(store: StoreOption = None, index: IndexOption = None) -> None:
    """Print the index's schema revision, the newest one, and whether an upgrade is pending."""
    with reported():
        opened, schema = _schema_of(store, index)
        try:
            current = schema.current_revision()
            head = schema.head_revision
            typer.echo(f"index: {opened.url}")
            typer.echo(f"current: {current or 'none (empty)'}")
            typer.echo(f"head: {head}")
            typer.echo(f"upgrade pending: {'no' if current == head else 'yes'}")
        finally:
            opened.close()


@db_app.command("upgrade")
def db_upgrade(store: StoreOption = None, index: IndexOption = None) -> None:
    """Migrate the index's schema to the newest revision (nothing to do at head)."""
    with reported():
        opened, schema = _schema_of(store, index)
        try:
            before = schema.current_revision()
            schema.upgrade()
            after = schema.current_revision()
        finally:
            opened.close()
        if before == after:
            typer.echo(f"already at head: {after}")
        else:
            typer.echo(f"upgraded: {before or 'none (empty)'} -> {after}")


def main() -> None:
    """Entry point of the ``satchel`` script."""
    app()
