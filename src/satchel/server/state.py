"""What every request of one server process shares: the store, tenancy, uploads."""

from __future__ import annotations

from dataclasses import dataclass

from satchel.facade._text import TextSearcher
from satchel.index.uploads import SqlUploads, uploads_of
from satchel.server.config import ServerSettings
from satchel.server.staging import Staging
from satchel.server.throttle import LoginThrottle
from satchel.store import ArtifactStore
from satchel.tenancy import SqlTenancy, tenancy_of

__all__ = ["ServerState"]


@dataclass(slots=True)
class ServerState:
    """One open store with its tenancy, upload ledger, staging area and text search."""

    settings: ServerSettings
    store: ArtifactStore
    tenancy: SqlTenancy
    uploads: SqlUploads
    staging: Staging
    searcher: TextSearcher
    throttle: LoginThrottle

    @classmethod
    def open(cls, settings: ServerSettings) -> ServerState:
        """Open the configured store (creating it when new)."""
        store = ArtifactStore.open(settings.store)
        try:
            return cls(
                settings=settings,
                store=store,
                tenancy=tenancy_of(store.index),
                uploads=uploads_of(store.index),
                staging=Staging(settings.upload_dir),
                searcher=TextSearcher(store.index, None),
                throttle=LoginThrottle(settings.login_failures, settings.login_window),
            )
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.store.close()
