"""Per-corpus abstention calibration, computed without labels and stored with the collection.

How similar must a question be to the best retrieved passage before the bot answers? The answer
depends on the corpus: short manual sections with terse questions score lower cosines than long
benefit books with well-formed ones (on the Galaxy S10 manual the 2nd percentile of answerable
questions' support is 0.55, on Contoso 0.67), so one absolute constant refuses too much on one
corpus or too little on another.

Method (a null-distribution test, as in score normalisation for open-set recognition and
the null-model thresholds of classic retrieval): after every ingestion that changes the
collection, the bundled off-topic questions (``data/off_topic_questions.txt``: 120 everyday
questions in 24 domains that support documents do not cover) are retrieved against *this*
corpus exactly as real questions are, and their support scores form the corpus's null
distribution: how well an unrelated question happens to match these documents. With ``hi`` its
95th percentile and ``med`` its median (``spread = hi − med``):

- ``threshold = hi + 0.25 · spread``: a question must beat nearly all unrelated ones;
- ``unknown_term_threshold = hi + 1.25 · spread``: the bar when the question has a content word
  the corpus does not know (:mod:`knowledge.vocabulary`, typo-tolerant), evidence on its own
  that the question is about something else.

Both bars are relative to the corpus's own null distribution; no cosine constant is fixed.
Each audience gets its own pair: a public channel searches only the public chunks, whose
scores can sit lower than the whole collection's, so the public bars are calibrated on the
public chunks alone (when some chunks are internal). The
two multipliers were chosen on two dev sets (Contoso and Galaxy S10) as the ones that keep every
answerable question of both answered while refusing most of Contoso's don't-know questions; the
README gives the trade-off curve. The 24 domains keep one topic that a corpus happens to share
with the null set from moving the 95th percentile (5 questions of 120 are 4%).

The support score of a question is the best cosine between the question and any *sentence* of
the top :data:`SUPPORT_SOURCES` distinct sources (Qdrant's MaxSim over the sentence
multivector; the chunk cosine when sentence vectors are off). On Contoso it separates answerable
from don't-know questions better than the chunk cosine (ROC AUC 0.855 vs 0.837), and its floor
for answerable questions varies less between corpora.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

METHOD = "off-topic-null-v2"
NULL_QUANTILE = 0.95
MARGIN = 0.25  # threshold = hi + MARGIN * spread
UNKNOWN_MARGIN = 1.25  # unknown_term_threshold = hi + UNKNOWN_MARGIN * spread
SUPPORT_SOURCES = 3  # support = best sentence cosine over this many top distinct sources
OFF_TOPIC_FILE = Path(__file__).with_name("data") / "off_topic_questions.txt"


class _Supported(Protocol):
    @property
    def support(self) -> float: ...


def support_score(sources: Sequence[_Supported], top: int = SUPPORT_SOURCES) -> float:
    """Best :attr:`knowledge.retrieval.Hit.support` over the first ``top`` sources (distinct
    pages or sections, best first); 0.0 when nothing was retrieved. A cosine in [-1, 1]."""
    return max((h.support for h in sources[:top]), default=0.0)


@cache
def off_topic_questions(path: Path = OFF_TOPIC_FILE) -> tuple[str, ...]:
    """The bundled off-topic questions (one per line; ``#`` lines are comments)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class Calibration:
    """Abstention bars of one collection, and what they were computed from.

    Attributes:
        threshold: minimum support (cosine) to answer.
        unknown_term_threshold: minimum support when the question has an unknown content word.
        null_median, null_high: median and 95th percentile of the off-topic questions' support.
        n_null: how many off-topic questions were scored.
        n_chunks: chunks in the collection when calibrated.
        model: the embedding model the scores come from.
        method: :data:`METHOD`; a calibration of another method is recomputed.
        created: ISO 8601 UTC time.
        audience: the chunks it was computed on: ``internal`` (all) or ``public``.
    """

    threshold: float
    unknown_term_threshold: float
    null_median: float
    null_high: float
    n_null: int
    n_chunks: int
    model: str
    method: str = METHOD
    created: str = ""
    audience: str = "internal"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (stored in the collection's metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: not a calibration record.
        """
        return cls(
            threshold=float(d["threshold"]),
            unknown_term_threshold=float(d["unknown_term_threshold"]),
            null_median=float(d["null_median"]),
            null_high=float(d["null_high"]),
            n_null=int(d["n_null"]),
            n_chunks=int(d["n_chunks"]),
            model=str(d["model"]),
            method=str(d.get("method", "")),
            created=str(d.get("created", "")),
            audience=str(d.get("audience", "internal")),
        )


def thresholds_from_null(null_scores: Sequence[float]) -> tuple[float, float, float, float]:
    """``(threshold, unknown_term_threshold, median, high)`` from the null support scores (see
    the module docstring).

    Raises:
        ValueError: no scores.
    """
    if not null_scores:
        raise ValueError("calibration needs at least one off-topic score")
    values = np.asarray(null_scores, dtype=float)
    med = float(np.median(values))
    hi = float(np.quantile(values, NULL_QUANTILE))
    spread = max(hi - med, 0.0)
    return hi + MARGIN * spread, hi + UNKNOWN_MARGIN * spread, med, hi


def calibrate(
    support_of: Callable[[Sequence[str]], Sequence[float]],
    *,
    n_chunks: int,
    model: str,
    questions: Sequence[str] | None = None,
    audience: str = "internal",
) -> Calibration:
    """Compute a collection's calibration.

    Args:
        support_of: the support score (see :func:`support_score`) of each question, retrieved
            against the collection exactly as a real question is.
        n_chunks: chunks in the collection (recorded).
        model: the embedding model name (recorded).
        questions: the off-topic questions; default :func:`off_topic_questions`.
        audience: which chunks ``support_of`` searches (recorded).

    Raises:
        ValueError: no questions.
    """
    qs = list(questions if questions is not None else off_topic_questions())
    scores = list(support_of(qs))
    threshold, unknown, med, hi = thresholds_from_null(scores)
    return Calibration(
        threshold=threshold,
        unknown_term_threshold=unknown,
        null_median=med,
        null_high=hi,
        n_null=len(qs),
        n_chunks=n_chunks,
        model=model,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        audience=audience,
    )
