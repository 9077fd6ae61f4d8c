"""The answer memory: verified answers, served again to a question that is the same.

An answer is **verified** (:meth:`bot.feedback.FeedbackStore.verified_answers`) when a support
lead marked it verified or wrote a corrected answer, or, with ``memory_min_up_votes = N``
(0 = off), when N distinct people voted 👍 and nobody 👎. A lead's ``wrong`` or ``dismissed``
outweighs any votes.

Verified answers live in a Qdrant collection of their own (``<collection>_memory``, in the same
Qdrant as the index): one point per answer, its vector the question's embedding, its payload
the answer text, the ids of the chunks it cites and its audience. For a new question the
nearest verified question is found (cosine similarity, audience-filtered: a ``public`` question
only sees answers given to a public audience); it is served when

- the similarity is at least ``memory_threshold`` (default :data:`DEFAULT_THRESHOLD`; see
  ``scripts/memory_threshold.py`` for how it was chosen), and
- every chunk it cites still exists in the index, unchanged, and is visible to the asker's
  audience. Chunk ids carry the document's version hash (:mod:`knowledge.chunking`), so a sync
  that changes or removes a cited document makes the answer **stale**; a stale answer is never
  served, and :meth:`AnswerMemory.refresh` reports it so the review console shows it.

The served answer is labelled verified and cited as usual: its citations are rebuilt from the
chunks as they are in the index now.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qdrant_client import models as qm

from knowledge.chunking import Chunk
from knowledge.embedding import Embedder
from knowledge.index import QdrantIndex
from knowledge.retrieval import Hit, audience_filter

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.95
"""Cosine similarity of question embeddings at and above which a verified answer is served
(see ``scripts/memory_threshold.py`` and the README's "Answer memory")."""

MEMORY_NAMESPACE = uuid.UUID("2f1c7a52-5f0e-4b7e-9d0b-7c3e55e1a9d4")
VECTOR = "question"


def memory_collection(collection: str) -> str:
    """Name of the answer memory's collection beside the chunk collection ``collection``."""
    return f"{collection}_memory"


def links_collection(collection: str) -> str:
    """Name of the feedback links' collection beside the chunk collection ``collection``."""
    return f"{collection}_links"


def _question_collection(index: QdrantIndex, name: str, dim: int) -> int:
    """Create the question-vector collection ``name`` beside ``index`` (in its client, with its
    server layout) if missing; returns its point count."""
    client = index.client
    if not client.collection_exists(name):
        layout = index.layout
        params = qm.VectorParams(size=dim, distance=qm.Distance.COSINE)
        client.create_collection(
            name,
            vectors_config={
                VECTOR: params if index.is_local else layout.vector_params(VECTOR, params)
            },
            **({} if index.is_local else layout.collection_kwargs()),
        )
    return int(client.count(name, exact=True).count)


def _payloads(client: Any, name: str, fields: list[str]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``(point id, payload)`` of every point of collection ``name`` (``fields`` only)."""
    offset: Any = None
    while True:
        points, offset = client.scroll(name, limit=1024, offset=offset, with_payload=fields)
        for p in points:
            yield p.id, dict(p.payload or {})
        if offset is None:
            return


@dataclass(frozen=True)
class VerifiedAnswer:
    """A verified answer: the question, the answer text (the lead's correction when there is
    one), the ids of the chunks it cites (in citation order, ``[1]`` first), the audience it was
    given to, and who verified it (``lead`` or ``votes``)."""

    answer_id: str
    question: str
    text: str
    chunk_ids: tuple[str, ...]
    audience: str
    by: str
    corrected: bool = False


@dataclass(frozen=True)
class MemoryHit:
    """A verified answer that fits a question, its similarity, and its cited chunks as the
    index holds them now (in citation order)."""

    entry: VerifiedAnswer
    similarity: float
    chunks: tuple[Chunk, ...]


@dataclass
class RefreshReport:
    """What :meth:`AnswerMemory.refresh` did: entries kept in the memory, and the answer ids
    whose cited chunks are gone or changed (stale)."""

    entries: int = 0
    added: int = 0
    removed: int = 0
    stale: list[str] = field(default_factory=list)


class AnswerMemory:
    """Verified answers in a Qdrant collection; see the module docstring.

    Args:
        index: the chunks' collection (its client holds the memory's collection too; the
            freshness check reads the chunks from it).
        embedder: the bot's embedding model (questions are embedded as queries).
        threshold: the cosine similarity a question needs to get a verified answer.
    """

    def __init__(
        self,
        index: QdrantIndex,
        embedder: Embedder,
        *,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.index = index
        self.client = index.client
        self.collection = memory_collection(index.collection)
        self.embedder = embedder
        self.threshold = threshold
        self._lock = threading.Lock()
        self.size = _question_collection(index, self.collection, embedder.dim)
        """Verified answers held (with none, :meth:`lookup` costs nothing: no embedding)."""

    def _fresh(self, entry: VerifiedAnswer, audience: str) -> tuple[Chunk, ...] | None:
        """The entry's chunks if every one still exists and ``audience`` may see it."""
        found = self.index.chunks(entry.chunk_ids)
        chunks = tuple(found[c] for c in entry.chunk_ids if c in found)
        if len(chunks) != len(entry.chunk_ids) or not chunks:
            return None
        if audience == "public" and any(c.audience != "public" for c in chunks):
            return None
        return chunks

    def refresh(self, verified: Sequence[VerifiedAnswer]) -> RefreshReport:
        """Make the memory hold exactly ``verified`` (new ones embedded, withdrawn ones
        deleted), and report which of them are stale. Blocking (the embedding model and
        Qdrant): call it in a worker thread from async code."""
        report = RefreshReport(entries=len(verified))
        wanted = {v.answer_id: v for v in verified}
        with self._lock:
            have = {
                str(p["answer_id"])
                for _, p in _payloads(self.client, self.collection, ["answer_id"])
            }
            new = [v for v in verified if v.answer_id not in have]
            gone = sorted(have - set(wanted))
            if new:
                vectors = self.embedder.embed([v.question for v in new])
                self.client.upsert(
                    self.collection,
                    [
                        qm.PointStruct(
                            id=str(uuid.uuid5(MEMORY_NAMESPACE, v.answer_id)),
                            vector={VECTOR: vec.tolist()},
                            payload={
                                "answer_id": v.answer_id,
                                "question": v.question,
                                "text": v.text,
                                "chunk_ids": list(v.chunk_ids),
                                "audience": v.audience,
                                "by": v.by,
                                "corrected": v.corrected,
                            },
                        )
                        for v, vec in zip(new, vectors, strict=True)
                    ],
                )
            if gone:
                self.client.delete(
                    self.collection,
                    [str(uuid.uuid5(MEMORY_NAMESPACE, a)) for a in gone],
                )
            report.added, report.removed = len(new), len(gone)
            self.size = len(wanted)
        # Stale: a cited chunk is gone from the index as it is now (one read for all of them).
        present = self.index.chunks([c for v in verified for c in v.chunk_ids])
        report.stale = [v.answer_id for v in verified if any(c not in present for c in v.chunk_ids)]
        return report

    def _search(
        self, question: str, audience: str, limit: int, vector: NDArray[np.float32] | None = None
    ) -> list[Any]:
        if vector is None:
            vector = self.embedder.embed_query(question)
        flt = audience_filter(audience)  # the same rule as the chunks': public sees public
        return self.client.query_points(
            self.collection,
            query=vector.tolist(),
            using=VECTOR,
            query_filter=flt,
            limit=limit,
            with_payload=True,
        ).points

    @staticmethod
    def _entry(payload: dict[str, Any]) -> VerifiedAnswer:
        return VerifiedAnswer(
            answer_id=str(payload["answer_id"]),
            question=str(payload["question"]),
            text=str(payload["text"]),
            chunk_ids=tuple(str(c) for c in payload.get("chunk_ids") or ()),
            audience=str(payload["audience"]),
            by=str(payload.get("by") or "lead"),
            corrected=bool(payload.get("corrected")),
        )

    def examples(self, question: str, audience: str, k: int) -> list[MemoryHit]:
        """The ``k`` verified answers nearest to ``question`` (any similarity) that are fresh
        and visible to ``audience``, nearest first: the LLM prompt's dynamic few-shot
        examples. Blocking."""
        if not self.size or k <= 0:
            return []
        out = []
        for point in self._search(question, audience, 4 * k):
            entry = self._entry(point.payload or {})
            chunks = self._fresh(entry, audience)
            if chunks is not None:
                out.append(MemoryHit(entry, float(point.score), chunks))
            if len(out) == k:
                break
        return out

    def lookup(
        self, question: str, audience: str, vector: NDArray[np.float32] | None = None
    ) -> MemoryHit | None:
        """The verified answer to serve for ``question`` asked by ``audience``, or ``None``
        (none close enough, or the closest is stale or not for this audience). ``vector``: the
        question's embedding when the caller has it (shape ``(dim,)``). Blocking."""
        if not self.size:
            return None
        for point in self._search(question, audience, 3, vector):
            if point.score < self.threshold:
                return None
            entry = self._entry(point.payload or {})
            chunks = self._fresh(entry, audience)
            if chunks is not None:
                return MemoryHit(entry, float(point.score), chunks)
        return None


# -- feedback-aware retrieval --------------------------------------------------------------------
LEAD_WEIGHT = 3.0
"""A lead's verification (or the citations of a correction) counts as this many 👍; a lead's
``wrong`` as this many 👎, so one lead outweighs a couple of users."""
VOTE_CAP = 3
"""At most this many 👍 (or 👎) of one answer count: votes are one per person already, and the
cap bounds what a crowd (or one person with many answers) adds to a chunk."""


@dataclass(frozen=True)
class LinkedAnswer:
    """A past question and what its feedback says about chunks: ``weights`` maps a chunk id to
    a signed weight (positive: the chunk answered it, negative: it did not)."""

    answer_id: str
    question: str
    audience: str
    weights: dict[str, float]


class FeedbackLinks:
    """Question → chunk links learnt from votes and a lead's decisions, used to re-rank what
    the retriever found for a similar new question.

    The links live in ``<collection>_links`` (one point per answer with feedback: the question's
    embedding and its chunk weights). For a new question, the past questions at least
    ``min_similarity`` cosine-similar (audience-filtered, like the chunks) vote for their
    chunks: ``boost(c) = clip(Σ sim · w(c) / LEAD_WEIGHT, -1, 1)``. Each retrieved hit's fused
    score then moves by ``strength · boost(c) · (max score − min score)`` of the list, so the
    effect is bounded by the list's own score range: a chunk can climb past neighbours but a
    single link cannot lift it above everything, and a question unlike any past one (below
    ``min_similarity``) is not touched. Only chunks the retriever already returned, for this
    audience, are moved (audience filters apply before any boost). ``strength`` 0 turns it off.
    """

    def __init__(
        self,
        index: QdrantIndex,
        embedder: Embedder,
        *,
        strength: float,
        min_similarity: float,
    ) -> None:
        self.client = index.client
        self.collection = links_collection(index.collection)
        self.embedder = embedder
        self.strength = strength
        self.min_similarity = min_similarity
        self._lock = threading.Lock()
        self.size = _question_collection(index, self.collection, embedder.dim)

    def refresh(self, linked: Sequence[LinkedAnswer]) -> int:
        """Make the collection hold exactly ``linked`` (re-embedding only new questions);
        returns how many are held. Blocking."""
        with self._lock:
            have: dict[str, Any] = {}
            held: dict[str, dict[str, float]] = {}
            for point_id, payload in _payloads(
                self.client, self.collection, ["answer_id", "weights"]
            ):
                have[str(payload["answer_id"])] = point_id
                held[str(payload["answer_id"])] = dict(payload.get("weights") or {})
            wanted = {a.answer_id: a for a in linked}
            new = [a for a in linked if a.answer_id not in have]
            vectors = self.embedder.embed([a.question for a in new])
            new_points = [
                qm.PointStruct(
                    id=str(uuid.uuid5(MEMORY_NAMESPACE, "links:" + a.answer_id)),
                    vector={VECTOR: vec.tolist()},
                    payload={
                        "answer_id": a.answer_id,
                        "audience": a.audience,
                        "weights": a.weights,
                    },
                )
                for a, vec in zip(new, vectors, strict=True)
            ]
            if new_points:
                self.client.upsert(self.collection, new_points)
            for a in linked:  # votes change weights: rewrite only those that changed
                if a.answer_id in held and held[a.answer_id] != a.weights:
                    self.client.set_payload(
                        self.collection,
                        {"weights": a.weights},
                        points=[have[a.answer_id]],
                    )
            gone = [have[a] for a in have if a not in wanted]
            if gone:
                self.client.delete(self.collection, gone)
            self.size = len(wanted)
            return self.size

    def boosts(
        self, question: str, audience: str, vector: NDArray[np.float32] | None = None
    ) -> dict[str, float]:
        """``chunk_id → boost`` in [-1, 1] for ``question`` (empty when nothing is similar
        enough, or when off); ``vector``: the question's embedding if the caller has it.
        Blocking."""
        if not self.size or self.strength <= 0:
            return {}
        flt = audience_filter(audience)  # the same rule as the chunks': public sees public
        if vector is None:
            vector = self.embedder.embed_query(question)
        found = self.client.query_points(
            self.collection,
            query=vector.tolist(),
            using=VECTOR,
            query_filter=flt,
            limit=10,
            score_threshold=self.min_similarity,
            with_payload=True,
        ).points
        total: dict[str, float] = {}
        for point in found:
            for chunk_id, w in ((point.payload or {}).get("weights") or {}).items():
                total[chunk_id] = total.get(chunk_id, 0.0) + point.score * float(w)
        return {c: max(-1.0, min(1.0, v / LEAD_WEIGHT)) for c, v in total.items()}

    def rerank(self, hits: Sequence[Hit], boosts: dict[str, float]) -> list[Hit]:
        """``hits`` re-ordered by their boosted fused scores (see the class docstring); the
        scores themselves are kept as the retriever gave them."""
        if not hits or not boosts:
            return list(hits)
        scores = [h.score for h in hits]
        span = (max(scores) - min(scores)) or 1.0
        moved = [
            (h.score + self.strength * boosts.get(h.chunk.chunk_id, 0.0) * span, -i, h)
            for i, h in enumerate(hits)
        ]
        return [h for _, _, h in sorted(moved, key=lambda t: (t[0], t[1]), reverse=True)]
