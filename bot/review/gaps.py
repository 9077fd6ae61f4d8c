"""Knowledge gaps: the questions the bot abstained on or got 👎 for, grouped by topic.

The questions are embedded with the bot's own embedding model and clustered by scikit-learn's
``AgglomerativeClustering`` (average linkage over cosine distance, cut at
``distance_threshold``, so the number of groups follows the data). Each group shows its size,
a representative question (the one nearest the group's mean vector), its weekly trend, and the
documents its answers retrieved most often (from what each answer stored: the console never
opens the index, which a running bot holds).

``DEFAULT_DISTANCE`` = 0.5: with all-MiniLM-L6-v2, paraphrases of one question sit below ~0.3
and questions on one topic mostly below ~0.5 (cosine distance); it is a setting
(``review_gap_distance``) because how coarse a "topic" should be is the lead's call.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import or_
from sqlalchemy.orm import Session

from bot.feedback import AnswerRow, FeedbackStore
from bot.review.feedback_report import Filters, bucket_start, filtered_query

DEFAULT_DISTANCE = 0.5
MAX_QUESTIONS = 3000
"""The most recent gap questions clustered (average linkage is quadratic in memory)."""

Embed = Callable[[list[str]], NDArray[np.float32]]


@dataclass(frozen=True)
class Gap:
    """One topic the documents do not cover well."""

    size: int
    representative: str
    questions: list[str]  # up to 10, nearest the centre first
    abstained: int  # how many of them the bot abstained on (the rest got a 👎)
    weekly: list[tuple[datetime, int]]  # questions per ISO week (Monday, count)
    documents: list[tuple[str, int]]  # most retrieved documents, with how many answers
    answer_ids: list[str]


async def knowledge_gaps(
    store: FeedbackStore,
    embed: Embed,
    filters: Filters | None = None,
    *,
    distance: float = DEFAULT_DISTANCE,
    limit: int = MAX_QUESTIONS,
) -> list[Gap]:
    """Group the filtered answers that were abstentions or got a 👎; largest groups first.

    Args:
        embed: texts → L2-normalised vectors of shape ``(n, dim)`` (the bot's embedder;
            called in a worker thread).
        distance: the cosine distance at which the clustering stops merging.
    """
    stmt = filtered_query(
        (
            AnswerRow.id,
            AnswerRow.question,
            AnswerRow.created_at,
            AnswerRow.abstained,
            AnswerRow.retrieved,
        ),
        filters or Filters(),
    )
    stmt = (
        stmt.where(or_(AnswerRow.abstained.is_(True), AnswerRow.down > 0))
        .order_by(AnswerRow.created_at.desc())
        .limit(limit)
    )

    def work(s: Session) -> list[Any]:
        return list(s.execute(stmt))

    rows = await store.read(work)
    if not rows:
        return []
    # The model and the clustering are blocking work: off the event loop.
    vectors = await asyncio.to_thread(embed, [r.question for r in rows])
    labels = await asyncio.to_thread(_cluster, vectors, distance)
    gaps = []
    for label in set(labels.tolist()):
        members = [i for i, lab in enumerate(labels) if lab == label]
        gaps.append(_gap([rows[i] for i in members], vectors[members]))
    return sorted(gaps, key=lambda g: (-g.size, g.representative))


def _cluster(vectors: NDArray[np.float32], distance: float) -> NDArray[np.int64]:
    if len(vectors) == 1:
        return np.zeros(1, dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    )
    return np.asarray(model.fit_predict(vectors), dtype=np.int64)


def _gap(rows: Sequence[Any], vectors: NDArray[np.float32]) -> Gap:
    centre = vectors.mean(axis=0)
    order = np.argsort(-(vectors @ centre))
    weeks = Counter(bucket_start(r.created_at, "week") for r in rows)
    docs = Counter(
        doc for r in rows for doc in dict.fromkeys(str(c.get("doc_id")) for c in r.retrieved or [])
    )
    return Gap(
        size=len(rows),
        representative=rows[int(order[0])].question,
        questions=[rows[int(i)].question for i in order[:10]],
        abstained=sum(1 for r in rows if r.abstained),
        weekly=sorted(weeks.items()),
        documents=docs.most_common(3),
        answer_ids=[r.id for r in rows],
    )
