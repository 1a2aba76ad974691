"""The two ``RunBook``s: an embedded store's index, and a satchel server's ``/runs`` API."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from satchel.capture.base import FinalStatus
from satchel.config import Settings
from satchel.errors import NotFoundError
from satchel.models import Run, RunStatus, format_time, utcnow
from satchel.store import ArtifactStore

__all__ = ["JOB_TOKEN_SECONDS", "EmbeddedRunBook", "ServerRunBook"]

#: How long the job token handed to a run's command lives (it is revoked when the capture
#: ends; the expiry only bounds a token left behind by a killed ``satchel run``).
JOB_TOKEN_SECONDS: Final = 7 * 24 * 3600


class EmbeddedRunBook:
    """Runs of an embedded store (``--store`` / ``SATCHEL_HOME``)."""

    def __init__(self, store: ArtifactStore, settings: Settings) -> None:
        self._settings = settings
        self._store = store

    def status(self, run_id: str) -> RunStatus | None:
        run = self._store.get_run(run_id)
        return None if run is None else run.status

    def create(self, run_id: str, *, name: str | None, parent_run_id: str | None) -> None:
        self._store.index.ensure_run(
            Run(run_id=run_id, name=name, parent_run_id=parent_run_id, started_at=utcnow())
        )

    def finish(self, run_id: str, status: FinalStatus) -> None:
        self._store.set_run_status(run_id, status, ended_at=format_time(utcnow()))

    def child_env(self, run_id: str) -> dict[str, str]:
        home = str(self._settings.home)
        env = {
            "SATCHEL_RUN_ID": run_id,
            "SATCHEL_HOME": home,
            "SATCHEL_STORE": self._settings.store or home,
        }
        if self._settings.index is not None:
            env["SATCHEL_INDEX"] = str(self._settings.index)
        return env

    def close(self) -> None:
        """Nothing: the store is the capture context's."""


class ServerRunBook:
    """Runs of a satchel server, through ``/api/v1/runs`` and ``/api/v1/tokens``."""

    def __init__(self, url: str, token: str) -> None:
        from satchel.client._api import Api  # noqa: PLC0415 - only for a server

        self._url = url
        self._api = Api(url, token)
        self._job_tokens: list[str] = []

    def _path(self, run_id: str) -> str:
        return f"/runs/{quote(run_id, safe='')}"

    def status(self, run_id: str) -> RunStatus | None:
        try:
            body = self._api.json("GET", self._path(run_id), retry=True)
        except NotFoundError:
            return None
        status: RunStatus = body["status"]
        return status

    def create(self, run_id: str, *, name: str | None, parent_run_id: str | None) -> None:
        body: dict[str, str] = {"run_id": run_id}
        if name is not None:
            body["name"] = name
        if parent_run_id is not None:
            body["parent_run_id"] = parent_run_id
        self._api.request("POST", "/runs", json=body, retry=True)

    def finish(self, run_id: str, status: FinalStatus) -> None:
        self._api.request("PATCH", self._path(run_id), json={"status": status}, retry=True)

    def child_env(self, run_id: str) -> dict[str, str]:
        made = self._api.json(
            "POST",
            "/tokens",
            json={
                "name": f"satchel run {run_id}",
                "run_id": run_id,
                "expires_in": JOB_TOKEN_SECONDS,
            },
            retry=False,
        )
        self._job_tokens.append(str(made["token_id"]))
        return {
            "SATCHEL_RUN_ID": run_id,
            "SATCHEL_STORE": self._url,
            "SATCHEL_SERVER": self._url,
            "SATCHEL_TOKEN": str(made["token"]),
        }

    def close(self) -> None:
        try:
            for token_id in self._job_tokens:
                self._api.request("DELETE", f"/tokens/{quote(token_id, safe='')}", retry=True)
        finally:
            self._api.close()
