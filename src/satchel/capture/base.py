"""The seams of run capture: where runs are recorded, and who is told what was synced."""

from __future__ import annotations

from typing import Literal, Protocol

from satchel.models import RunStatus

__all__ = ["FinalStatus", "Reporter", "RunBook"]

FinalStatus = Literal["done", "crashed", "failed"]


class RunBook(Protocol):
    """The runs of the store a capture saves into (embedded, or a satchel server)."""

    def status(self, run_id: str) -> RunStatus | None:
        """The run's status; None when there is no such run."""

    def create(self, run_id: str, *, name: str | None, parent_run_id: str | None) -> None:
        """Record a running run (a no-op when it exists)."""

    def finish(self, run_id: str, status: FinalStatus) -> None:
        """Record the run's final status."""

    def child_env(self, run_id: str) -> dict[str, str]:
        """Environment for the run's command so that its own SDK calls reach this run."""

    def close(self) -> None:
        """Release what ``child_env`` handed out (a job token) and the connection."""


class Reporter(Protocol):
    """What a capture tells its user."""

    def note(self, message: str) -> None:
        """A line about the capture itself."""

    def start(self, rel: str, version: int, size: int) -> None:
        """A file's upload begins."""

    def advance(self, done: int) -> None:
        """``done`` more bytes of the current file are read."""

    def synced(self, rel: str, version: int, size: int, seconds: float) -> None:
        """The current file is stored."""

    def skipped(self, rel: str, reason: str) -> None:
        """A file that is not captured, and why."""
