"""Settings, read once: explicit arguments, then ``SATCHEL_*`` environment, then defaults.

Nothing reads the environment at import time; ``Settings.load()`` does, when called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from satchel.errors import ConfigError

__all__ = ["Settings"]

KIB: Final = 1024
MIB: Final = 1024 * KIB


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything configurable, with its environment variable.

    Attributes:
        home: local working directory for staging and materialised copies
            (``SATCHEL_HOME``, default ``~/.satchel``).
        store: blob store URL or directory (``SATCHEL_STORE``, default: ``home``).
        index: index URL (``SATCHEL_INDEX``, default: ``sqlite:///<store>/index.db`` for a
            local store, ``sqlite:///<home>/index.db`` for an ``s3://`` store; a
            ``memory://`` store needs one given).
        inline_max: files up to this many bytes are kept inline in the index, so a small
            save is one durable transaction (``SATCHEL_INLINE_MAX``, default 16 KiB).
        chunk_size: streaming chunk size (``SATCHEL_CHUNK_SIZE``, default 8 MiB).
        upload_chunk: the bytes of one upload request to a satchel server
            (``SATCHEL_UPLOAD_CHUNK``, default 64 MiB): a resumed upload sends at most
            this much again. Each request is still streamed from disk in 1 MiB pieces.
        io_threads: worker threads for blocking I/O under the async API
            (``SATCHEL_IO_THREADS``, default 32).
        token: the API token for a remote store (``SATCHEL_TOKEN``); never shown in
            ``repr``.
    """

    home: Path
    store: str | None = None
    index: str | None = None
    inline_max: int = 16 * KIB
    chunk_size: int = 8 * MIB
    upload_chunk: int = 64 * MIB
    io_threads: int = 32
    token: str | None = field(default=None, repr=False)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``overrides`` (None values ignored), then the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            given = overrides.get(f.name)
            if given is not None:
                values[f.name] = given
                continue
            raw = env.get(f"SATCHEL_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = raw
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        home = Path(values.pop("home", None) or Path.home() / ".satchel").expanduser()
        settings = cls(home=home)
        converted: dict[str, Any] = {}
        for name, value in values.items():
            if name in ("inline_max", "chunk_size", "upload_chunk", "io_threads"):
                try:
                    number = int(value)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(
                        f"SATCHEL_{name.upper()} must be an integer: {value!r}"
                    ) from exc
                if number < (0 if name == "inline_max" else 1):
                    raise ConfigError(f"SATCHEL_{name.upper()} is out of range: {number}")
                converted[name] = number
            else:
                converted[name] = str(value)
        settings = replace(settings, **converted)
        if settings.chunk_size < 64 * KIB or settings.chunk_size > 256 * MIB:
            raise ConfigError(
                "chunk_size (SATCHEL_CHUNK_SIZE) must be between 64 KiB and 256 MiB: "
                f"{settings.chunk_size}"
            )
        if settings.upload_chunk < 64 * KIB or settings.upload_chunk > 1024 * MIB:
            raise ConfigError(
                "upload_chunk (SATCHEL_UPLOAD_CHUNK) must be between 64 KiB and 1 GiB: "
                f"{settings.upload_chunk}"
            )
        if settings.inline_max > 1 * MIB:
            raise ConfigError(
                f"inline_max (SATCHEL_INLINE_MAX) must be at most 1 MiB: {settings.inline_max}"
            )
        return settings
