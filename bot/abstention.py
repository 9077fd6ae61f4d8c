"""Abstention: decide whether the retrieved sources support an answer at all.

Two signals, both independent of the wording of particular questions:

1. **Support**: the best cosine similarity between the question and any sentence of the top
   retrieved sources (:func:`knowledge.calibration.support_score`). Fused RRF/DBSF scores only
   rank and cannot be thresholded; the cosine of a normalised sentence encoder can.
2. **Unknown terms**: content words of the question that occur nowhere in the indexed corpus,
   typos tolerated (:mod:`knowledge.vocabulary`). A question about "dental implants" when no
   document mentions implants is about something the documents do not cover.

The bot abstains when support < ``threshold``, or when the question has an unknown term and
support < ``unknown_term_threshold`` (a strong match still answers, so a synonym alone does
not silence it). Both bars come from the collection's own calibration
(:mod:`knowledge.calibration`), recomputed whenever the documents change; the
``abstain_threshold`` settings override them.

An LLM generator can abstain too: a reply that says the sources do not cover the question is
turned into the same abstention (:func:`says_not_covered`, reason ``not_covered``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from knowledge.calibration import support_score
from knowledge.retrieval import Hit

# Used only when a collection has no calibration yet (empty) and nothing is configured.
FALLBACK_THRESHOLD = 0.45
FALLBACK_UNKNOWN_TERM_THRESHOLD = 0.65

Reason = Literal["no_sources", "low_support", "unknown_terms", "not_covered", "unsupported"]
REASONS: tuple[Reason, ...] = (
    "no_sources",
    "low_support",
    "unknown_terms",
    "not_covered",
    "unsupported",
)


@dataclass(frozen=True)
class SupportDecision:
    """``support``: the support score; ``abstain``: the decision; ``reason``: which rule
    refused (``None`` when answering); ``unknown_terms``: question words absent from the corpus;
    ``confidence``: support rescaled to [0, 1] around the bar that applied (monotone in support,
    not a probability); ``bar``: that bar."""

    support: float
    abstain: bool
    confidence: float
    unknown_terms: tuple[str, ...] = ()
    reason: Reason | None = None
    bar: float = 0.0


def decide(
    hits: Sequence[Hit],
    *,
    unknown_terms: Sequence[str] = (),
    threshold: float = FALLBACK_THRESHOLD,
    unknown_term_threshold: float = FALLBACK_UNKNOWN_TERM_THRESHOLD,
) -> SupportDecision:
    """Apply the rule in the module docstring to the top distinct sources ``hits``."""
    s = support_score(hits)
    bar = max(threshold, unknown_term_threshold) if unknown_terms else threshold
    # Map [bar - 0.25, bar + 0.25] linearly onto [0, 1].
    confidence = min(1.0, max(0.0, (s - bar) / 0.5 + 0.5))
    reason: Reason | None = None
    if not hits:
        reason = "no_sources"
    elif s < threshold:
        reason = "low_support"
    elif s < bar:
        reason = "unknown_terms"
    return SupportDecision(
        s, reason is not None, confidence, tuple(unknown_terms), reason=reason, bar=bar
    )


# Replies in which a model says that the sources do not answer the question: the prompt's rule 3
# asks for exactly this, and models word it in a handful of ways. Matched only against the
# start of a reply, or a reply with no citation, so that "the plan does not cover cosmetic
# surgery [2]" (a cited fact) is not taken for a refusal.
NOT_COVERED = re.compile(
    r"\b(?:"
    r"(?:the\s+)?(?:provided\s+|given\s+|available\s+)?(?:sources?|documents?|documentation|"
    r"context|passages?|texts?|information)\s+(?:provided\s+|given\s+|available\s+)?"
    r"(?:do(?:es)?\s+not|don't|doesn't|did\s+not|didn't)\s+"
    r"(?:cover|contain|include|mention|address|answer|say|specify|provide|state|discuss|have)"
    r"|(?:no|not\s+(?:any|enough))\s+(?:relevant\s+)?information\s+(?:about|on|regarding|in)"
    r"|(?:is|are)\s+not\s+(?:covered|mentioned|addressed|specified|stated)\s+in\s+the\s+"
    r"(?:sources?|documents?|documentation|context|passages?)"
    r"|(?:i\s+)?(?:could\s+not|couldn't|cannot|can't|can\s+not|am\s+unable\s+to)\s+"
    r"(?:find|answer|determine|locate)\b[^.]*\b(?:sources?|documents?|documentation|context)"
    r"|(?:i\s+)?(?:do\s+not|don't)\s+(?:know|have\s+(?:enough\s+)?information)"
    r")",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


def says_not_covered(text: str) -> bool:
    """Whether an LLM reply says the sources do not cover the question.

    True when the reply's first sentence says so (whatever follows, e.g. a suggestion to ask
    someone), or when the reply cites nothing and says so anywhere.
    """
    first = re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]
    if NOT_COVERED.search(first) and not _MARKER.search(first):
        return True
    return not _MARKER.search(text) and bool(NOT_COVERED.search(text))
