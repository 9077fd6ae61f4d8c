"""The corpus vocabulary, and which words of a question it does not know, tolerating typos.

A question about "dental implants" when no document mentions implants is about something the
documents do not cover; a question that misspells "search" as "serch" is not. A word counts as
known when it, or its Snowball stem, occurs in the corpus, or when a corpus word lies within a
small Damerau-Levenshtein distance of it (RapidFuzz): none for words under 4 letters, 1 edit
for 4-7 letters, 2 for 8 and more. That is Elasticsearch's ``fuzziness: AUTO:4,8`` rule, the
search engines' usual answer to the same problem (Elasticsearch reference, "Fuzziness"); the
stricter of its two common settings, so that a real unknown word of a short question is not
matched to an unrelated corpus word (AUTO:3,6 would match "dental" to "rental").
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from knowledge.sparse import SparseEncoder

FUZZY_MIN_LEN = 4  # shorter words must match exactly
FUZZY_TWO_EDITS_LEN = 8  # words this long may be two edits away


def max_edits(word: str) -> int:
    """Edits tolerated for ``word``: 0 under 4 letters, 1 up to 7, 2 from 8 (AUTO:4,8)."""
    if len(word) < FUZZY_MIN_LEN or word.isdigit():
        return 0
    return 1 if len(word) < FUZZY_TWO_EDITS_LEN else 2


class Vocabulary:
    """The distinct lower-cased words of a corpus.

    Args:
        words: the words (any order, duplicates allowed).
        sparse: the tokenizer and stemmer used for the BM25 vectors.
    """

    def __init__(self, words: Iterable[str], sparse: SparseEncoder) -> None:
        self.sparse = sparse
        self.words = sorted(set(words))
        self._words = frozenset(self.words)
        self._stems = frozenset(sparse.stem_words(self.words))

    @classmethod
    def from_texts(cls, texts: Iterable[str], sparse: SparseEncoder) -> Vocabulary:
        """Every word of ``texts`` (tokenized as the BM25 vectors are, unstemmed)."""
        words: set[str] = set()
        for text in texts:
            words.update(sparse.words(text))
        return cls(words, sparse)

    def __len__(self) -> int:
        return len(self.words)

    def knows(self, word: str) -> bool:
        """Whether ``word`` (lower case) or its stem is in the corpus, or a corpus word is within
        :func:`max_edits` of it."""
        if word in self._words or self.sparse.stem_words([word])[0] in self._stems:
            return True
        edits = max_edits(word)
        if not edits or not self.words:
            return False
        match = process.extractOne(
            word, self.words, scorer=DamerauLevenshtein.distance, score_cutoff=edits
        )
        return match is not None

    def unknown_terms(self, text: str) -> list[str]:
        """Content words of ``text`` (function words removed, unstemmed, each once) that the
        corpus does not know, in order."""
        return [w for w in self.sparse.content_words(text) if not self.knows(w)]
