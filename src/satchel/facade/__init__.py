"""The ArtifactFacade API (async) and its blocking twin."""

from __future__ import annotations

from satchel.facade._core import FacadeCore
from satchel.facade._paging import SearchPage
from satchel.facade._scope import ContextInfo, ScopeLevel
from satchel.facade.aio import ArtifactFacade
from satchel.facade.base import ByteSink, FacadeBackend
from satchel.facade.sync import SyncArtifactFacade
from satchel.facade.writer import ArtifactWriter, SyncArtifactWriter

__all__ = [
    "ArtifactFacade",
    "ArtifactWriter",
    "ByteSink",
    "ContextInfo",
    "FacadeBackend",
    "FacadeCore",
    "ScopeLevel",
    "SearchPage",
    "SyncArtifactFacade",
    "SyncArtifactWriter",
]
