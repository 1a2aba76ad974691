"""How ``bench/bench.py`` reports: one printed line per figure, and the JSON of the run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from _util import BENCH_DIR

ROOT = BENCH_DIR.parent
OUT_DIR = ROOT / ".bench-out"


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


class Report:
    """Collects the figures, prints one line each, and writes the JSON."""

    def __init__(self, mode: str, meta: dict[str, Any]) -> None:
        self.figures: dict[str, dict[str, Any]] = {}
        self.raw: dict[str, Any] = {}
        self.errors: list[str] = []
        self.meta = {"mode": mode, **meta}

    def figure(self, key: str, line: str, met: bool | None, **data: Any) -> None:
        """Print and keep one figure; ``met`` is None for a figure with no target."""
        verdict = "no target" if met is None else "met" if met else "MISSED"
        print(f"{line}  [{verdict}]", flush=True)
        self.figures[key] = {"line": line, "met": met, **data}

    def missed(self) -> list[str]:
        return [key for key, fig in self.figures.items() if fig["met"] is False]

    def targeted(self) -> int:
        return sum(fig["met"] is not None for fig in self.figures.values())

    def error(self, key: str, message: str) -> None:
        print(f"{key}: ERROR {message}", flush=True)
        self.errors.append(f"{key}: {message}")

    def write(self, name: str = "results.json") -> Path:
        OUT_DIR.mkdir(exist_ok=True)
        path = OUT_DIR / name
        payload = {
            "meta": self.meta,
            "figures": self.figures,
            "raw": self.raw,
            "errors": self.errors,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        return path
