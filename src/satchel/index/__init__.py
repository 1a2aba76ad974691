"""Artifact metadata behind one Protocol, chosen by URL."""

from __future__ import annotations

from satchel.index.base import ArtifactQuery, ArtifactWrite, Index
from satchel.index.factory import open_index

__all__ = ["ArtifactQuery", "ArtifactWrite", "Index", "open_index"]
