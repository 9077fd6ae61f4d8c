"""Vectorised copies of the collection's dense vectors and sentence multivectors, for Qdrant
local mode.

Qdrant local mode scores multivectors (MaxSim) point by point in Python: about 55 ms per query
for 1,100 chunks of 8 sentences here, against 2 ms for the dense vector. With a payload filter
(the ``public`` audience) its dense search also checks every point in Python, about 25 ms per
query. This index stacks every vector of one named vector in one matrix and takes each chunk's
best row with one mat-vec and a segmented maximum (``np.maximum.reduceat``): for a multivector
that is Qdrant's MaxSim score (the highest cosine between the query vector and any sentence of
the chunk); for a plain vector, one row per chunk, it is the cosine itself. The audience filter
is a boolean mask. A Qdrant server does all of this natively and needs none of it.

The mat-vec runs in torch, not numpy: numpy's OpenBLAS keeps its worker threads spinning after
each call, and on a 2-core machine they starved the embedding model's threads (query embedding
took 64 ms instead of 22 ms per question). Torch shares one thread pool with the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from knowledge.index import scroll_vectors


def _normalise(m: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return (m / np.where(norms == 0, 1, norms)).astype(np.float32)


class LocalVectorIndex:
    """Every vector of the named vector ``using`` (rows grouped by chunk), with each chunk's id
    and audience.

    Args:
        client: an open Qdrant (local-mode) client.
        collection: collection name.
        using: the named vector to copy, e.g. ``"dense"`` or the ``"sentences"`` multivector.

    Call :meth:`refresh` after the collection changes (ingestion does).
    """

    def __init__(self, client: QdrantClient, collection: str, using: str) -> None:
        self.client = client
        self.collection = collection
        self.using = using
        self.ids: list[Any] = []
        self.public = np.zeros(0, dtype=bool)
        self.starts = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self._matrix_t = torch.from_numpy(self.matrix)
        self._row_of: dict[Any, int] = {}
        self.refresh()

    def refresh(self) -> None:
        """Reload every chunk's vectors and audience from the collection."""
        ids: list[Any] = []
        public: list[bool] = []
        starts: list[int] = []
        blocks: list[NDArray[np.float32]] = []
        rows = 0
        for point_id, is_public, vec in scroll_vectors(self.client, self.collection, self.using):
            if not vec:  # e.g. ingested without sentence vectors
                continue
            block = np.atleast_2d(np.asarray(vec, dtype=np.float32))
            ids.append(point_id)
            public.append(is_public)
            starts.append(rows)
            blocks.append(block)
            rows += len(block)
        self.ids = ids
        self.public = np.asarray(public, dtype=bool)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.matrix = _normalise(np.concatenate(blocks)) if blocks else np.zeros((0, 0), np.float32)
        self._matrix_t = torch.from_numpy(self.matrix)  # shares memory with ``matrix``
        self._row_of = {point_id: i for i, point_id in enumerate(ids)}

    @property
    def n_points(self) -> int:
        """Number of chunks with vectors of this name."""
        return len(self.ids)

    def search(
        self, query: NDArray[np.float32], *, audience: str, limit: int
    ) -> list[qm.ScoredPoint]:
        """Top ``limit`` chunks by the best cosine of the query vector (shape ``(dim,)``) with
        any of their rows, as Qdrant ``ScoredPoint`` objects (no payload); ``public`` sees only
        ``public`` chunks."""
        if not self.n_points:
            return []
        q = _normalise(np.asarray(query, dtype=np.float32))
        cosines = torch.mv(self._matrix_t, torch.from_numpy(q)).numpy()
        best = np.maximum.reduceat(cosines, self.starts)
        candidates = np.flatnonzero(self.public) if audience == "public" else np.arange(len(best))
        if candidates.size == 0:
            return []
        top = candidates[np.argsort(-best[candidates], kind="stable")[:limit]]
        return [qm.ScoredPoint(id=self.ids[i], version=0, score=float(best[i])) for i in top]

    def best_scores(self, queries: NDArray[np.float32], ids: Sequence[Any]) -> NDArray[np.float32]:
        """For each chunk id, the best cosine between any of the query vectors (shape
        ``(m, dim)``) and any of the chunk's rows (MaxSim for a multivector): shape
        ``(len(ids),)``, NaN for an id with no vectors of this name."""
        out = np.full(len(ids), np.nan, dtype=np.float32)
        q = _normalise(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        for k, point_id in enumerate(ids):
            i = self._row_of.get(point_id)
            if i is None:
                continue
            end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.matrix)
            out[k] = float(np.max(self.matrix[self.starts[i] : end] @ q.T))
        return out
