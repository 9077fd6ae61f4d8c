"""Shorter sources for an LLM: each source cut to its sentences nearest the question.

On a CPU, reading the prompt is most of an LLM answer's latency (a 1.5B model on 2 cores reads
about 56 prompt tokens a second: five 192-token chunks cost 18 s before the first word). A
chunk is usually a few sentences that answer and several that only sit next to them, so each
source is cut to at most ``max_words`` words: its sentences ranked by cosine to the question
(the retrieval model's embeddings), taken best first while they fit, and shown in their
original order. The best sentence is always kept, whatever its length. This is extractive
context compression (Xu et al., 2023, "RECOMP: Improving Retrieval-Augmented LMs with
Compression and Selective Augmentation", whose extractive compressor also keeps the sentences
most similar to the query); here with the model already loaded for retrieval, so nothing new
is installed. The grounding check then reads the same shortened sources the model read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from bot.generators.base import SourceText
from knowledge.sentences import split_sentences

Embed = Callable[[list[str]], NDArray[np.float32]]


class SourceCompressor:
    """Cuts sources to the sentences nearest the question.

    Args:
        embed: texts → unit-norm embeddings of shape ``(n, dim)``.
        max_words: the most words kept per source (the best sentence is kept regardless).

    :meth:`compress` is blocking (it embeds): call it from a worker thread in async code.
    """

    def __init__(self, embed: Embed, max_words: int) -> None:
        self.embed = embed
        self.max_words = max_words

    def compress(self, question: str, sources: Sequence[SourceText]) -> list[SourceText]:
        """The sources with their text cut to at most ``max_words`` words (same numbers and
        labels; a source already short enough is returned unchanged)."""
        split = [split_sentences(s.text, mark_items=False) for s in sources]
        flat = [x for sents in split for x in sents]
        if not flat:
            return list(sources)
        vecs = self.embed([question, *flat])
        sims = vecs[1:] @ vecs[0]
        out: list[SourceText] = []
        at = 0
        for source, sents in zip(sources, split, strict=True):
            scores = sims[at : at + len(sents)]
            at += len(sents)
            if sum(len(s.split()) for s in sents) <= self.max_words or not sents:
                out.append(source)
                continue
            kept: list[int] = []
            words = 0
            for i in np.argsort(-scores):
                n = len(sents[int(i)].split())
                if kept and words + n > self.max_words:
                    continue
                kept.append(int(i))
                words += n
            text = "\n".join(sents[i] for i in sorted(kept))
            out.append(replace(source, text=text))
        return out
