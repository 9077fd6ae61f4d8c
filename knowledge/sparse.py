"""Sparse lexical vectors for Qdrant's BM25-style search, with no model download.

Documents get, per term, the BM25 term-frequency saturation
``tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))`` and queries get weight 1 per distinct term; the
collection's sparse vector uses Qdrant's ``Modifier.IDF``, so Qdrant multiplies in the inverse
document frequency at query time and the dot product is the Okapi BM25 score (Robertson &
Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond"; Qdrant docs, "Sparse
vectors — IDF modifier"). Tokens are lower-cased, English stop words (bm25s' list) dropped and
Snowball-stemmed (PyStemmer), then hashed to 32-bit ids (CRC-32), so no vocabulary is stored.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass

import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS

_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_STOP = frozenset(STOPWORDS_EN)
# The longer list (NLTK's English stop words, as shipped by bm25s) for judging which question
# words carry content: "what", "how", "do", "I" are not evidence of a topic.
# A few more words common in questions that name no topic, and words by which a question refers
# to the documents themselves ("according to the text", "the role described in the document"):
# a corpus need not contain the word "text" to answer such a question.
_FUNCTION_WORDS = frozenset(STOPWORDS_EN_PLUS) | {
    "text",
    "texts",
    "document",
    "documents",
    "doc",
    "docs",
    "passage",
    "passages",
    "excerpt",
    "according",
    "mentioned",
    "described",
    "many",
    "much",
    "get",
    "gets",
    "need",
    "needs",
    "want",
    "know",
    "tell",
    "please",
    "would",
    "could",
    "also",
    "us",
    "let",
}

# Okapi BM25 defaults (Robertson & Zaragoza 2009; also bm25s' and Lucene's defaults).
BM25_K1 = 1.2
BM25_B = 0.75


@dataclass(frozen=True)
class SparseVector:
    """Parallel lists of term ids (uint32) and weights, as Qdrant's ``SparseVector`` wants."""

    indices: list[int]
    values: list[float]


class SparseEncoder:
    """Tokenise and weight text for BM25 scoring in Qdrant (see module docstring).

    Args:
        avg_doc_len: average chunk length in kept tokens (``avgdl``); only the ratio dl/avgdl
            matters, so an estimate from the chunk size is enough.
    """

    def __init__(self, avg_doc_len: float = 100.0, k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.avg_doc_len = avg_doc_len
        self.k1 = k1
        self.b = b
        self._stemmer = Stemmer.Stemmer("english")

    @staticmethod
    def words(text: str) -> list[str]:
        """Lower-cased word tokens of ``text``, possessive/clitic endings cut ("plan's" → "plan"),
        not stemmed, stop words kept."""
        return [w.replace("’", "'").split("'")[0] for w in _TOKEN.findall(text.lower())]

    def stem_words(self, words: list[str]) -> list[str]:
        """Snowball (English) stems of ``words``, in order."""
        return list(self._stemmer.stemWords(words))

    def tokens(self, text: str) -> list[str]:
        """Lower-cased, stop-word-free, stemmed tokens of ``text``."""
        return self.stem_words([w for w in self.words(text) if w not in _STOP])

    def content_words(self, text: str) -> list[str]:
        """Content words of ``text`` (function words removed), unstemmed, each once."""
        kept = [w for w in self.words(text) if w not in _FUNCTION_WORDS and w not in _STOP]
        return list(dict.fromkeys(kept))

    def content_terms(self, text: str) -> list[str]:
        """Stemmed content words of ``text`` (function words removed), each once."""
        return list(dict.fromkeys(self.stem_words(self.content_words(text))))

    @staticmethod
    def term_id(token: str) -> int:
        """Stable 32-bit id of a token (CRC-32)."""
        return zlib.crc32(token.encode("utf-8"))

    def _vector(self, weights: dict[int, float]) -> SparseVector:
        items = sorted(weights.items())
        return SparseVector([i for i, _ in items], [w for _, w in items])

    def encode_document(self, text: str) -> SparseVector:
        """BM25 term-frequency weights of a chunk."""
        counts = Counter(self.tokens(text))
        dl = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * dl / self.avg_doc_len)
        weights: dict[int, float] = {}
        for tok, tf in counts.items():
            tid = self.term_id(tok)
            weights[tid] = weights.get(tid, 0.0) + tf * (self.k1 + 1) / (tf + norm)
        return self._vector(weights)

    def encode_query(self, text: str) -> SparseVector:
        """Weight 1 for each distinct query term."""
        return self._vector({self.term_id(t): 1.0 for t in set(self.tokens(text))})
