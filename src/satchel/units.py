"""Sizes as people read them, the same on every surface (CLI, portal)."""

from __future__ import annotations

from typing import Final

__all__ = ["human_size"]

_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """``1536`` -> ``1.5 KiB``; whole bytes below 1 KiB (``512 B``)."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
