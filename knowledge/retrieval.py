"""Hybrid retrieval: chunk vectors, sentence vectors and BM25, fused by Qdrant, with an
audience filter.

One Query API call sends three prefetches (the chunk's dense vector, its sentence multivector
scored by MaxSim, and the sparse BM25 vector; for follow-up questions the same three again for
the question joined with the previous user turn) and lets Qdrant fuse them with
Distribution-Based Score Fusion (the default; each list's scores normalised by mean ± 3 standard
deviations, then summed) or Reciprocal Rank Fusion (Cormack, Clarke & Büttcher 2009) with
Qdrant's ranking constant (k = 2 in qdrant-client's local-mode implementation, which weights the
top ranks more than the paper's k = 60; k = 60 measured lower here, see README). Each hit
also gets its dense cosine similarity to the question, the calibrated signal that abstention
uses (fused scores only rank).

Audience: ``public`` sees only chunks tagged ``public``; ``internal`` sees everything. The filter
is applied inside every prefetch, so internal chunks never enter a public result.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.hybrid.fusion import distribution_based_score_fusion, reciprocal_rank_fusion

from knowledge.chunking import Chunk
from knowledge.embedding import Embedder
from knowledge.index import DENSE, PUBLISHED, SENTENCES, SPARSE
from knowledge.local_sparse import LocalSparseIndex
from knowledge.local_vectors import LocalVectorIndex
from knowledge.sparse import SparseEncoder, SparseVector

Mode = Literal["hybrid", "dense", "sparse"]
RETRIEVAL_DEPTH = 20  # hits the engine fetches before keeping the top distinct sources
FusionName = Literal["rrf", "dbsf"]


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk. ``score`` orders the hits (fusion score for hybrid, cosine for dense,
    BM25 for sparse); ``similarity`` is the dense cosine of the chunk vector to the query in
    [-1, 1]; ``sentence_similarity`` is the best cosine between the query and any one sentence
    of the chunk (Qdrant's MaxSim over the sentence multivector), ``None`` when the collection
    has no sentence vectors. :attr:`support`, the signal abstention calibrates, is the latter
    when known, else the former (fused scores only rank)."""

    chunk: Chunk
    score: float
    similarity: float
    sentence_similarity: float | None = None

    @property
    def support(self) -> float:
        """The sentence-level similarity when known, else the chunk-level one."""
        return self.similarity if self.sentence_similarity is None else self.sentence_similarity


@dataclass
class RetrievalResult:
    """Hits best first, and the milliseconds spent embedding the query and searching."""

    hits: list[Hit]
    embed_ms: float = 0.0
    search_ms: float = 0.0
    rerank_ms: float = 0.0


def audience_filter(audience: str) -> qm.Filter:
    """Qdrant filter for an audience: ``public`` → only public chunks; ``internal`` → all. Both
    leave out points a sync has not published yet (:data:`knowledge.index.PENDING`).

    "Published" is :data:`knowledge.index.PUBLISHED` (no ``pending`` key), which the engine
    answers from the payload index: on Qdrant Edge, at sample size (1,133 chunks), a filtered
    dense search took 4.6 ms with ``must_not pending = true`` (every point's payload read) and
    0.3 ms with ``is_empty(pending)``.

    Raises:
        ValueError: unknown audience.
    """
    if audience == "internal":
        return qm.Filter(must=[PUBLISHED])
    if audience == "public":
        public = qm.FieldCondition(key="audience", match=qm.MatchValue(value="public"))
        return qm.Filter(must=[public, PUBLISHED])
    raise ValueError(f"audience must be 'public' or 'internal', not {audience!r}")


def _sparse(v: SparseVector) -> qm.SparseVector:
    return qm.SparseVector(indices=v.indices, values=v.values)


class Retriever:
    """Search the chunk collection.

    Args:
        client: Qdrant client. collection: collection name.
        embedder / sparse: the encoders used at ingestion.
        mode: ``hybrid`` (default), ``dense`` or ``sparse`` only.
        sentences: in ``hybrid`` mode, also search the sentence multivector (a third list).
        fusion: ``rrf`` or ``dbsf`` for hybrid (:meth:`KnowledgeBase.make_retriever` passes the
            ``fusion`` setting, ``dbsf`` unless configured).
        candidates: how many hits each prefetch contributes before fusion.
        reranker: optional sentence-transformers ``CrossEncoder`` that re-orders the fused hits.
        local_sparse: for Qdrant local mode, a vectorised copy of the sparse vectors; the sparse
            lists then come from it and are fused with qdrant-client's own RRF/DBSF functions
            (the code local mode itself runs), so results match the Query API path.
        local_dense, local_sentences: for Qdrant local mode, matrix copies of the dense and
            sentence vectors that score (MaxSim for sentences) and filter in one mat-vec (local
            mode loops over points in Python for multivectors and payload filters).
        sentence_rescore: the sentence list re-scores the dense and sparse lists' candidates
            by MaxSim (a nested prefetch) instead of searching every sentence vector; its cost
            then does not grow with the corpus (``supportbot bench --scale``, ``edge-rerank``).
    """

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        embedder: Embedder,
        sparse: SparseEncoder,
        *,
        mode: Mode = "hybrid",
        fusion: FusionName = "rrf",
        candidates: int = 40,
        reranker: Any | None = None,
        local_sparse: LocalSparseIndex | None = None,
        sentences: bool = False,
        local_dense: LocalVectorIndex | None = None,
        local_sentences: LocalVectorIndex | None = None,
        sentence_rescore: bool = False,
    ) -> None:
        self.sentence_rescore = sentence_rescore
        self.local_sparse = local_sparse
        self.sentences = sentences
        self.local_dense = local_dense
        self.local_sentences = local_sentences
        self.client = client
        self.collection = collection
        self.embedder = embedder
        self.sparse = sparse
        self.mode = mode
        self.fusion = fusion
        self.candidates = candidates
        self.reranker = reranker

    def _local_list(
        self, p: qm.Prefetch, audience: str, flt: qm.Filter | None
    ) -> list[qm.ScoredPoint]:
        """One prefetch's list from the in-memory copies (Qdrant for any without one). A
        sentence prefetch with nested prefetches re-scores their candidates by MaxSim, as the
        Query API does."""
        assert self.local_sparse is not None
        limit = p.limit or self.candidates
        copy = {DENSE: self.local_dense, SENTENCES: self.local_sentences}.get(p.using or "")
        if copy is not None:
            q = p.query
            assert isinstance(q, list)
            vector = np.asarray(q[0] if p.using == SENTENCES else q, dtype=np.float32)
            nested = [p.prefetch] if isinstance(p.prefetch, qm.Prefetch) else p.prefetch or []
            if not nested:
                return copy.search(vector, audience=audience, limit=limit)
            ids = list(
                dict.fromkeys(x.id for n in nested for x in self._local_list(n, audience, flt))
            )
            scores = copy.best_scores(vector[None, :], ids)
            ranked = sorted(
                (
                    (float(score), pid)
                    for score, pid in zip(scores, ids, strict=True)
                    if not np.isnan(score)
                ),
                key=lambda t: -t[0],
            )
            return [qm.ScoredPoint(id=pid, version=0, score=sc) for sc, pid in ranked[:limit]]
        if p.using == SPARSE:
            q = p.query
            assert isinstance(q, qm.SparseVector)
            return self.local_sparse.search(
                SparseVector(list(q.indices), list(q.values)), audience=audience, limit=limit
            )
        return self._query_one(p, flt, limit)

    def _query_one(self, p: qm.Prefetch, flt: qm.Filter | None, limit: int) -> list[qm.ScoredPoint]:
        """One list, searched by Qdrant: the top ``limit`` points of ``p``'s query with their
        payload and chunk vector."""
        return self.client.query_points(
            self.collection,
            query=p.query,
            using=p.using,
            query_filter=flt,
            limit=limit,
            with_payload=True,
            with_vectors=[DENSE],
        ).points

    def _search_local(
        self, prefetch: list[qm.Prefetch], audience: str, flt: qm.Filter | None, fetch: int
    ) -> list[qm.ScoredPoint]:
        """Run each prefetch on the in-memory copies (Qdrant for any without one) and fuse."""
        lists = [self._local_list(p, audience, flt) for p in prefetch]
        fused = _fuse(lists, self.fusion, fetch)
        # Sparse-only hits carry no payload or vector yet: fetch them in one call.
        full = {p.id: p for lst in lists for p in lst if p.payload is not None}
        missing = [p.id for p in fused if p.id not in full]
        if missing:
            for rec in self.client.retrieve(
                self.collection, ids=missing, with_payload=True, with_vectors=[DENSE]
            ):
                full[rec.id] = qm.ScoredPoint(
                    id=rec.id, version=0, score=0.0, payload=rec.payload, vector=rec.vector
                )
        return [
            qm.ScoredPoint(
                id=p.id,
                version=0,
                score=p.score,
                payload=full[p.id].payload,
                vector=full[p.id].vector,
            )
            for p in fused
        ]

    def _sentence_similarities(
        self, points: Sequence[qm.ScoredPoint], queries: NDArray[np.float32]
    ) -> list[float | None]:
        """Per point, the best cosine between any query vector (shape ``(m, dim)``) and any
        sentence vector of the chunk; ``None`` where the collection has no sentence vectors.

        Local mode reads its matrix copy. Otherwise Qdrant scores the returned points itself:
        one MaxSim query per query vector, restricted to their ids, scores only (fetching the
        multivectors instead would ship every sentence vector of every hit on each question).
        """
        if not self.sentences or not points:
            return [None] * len(points)
        if self.local_sentences is not None:
            scores = self.local_sentences.best_scores(queries, [p.id for p in points])
            return [None if np.isnan(x) else float(x) for x in scores]
        ids: list[qm.ExtendedPointId] = [p.id for p in points]
        best: dict[Any, float] = {}
        for q in queries:
            for r in self.client.query_points(
                self.collection,
                query=[q.tolist()],  # a multivector of one vector: MaxSim = its best sentence
                using=SENTENCES,
                query_filter=qm.Filter(must=[qm.HasIdCondition(has_id=ids)]),
                limit=len(ids),
                with_payload=False,
                with_vectors=False,
            ).points:
                best[r.id] = max(best.get(r.id, -1.0), float(r.score))
        return [best.get(p.id) for p in points]

    @staticmethod
    def query_texts(query: str, context: str | None = None) -> list[str]:
        """The texts :meth:`retrieve` embeds for ``query``: the query, and with ``context``
        the context and the query together."""
        return [query] if not context else [query, f"{context}\n{query}"]

    def retrieve(
        self,
        query: str,
        *,
        audience: str = "public",
        limit: int = 10,
        context: str | None = None,
        vectors: NDArray[np.float32] | None = None,
    ) -> RetrievalResult:
        """Top ``limit`` chunks for ``query``; ``context`` (e.g. the previous user turn) joins the
        query in extra prefetches so follow-ups like "and for part-timers?" find their topic.
        ``vectors``: the embeddings of :meth:`query_texts` when the caller has them (e.g. from
        :class:`knowledge.batching.QueryBatcher`), shape ``(n, dim)``; else computed here.

        Blocking (model inference and I/O): call it from a worker thread in async code.
        """
        flt = audience_filter(audience)
        t0 = time.perf_counter()
        texts = self.query_texts(query, context)
        dense_vecs = self.embedder.embed(texts) if vectors is None else vectors
        sparse_vecs = [self.sparse.encode_query(t) for t in texts]
        t1 = time.perf_counter()

        prefetch: list[qm.Prefetch] = []
        for dv, sv in zip(dense_vecs, sparse_vecs, strict=True):
            dense = (
                qm.Prefetch(query=dv.tolist(), using=DENSE, limit=self.candidates, filter=flt)
                if self.mode in ("hybrid", "dense")
                else None
            )
            sparse = (
                qm.Prefetch(query=_sparse(sv), using=SPARSE, limit=self.candidates, filter=flt)
                if self.mode in ("hybrid", "sparse") and sv.indices
                else None
            )
            sentence = None
            if self.mode == "hybrid" and self.sentences:
                # A multivector query of one vector: MaxSim = its best sentence's cosine. With
                # sentence_rescore it scores only the other lists' candidates (nested).
                nested = [p for p in (dense, sparse) if p is not None]
                sentence = qm.Prefetch(
                    query=[dv.tolist()],
                    using=SENTENCES,
                    limit=self.candidates,
                    filter=flt,
                    prefetch=nested if self.sentence_rescore else None,
                )
            prefetch.extend(p for p in (dense, sentence, sparse) if p is not None)
        if not prefetch:  # a query of stop words only, in sparse mode
            return RetrievalResult([], embed_ms=(t1 - t0) * 1000)
        fetch = max(limit, self.candidates if self.reranker else limit)
        if self.local_sparse is not None:
            points = self._search_local(prefetch, audience, flt, fetch)
        elif len(prefetch) == 1:
            points = self._query_one(prefetch[0], flt, fetch)
        else:
            fusion = qm.Fusion.RRF if self.fusion == "rrf" else qm.Fusion.DBSF
            points = self.client.query_points(
                self.collection,
                prefetch=prefetch,
                query=qm.FusionQuery(fusion=fusion),
                query_filter=flt,
                limit=fetch,
                with_payload=True,
                with_vectors=[DENSE],
            ).points
        t2 = time.perf_counter()
        sentence_sims = self._sentence_similarities(points, dense_vecs)
        hits = []
        for point, ssim in zip(points, sentence_sims, strict=True):
            vec = point.vector.get(DENSE) if isinstance(point.vector, dict) else None
            sim = float(np.max(dense_vecs @ np.asarray(vec, dtype=np.float32))) if vec else 0.0
            hits.append(Hit(Chunk.from_payload(point.payload or {}), float(point.score), sim, ssim))
        result = RetrievalResult(hits, embed_ms=(t1 - t0) * 1000, search_ms=(t2 - t1) * 1000)
        if self.reranker is not None and hits:
            t3 = time.perf_counter()
            scores = self.reranker.predict([(query, h.chunk.embedding_text) for h in hits])
            order = np.argsort(-np.asarray(scores))
            result.hits = [
                Hit(
                    hits[i].chunk, float(scores[i]), hits[i].similarity, hits[i].sentence_similarity
                )
                for i in order
            ]
            result.rerank_ms = (time.perf_counter() - t3) * 1000
        result.hits = result.hits[:limit]
        return result


def _fuse(
    lists: list[list[qm.ScoredPoint]], fusion: FusionName, limit: int
) -> list[qm.ScoredPoint]:
    if len(lists) == 1:
        return lists[0][:limit]
    if fusion == "rrf":
        return reciprocal_rank_fusion(lists, limit=limit)
    return distribution_based_score_fusion(lists, limit=limit)


def keep_top_sources(hits: Sequence[Hit], k: int) -> list[Hit]:
    """The best hit of each of the first ``k`` distinct sources (pages or sections)."""
    seen: set[str] = set()
    out = []
    for h in hits:
        if h.chunk.source_id not in seen:
            seen.add(h.chunk.source_id)
            out.append(h)
            if len(out) == k:
                break
    return out
