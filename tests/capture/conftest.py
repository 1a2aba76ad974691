"""Fixtures of the capture tests (``capturekit``)."""

from capturekit import where

__all__ = ["where"]
