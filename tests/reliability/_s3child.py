"""The child process of the S3 reliability tests: ``python -W error _s3child.py CONFIG``.

The config (JSON) names the store URL and index, and a mode:

* ``save``: wait for the ``go`` file, then save ``path`` (``via``: ``file`` through
  ``save_file``, ``writer`` streamed through ``writer()``); print the artifact as JSON.
* ``rss``: save ``path`` and print ``{"baseline": bytes, "peak": bytes}``: the resident
  size once the store is open and warmed by a small save, and the peak after the big one.

The S3 credentials come from the environment (``AWS_*``), as a user's would.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import satchel

PIECE = 4 * 1024 * 1024


def _status(field: str) -> int:
    """A size from /proc/self/status. ``VmHWM`` is this image's peak; ``ru_maxrss`` would
    not do, as Linux carries the forking parent's peak over ``exec`` into it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field}")


def _context(cfg: dict[str, Any]) -> satchel.Context:
    settings = satchel.Settings.load(
        environ={}, store=cfg["store"], index=cfg["index"], home=cfg["home"]
    )
    return satchel.Context(settings=settings, run_id="r1", user_id="u1")


def _save(arts: satchel.SyncArtifactFacade, path: str, via: str) -> satchel.Artifact:
    if via == "file":
        return arts.save_file(path, kind="model")
    with arts.writer(kind="model", name=Path(path).name) as writer, open(path, "rb") as fh:
        while chunk := fh.read(PIECE):
            writer.write(chunk)
    artifact = writer.artifact
    assert artifact is not None
    return artifact


def main(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    ctx = _context(cfg)
    try:
        arts = ctx.sync_artifacts()
        if cfg["mode"] == "save":
            Path(cfg["ready"]).touch()
            go = Path(cfg["go"])
            deadline = time.monotonic() + 120
            while not go.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("never released")
                time.sleep(0.005)
            art = _save(arts, cfg["path"], cfg["via"])
            print(json.dumps({"sha256": art.sha256, "bytes": art.bytes, "uri": art.uri}))
        elif cfg["mode"] == "rss":
            arts.save_text("warm-up " * 4096, name="warm.txt")
            baseline = _status("VmRSS")
            art = _save(arts, cfg["path"], cfg["via"])
            peak = _status("VmHWM")
            print(json.dumps({"baseline": baseline, "peak": peak, "bytes": art.bytes}))
        else:
            raise ValueError(cfg["mode"])
    finally:
        ctx.close()


if __name__ == "__main__":
    main(sys.argv[1])
