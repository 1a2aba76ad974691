"""The satchel HTTP server (the ``server`` extra): ``create_app`` and ``satchel serve``.

An outer layer: it calls the store, index, tenancy and access modules; nothing in the core
imports it.
"""

from __future__ import annotations

from satchel.server.app import create_app
from satchel.server.config import ServerSettings

__all__ = ["ServerSettings", "create_app"]
