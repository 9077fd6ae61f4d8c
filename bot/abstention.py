"""Abstention: decide whether the retrieved sources support an answer at all.

The support score is the highest dense cosine similarity between the question and the top
retrieved chunks (same model as retrieval; sentence-transformers cosine, range [-1, 1]). RRF
scores only rank and cannot be thresholded, while cosine similarity of a normalised sentence
encoder is comparable across questions and collections.

The default threshold was calibrated on the score distributions of answerable and unanswerable
questions (``supportbot eval`` plots both histograms with the threshold marked): it is set so
that about 5% of answerable questions fall below it. Recalibrate for another embedding model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.retrieval import Hit

# all-MiniLM-L6-v2: 5th percentile of the support score of answerable questions (see module doc).
DEFAULT_THRESHOLD = 0.55


@dataclass(frozen=True)
class SupportDecision:
    """``support``: the support score; ``abstain``: whether it is below the threshold;
    ``confidence``: support rescaled to [0, 1] around the threshold (monotone, not a probability)."""

    support: float
    abstain: bool
    confidence: float


def support_score(hits: Sequence[Hit], top: int = 3) -> float:
    """Max dense similarity over the first ``top`` hits (0.0 when nothing was retrieved)."""
    return max((h.similarity for h in hits[:top]), default=0.0)


def decide(hits: Sequence[Hit], threshold: float = DEFAULT_THRESHOLD) -> SupportDecision:
    """Abstain when the support score is below ``threshold`` or nothing was retrieved."""
    s = support_score(hits)
    # Map [threshold - 0.25, threshold + 0.25] linearly onto [0, 1].
    confidence = min(1.0, max(0.0, (s - threshold) / 0.5 + 0.5))
    return SupportDecision(s, not hits or s < threshold, confidence)
