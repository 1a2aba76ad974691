"""Test doubles that stand in for expensive parts where the part itself is not under test."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any


class FakeEmbedder:
    """A deterministic bag-of-words embedder: each word adds +-1 to a hashed component."""

    def __init__(self, dimension: int = 8, name: str = "fake-bow") -> None:
        self._dimension = dimension
        self._name = name
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        vectors = []
        for text in texts:
            vector = [0.0] * self._dimension
            vector[0] = 1e-3  # the empty text still gets a unit vector
            for word in text.lower().split():
                digest = hashlib.sha256(word.encode()).digest()
                vector[digest[0] % self._dimension] += 1.0 if digest[1] % 2 else -1.0
            norm = math.sqrt(sum(v * v for v in vector))
            vectors.append([v / norm for v in vector])
        return vectors


class MemoEmbedder:
    """A real embedder whose vectors are remembered per text, so that tests which save the
    same corpus many times embed each text once. Vectors and name are the inner model's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._memo: dict[str, list[float]] = {}

    @property
    def name(self) -> str:
        return str(self._inner.name)

    @property
    def dimension(self) -> int:
        return int(self._inner.dimension)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            self._memo.update(zip(todo, self._inner.embed(todo), strict=True))
        return [self._memo[t] for t in texts]
