"""The ``satchel`` command: ``satchel reindex`` for now; the CLI issue adds the rest."""

from __future__ import annotations

from typing import Annotated

import typer

from satchel.cli._errors import reported
from satchel.config import Settings
from satchel.errors import ValidationError
from satchel.index.base import LexicalSearch, VectorStore
from satchel.store import ArtifactStore

__all__ = ["app", "main"]

app = typer.Typer(
    name="satchel",
    help="satchel: an artifact store for machine-learning work.",
    no_args_is_help=True,
    add_completion=False,
)

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


@app.callback()
def _root() -> None:
    """satchel: an artifact store for machine-learning work."""


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


def main() -> None:
    """Entry point of the ``satchel`` script."""
    app()
