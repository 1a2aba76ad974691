"""Automatic capture of a run's files: ``satchel run -- COMMAND`` (seeds/001).

The command runs as a child; every file it creates under the watched directories is
stored as an artifact of the run while it runs and at the end, crash-safe through a local
journal (``satchel.capture.journal``). docs/cli.md, ``satchel run``, is the user's view.
"""

from satchel.capture.base import FinalStatus, Reporter, RunBook
from satchel.capture.rules import IgnoreRules, kind_of
from satchel.capture.runbooks import EmbeddedRunBook, ServerRunBook
from satchel.capture.session import CaptureResult, Plan, capture, resume, run_ids
from satchel.capture.uploader import LABEL_PATH, LABEL_VERSION

__all__ = [
    "LABEL_PATH",
    "LABEL_VERSION",
    "CaptureResult",
    "EmbeddedRunBook",
    "FinalStatus",
    "IgnoreRules",
    "Plan",
    "Reporter",
    "RunBook",
    "ServerRunBook",
    "capture",
    "kind_of",
    "resume",
    "run_ids",
]
