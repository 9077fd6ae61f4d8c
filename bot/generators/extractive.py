"""The embedded generator: answer with the source sentences that best answer the question.

No language model and no key. The sentences of the top sources are scored by how much of the
question's (stemmed) words they contain, the classic sliding-window baseline of extractive QA
(Richardson et al. 2013, MCTest), minus a small penalty per rank of their source. Sentences are
picked greedily with a redundancy penalty for a source already quoted (maximal marginal
relevance), up to ``max_sentences`` within a word budget, and returned in reading order, each
followed by the ``[n]`` of its source; a sentence that overlapping chunks share is quoted once
and cites every source that holds it. On the 201 Contoso questions the penalty, with a fourth
sentence allowed (90 words instead of 70), raised citation hit from 0.822 to 0.868 at about the
same token F1 (0.412 → 0.409); quoting shared sentences once then gave 0.883 and 0.416.

A source other than the best-ranked one is quoted only when it supports the question itself:
its support (best sentence cosine with the question) must reach halfway from the abstention
threshold to the best source's support (``t + ½·(s_max − t)``), a bar relative to the corpus
calibration and to this question. Without it, an unrelated document that shares one word with
the question ("employees") is quoted just to cite a second source. Sentences that are page
furniture (boilerplate repeated across documents, :mod:`knowledge.furniture`) or bare links
("Source: https://…", :func:`knowledge.sentences.is_link_line`) are never quoted.

Measured on 80 Contoso questions against their gold answers, this scores higher (token F1 0.400,
ROUGE-L 0.307) than adding the embedding similarity of each sentence to the question (0.379,
0.297), at about 5 ms instead of 110 ms per answer on 2 CPU cores, so no sentence is embedded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bot.citations import MARKER
from bot.generators.base import Generation, SourceText
from knowledge.sentences import LIST_MARK, split_sentences
from knowledge.sparse import SparseEncoder

LEXICAL_WEIGHT = 0.35
NEAR_BEST = 0.15  # a further sentence must score within this of the best one
RANK_PRIOR = 0.03  # score lost per source rank below the first
SAME_SOURCE_PENALTY = 2 * RANK_PRIOR  # score lost by a sentence whose source is already quoted
MIN_WORDS, MAX_WORDS = 4, 90
SECOND_SOURCE_SHARE = 0.5  # a further source needs t + this·(s_max − t) support


@dataclass(frozen=True)
class _Candidate:
    source: int
    position: int
    text: str
    also_in: tuple[int, ...] = ()  # further sources holding the same sentence


class ExtractiveGenerator:
    """See module docstring.

    Args:
        sparse: the tokenizer (stemming, stop words) used for word overlap.
        max_sources: how many of the top sources to read sentences from.
        max_sentences: most sentences in an answer.
        word_budget: stop adding sentences once the answer has this many words.
        skip: a sentence for which this returns true is never quoted (page furniture).
    """

    name = "extractive"

    def __init__(
        self,
        sparse: SparseEncoder,
        *,
        max_sources: int = 3,
        max_sentences: int = 4,
        word_budget: int = 90,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        self.skip = skip
        self.sparse = sparse
        self.max_sources = max_sources
        self.max_sentences = max_sentences
        self.word_budget = word_budget

    def quotable(self, sources: Sequence[SourceText], threshold: float | None) -> list[SourceText]:
        """The sources an answer may quote: the best-ranked one, and each other one of the first
        ``max_sources`` whose support reaches ``t + ½·(s_max − t)`` (all of them when no
        ``threshold`` is given)."""
        top = list(sources[: self.max_sources])
        if threshold is None or len(top) < 2:
            return top
        best = max(s.support for s in top)
        bar = threshold + SECOND_SOURCE_SHARE * (best - threshold)
        return [s for i, s in enumerate(top) if i == 0 or s.support >= bar]

    def generate(
        self, question: str, sources: Sequence[SourceText], *, threshold: float | None = None
    ) -> Generation:
        """Compose an answer from ``sources`` (``[n]`` = ``SourceText.number``; ``support`` =
        the source's support); ``threshold`` is the abstention bar in force (see
        :meth:`quotable`). An empty text when no source has a usable sentence."""
        candidates = _distinct(
            [
                _Candidate(src.number, i, s)
                for src in self.quotable(sources, threshold)
                for i, s in enumerate(_with_lists(split_sentences(src.text, mark_items=True)))
                if MIN_WORDS <= len(s.split()) <= MAX_WORDS
                and not (self.skip is not None and self.skip(s))
            ]
        )
        if not candidates:
            return Generation("", self.name)
        q_terms = set(self.sparse.tokens(question))
        lexical = np.array(
            [
                len(q_terms & set(self.sparse.tokens(c.text))) / len(q_terms) if q_terms else 0.0
                for c in candidates
            ]
        )
        rank_of = {src.number: r for r, src in enumerate(sources)}
        prior = np.array([-RANK_PRIOR * rank_of[c.source] for c in candidates])
        scores = LEXICAL_WEIGHT * lexical + prior

        chosen: list[int] = []
        quoted: set[int] = set()
        words = 0
        best = float(scores.max())
        left = set(range(len(candidates)))
        while left and len(chosen) < self.max_sentences and words < self.word_budget:
            # Greedy selection with a redundancy penalty (maximal marginal relevance, Carbonell
            # & Goldstein 1998): a sentence from a source already quoted adds less, so the
            # answer draws on, and cites, more of the top sources.
            idx = max(
                left,
                key=lambda j: (
                    scores[j] - SAME_SOURCE_PENALTY * (candidates[j].source in quoted),
                    -j,
                ),
            )
            # Keep only sentences nearly as good as the best one: padding an answer with
            # weakly related sentences lowers its precision.
            if chosen and scores[idx] < best - NEAR_BEST:
                break
            chosen.append(idx)
            left.discard(idx)
            quoted.update((candidates[idx].source, *candidates[idx].also_in))
            words += len(candidates[idx].text.split())
        chosen.sort(key=lambda i: (rank_of[candidates[i].source], candidates[i].position))
        parts = []
        for i in chosen:
            # A document's own bracketed numbers ("… as required [12].") are its references,
            # not our citations: quoted as they are they would cite the wrong source.
            sentence = re.sub(
                r"\s+([.,;:!?])", r"\1", " ".join(MARKER.sub("", candidates[i].text).split())
            )
            if not sentence:
                continue
            if sentence[-1] not in ".!?":
                sentence += "."
            markers = "".join(f"[{n}]" for n in (candidates[i].source, *candidates[i].also_in))
            parts.append(f"{sentence[:-1]} {markers}{sentence[-1]}")
        return Generation(" ".join(parts), self.name)


LIST_ITEMS = 6  # items of a list kept with the sentence that introduces it
LIST_ITEM_WORDS = 12  # a longer "item" is a sentence of its own


def _with_lists(sentences: list[str]) -> list[str]:
    """Join a sentence that introduces a list ("… including but not limited to:") with the
    short list items that follow it ("…: gym memberships; yoga classes; …"), up to
    :data:`LIST_ITEMS`; a lead-in with no item after it is dropped, since alone it states
    nothing. ``sentences`` come from ``split_sentences(…, mark_items=True)``; the list marks are
    removed from everything returned."""
    out: list[str] = []
    i = 0
    while i < len(sentences):
        s = sentences[i].removeprefix(LIST_MARK)
        i += 1
        if not s.endswith(":"):
            out.append(s)
            continue
        items: list[str] = []
        while (
            i < len(sentences)
            and len(items) < LIST_ITEMS
            and sentences[i].startswith(LIST_MARK)
            and len(sentences[i].split()) <= LIST_ITEM_WORDS + 1
        ):
            items.append(sentences[i].removeprefix(LIST_MARK).rstrip(".;, "))
            i += 1
        if items:
            out.append(f"{s} {'; '.join(items)}.")
    return out


def _distinct(candidates: list[_Candidate]) -> list[_Candidate]:
    """Merge a sentence offered by several sources into one candidate citing them all, and drop
    a fragment of a sentence already offered.

    Overlapping chunks repeat sentences (by design, half a chunk), so the same sentence can come
    from two sources; quoting it twice would repeat the answer. It is quoted once, with the
    better-ranked source first (candidates come in source-rank order) and every source that
    holds it cited.
    """
    kept: list[_Candidate] = []
    keys: list[str] = []
    for c in candidates:
        key = " ".join(c.text.lower().split())
        if key in keys:
            first = keys.index(key)
            if c.source != kept[first].source and c.source not in kept[first].also_in:
                kept[first] = replace(kept[first], also_in=(*kept[first].also_in, c.source))
            continue
        if any(key in k for k in keys):
            continue
        kept.append(c)
        keys.append(key)
    return kept
