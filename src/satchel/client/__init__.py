"""The remote SDK: the ArtifactFacade over a satchel server's HTTP API (httpx).

Not imported by the core: ``satchel.Context(store="http://...", token=...)`` opens it
through ``satchel.connect``. ``RemoteCore`` implements ``satchel.facade.FacadeBackend``, so
``ArtifactFacade`` and ``SyncArtifactFacade`` are the same classes, embedded or remote.
"""

from __future__ import annotations

from satchel.client.core import RemoteCore, open_remote

__all__ = ["RemoteCore", "open_remote"]
