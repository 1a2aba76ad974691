"""Semantic search: embed what the index has not embedded yet, then rank by cosine.

Vectors are stored in the index (``VectorStore``) as little-endian float32 and kept in
memory here as one NumPy matrix per index and model, refreshed incrementally from the
stored rows before each search; a brute-force product ranks 100,000 vectors of 384
dimensions in about 15 ms. Filters are never applied here but by the index, in SQL: the
best-scoring candidates are checked against the query's filters, and when too few of them
pass (a narrow filter), the index lists every matching id and only those are ranked. So a
filter is never lost, and what the actor may not read is never scored into a result.

Saves do not wait for the model: the first semantic search after new saves embeds them
(outside any write transaction, in batches), so a search issued after a save returns sees
it. ``SemanticSearch.catch_up`` can also be run ahead, e.g. by ``satchel reindex``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Final, TypeAlias

# The ``semantic`` extra ships NumPy; this module is imported only when semantic search is
# asked for (``satchel.facade`` imports it lazily).
import numpy as np  # type: ignore[import-not-found, unused-ignore]
from numpy.typing import NDArray  # type: ignore[import-not-found, unused-ignore]

from satchel.errors import IndexBackendError, ValidationError
from satchel.index.base import ArtifactQuery, VectorStore
from satchel.models import Artifact
from satchel.search.embed import Embedder

__all__ = ["EMBED_BATCH", "SemanticSearch", "pack", "unpack"]

Matrix: TypeAlias = NDArray[np.float32]

#: Artifacts embedded per catch-up step (then stored in one short write transaction).
EMBED_BATCH: Final = 256
#: Vectors read from the index per query while refreshing the in-memory matrix.
_READ_BATCH: Final = 20_000
#: Candidates checked against the filters before ranking only the filtered ids instead.
_MIN_CANDIDATES: Final = 256


def pack(vector: Sequence[float]) -> bytes:
    """A vector as stored: little-endian float32."""
    data: bytes = np.asarray(vector, dtype="<f4").tobytes()
    return data


def unpack(data: bytes, dimension: int) -> Matrix:
    """The stored bytes of one or more vectors as a float32 array of rows."""
    matrix: Matrix = np.frombuffer(data, dtype="<f4").reshape(-1, dimension)
    return matrix


class _Matrix:
    """The vectors of one model in one index, in memory, in stored order."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self._data: Matrix = np.empty((1024, dimension), dtype=np.float32)
        self._count = 0
        self._last = 0  # the newest stored position read

    def _clear(self) -> None:
        self.ids, self.row_of, self._count, self._last = [], {}, 0, 0

    @property
    def vectors(self) -> Matrix:
        view: Matrix = self._data[: self._count]
        return view

    def refresh(self, store: VectorStore, model: str) -> None:
        """Read what was stored since the last refresh; start over if rows went away."""
        count, newest = store.vector_state(model)
        if newest == self._last and count == self._count:
            return
        if newest < self._last or count < self._count:  # a reset or deletes: reload
            self._clear()
        self._read_all(store, model)
        if self._count != count:  # deletes while we read: start over once
            self._clear()
            self._read_all(store, model)

    def _read_all(self, store: VectorStore, model: str) -> None:
        while rows := store.read_vectors(model, self._last, _READ_BATCH):
            self._append(rows)

    def _append(self, rows: list[tuple[int, str, bytes]]) -> None:
        need = self._count + len(rows)
        if need > len(self._data):
            grown = np.empty((max(need, 2 * len(self._data)), self.dimension), np.float32)
            grown[: self._count] = self._data[: self._count]
            self._data = grown
        block = unpack(b"".join(r[2] for r in rows), self.dimension)
        self._data[self._count : need] = block
        for offset, (_, artifact_id, _) in enumerate(rows):
            self.row_of[artifact_id] = self._count + offset
            self.ids.append(artifact_id)
        self._count = need
        self._last = rows[-1][0]


class SemanticSearch:
    """Semantic search over every index this process opens, with one embedder.

    Args:
        embedder: the model; its ``name`` keys the stored vectors, so two embedders with
            the same name must be the same model.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._matrices: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        """The name the vectors of this embedder are stored under."""
        return self.embedder.name

    def catch_up(self, store: VectorStore, *, progress: Callable[[int], None] | None = None) -> int:
        """Embed and store every artifact that has no vector for this model yet.

        Returns:
            How many artifacts were embedded.
        """
        done = 0
        while True:
            docs, position = store.pending_documents(self.model, EMBED_BATCH)
            if not docs:
                return done
            vectors = self.embedder.embed([text for _, text in docs])
            if len(vectors) != len(docs) or any(len(v) != self.embedder.dimension for v in vectors):
                raise IndexBackendError(
                    f"embedder {self.model!r} returned vectors of the wrong number or size"
                )
            store.store_vectors(
                self.model,
                [(i, pack(v)) for (i, _), v in zip(docs, vectors, strict=True)],
                position,
            )
            done += len(docs)
            if progress is not None:
                progress(done)

    def embed_query(self, text: str) -> Matrix:
        """The query's vector."""
        (vector,) = self.embedder.embed([text])
        array: Matrix = np.asarray(vector, dtype=np.float32)
        return array

    def ranked_ids(
        self, store: VectorStore, key: str, vector: Matrix, query: ArtifactQuery, depth: int
    ) -> list[str]:
        """Ids of the ``depth`` artifacts closest to ``vector`` that match ``query``.

        Args:
            store: the index (its vectors must be caught up by the caller).
            key: identifies the index (its URL): one in-memory matrix per index and model.
            vector: the query's unit vector.
            query: the filters, applied by the index in SQL.
            depth: how many to return at most.
        """
        if depth <= 0:
            return []
        # One search at a time per process: the matrix is refreshed in place.
        with self._lock:
            matrix = self._matrices.get(key)
            if matrix is None:
                matrix = self._matrices[key] = _Matrix(self.embedder.dimension)
            matrix.refresh(store, self.model)
            ids = matrix.ids
            if not ids:
                return []
            if vector.shape != (matrix.dimension,):
                raise ValidationError(
                    f"the query vector has shape {vector.shape}, not ({matrix.dimension},)"
                )
            scores = matrix.vectors @ vector
            wanted = min(len(ids), max(depth * 4, _MIN_CANDIDATES))
            found = store.matching_ids(query, [ids[r] for r in _top(scores, wanted)])
            if len(found) >= depth or wanted == len(ids):
                return found[:depth]
            # A narrow filter: rank only what passes it.
            row_of = matrix.row_of
            allowed = np.fromiter(
                (row_of[i] for i in store.matching_ids(query) if i in row_of), dtype=np.int64
            )
            if allowed.size == 0:
                return []
            return [ids[r] for r in allowed[_top(scores[allowed], min(depth, allowed.size))]]

    def search(
        self, store: VectorStore, key: str, text: str, query: ArtifactQuery, depth: int
    ) -> list[Artifact]:
        """Catch up, embed ``text`` and return the closest matching artifacts, best first."""
        self.catch_up(store)
        ids = self.ranked_ids(store, key, self.embed_query(text), query, depth)
        return store.get_many(ids, reader=query.reader)


def _top(scores: Matrix, k: int) -> NDArray[np.int64]:
    """Positions of the ``k`` highest scores, highest first (ties: the older row first)."""
    candidates: NDArray[np.int64] = (
        np.arange(scores.size) if k >= scores.size else np.argpartition(-scores, k - 1)[:k]
    )
    ranked: NDArray[np.int64] = candidates[np.lexsort((candidates, -scores[candidates]))]
    return ranked
