"""Which core a ``Context`` runs on: an embedded store, or a satchel server chosen by URL.

``http://`` and ``https://`` store URLs open the remote core of ``satchel.client``,
imported only then (it needs ``httpx``, the ``client`` extra); everything else opens an
embedded ``ArtifactStore``. The core packages never import the client: this module and
``satchel.context`` are the composition root.
"""

from __future__ import annotations

from satchel.config import Settings
from satchel.errors import ConfigError, MissingDependencyError
from satchel.facade import ContextInfo, FacadeBackend, FacadeCore
from satchel.search.embed import Embedder
from satchel.store import ArtifactStore

__all__ = ["is_remote", "open_core"]


def is_remote(store: str | None) -> bool:
    """True for a store URL that names a satchel server (``http://`` or ``https://``)."""
    return store is not None and store[:8].lower().startswith(("http://", "https://"))


def open_core(
    settings: Settings,
    info: ContextInfo,
    *,
    run_given: bool,
    embedder: Embedder | None,
) -> tuple[FacadeBackend, ArtifactStore | None]:
    """The core for ``settings.store``, and the embedded store it opened (None: remote).

    Raises:
        ConfigError: an option that only an embedded store takes, given for a server.
        MissingDependencyError: a server URL without the ``client`` extra installed.
        AuthenticationError: a server URL without a valid token.
    """
    if not is_remote(settings.store):
        store = ArtifactStore.open(settings)
        return FacadeCore(store, info, embedder=embedder), store
    if embedder is not None:
        raise ConfigError(
            "embedder= applies to embedded stores; a satchel server searches with its own model"
        )
    if settings.index is not None:
        raise ConfigError("index= applies to embedded stores; a satchel server has its own index")
    try:
        from satchel.client import open_remote  # noqa: PLC0415 - only for server URLs
    except ImportError as exc:
        if exc.name != "httpx":
            raise
        raise MissingDependencyError(
            "a satchel server URL needs the client extra: pip install 'satchel[client]'"
        ) from exc
    return open_remote(settings, info, run_given=run_given), None
