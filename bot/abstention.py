"""Abstention: decide whether the retrieved sources support an answer at all.

Two signals, both independent of the wording of particular questions:

1. **Support**: the highest dense cosine similarity between the question and the top retrieved
   sources (same model as retrieval; range [-1, 1]). RRF/DBSF scores only rank and cannot be
   thresholded; the cosine of a normalised sentence encoder is comparable across questions.
2. **Unknown terms**: content words of the question (stemmed, stop words removed) that occur
   nowhere in the indexed corpus. A question about "California" or "dental implants" when no
   document mentions them is about something the documents do not cover.

The bot abstains when support < ``threshold``, or when the question has an unknown term and
support < ``unknown_term_threshold`` (a strong semantic match still answers, so a typo or a
synonym alone does not silence it).

Defaults were calibrated for all-MiniLM-L6-v2 on the score distributions of answerable and
unanswerable questions (``supportbot eval`` plots both histograms): on the Contoso set they
abstain on 0.5% of answerable and 64% of unanswerable questions; 0.45 keeps well inside a 5%
budget of answerable abstentions rather than at its edge (0.60 on Contoso), so that it carries
to other document sets. Recalibrate for another model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.retrieval import Hit

DEFAULT_THRESHOLD = 0.45
DEFAULT_UNKNOWN_TERM_THRESHOLD = 0.65


@dataclass(frozen=True)
class SupportDecision:
    """``support``: the support score; ``abstain``: the decision; ``unknown_terms``: question
    words absent from the corpus; ``confidence``: support rescaled to [0, 1] around the
    threshold that applied (monotone in support, not a probability)."""

    support: float
    abstain: bool
    confidence: float
    unknown_terms: tuple[str, ...] = ()


def support_score(hits: Sequence[Hit], top: int = 3) -> float:
    """Max dense similarity over the first ``top`` hits (0.0 when nothing was retrieved)."""
    return max((h.similarity for h in hits[:top]), default=0.0)


def decide(
    hits: Sequence[Hit],
    *,
    unknown_terms: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    unknown_term_threshold: float = DEFAULT_UNKNOWN_TERM_THRESHOLD,
) -> SupportDecision:
    """Apply the rule in the module docstring."""
    s = support_score(hits)
    bar = unknown_term_threshold if unknown_terms else threshold
    # Map [bar - 0.25, bar + 0.25] linearly onto [0, 1].
    confidence = min(1.0, max(0.0, (s - bar) / 0.5 + 0.5))
    return SupportDecision(s, not hits or s < bar, confidence, tuple(unknown_terms))
