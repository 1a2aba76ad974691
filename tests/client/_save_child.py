"""A client process that saves one file through the remote SDK and prints its id.

Usage: ``_save_child.py URL TOKEN HOME PATH CHUNK_SIZE``; killed mid-upload by the tests.
"""

from __future__ import annotations

import sys

import satchel
from satchel.config import Settings


def main() -> None:
    url, token, home, path, chunk = sys.argv[1:6]
    settings = Settings.load(environ={}, home=home, store=url, upload_chunk=int(chunk))
    with satchel.Context(settings=settings, token=token, run_id="resume-run") as ctx:
        artifact = ctx.sync_artifacts().save_file(path, kind="checkpoint")
    print(artifact.artifact_id, flush=True)


if __name__ == "__main__":
    main()
