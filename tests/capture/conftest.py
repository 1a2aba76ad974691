"""Fixtures of the capture tests (``capturekit``)."""

import sys
from pathlib import Path

# This directory is a package (see __init__.py): its test modules import their helpers by
# plain name, as every other test directory does.
sys.path.insert(0, str(Path(__file__).parent))

from capturekit import where

__all__ = ["where"]
