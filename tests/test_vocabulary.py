"""The typo-tolerant corpus vocabulary behind unknown-term abstention."""

from __future__ import annotations

from knowledge.sparse import SparseEncoder
from knowledge.vocabulary import Vocabulary, max_edits


def vocab() -> Vocabulary:
    return Vocabulary.from_texts(
        ["Search for data in channels.", "Employees may park in the visitors' parking lot."],
        SparseEncoder(),
    )


def test_misspelt_and_inflected_words_are_known() -> None:
    v = vocab()
    assert v.unknown_terms("how to serch data for chanels") == []
    assert v.unknown_terms("Where do employes park?") == []
    assert v.unknown_terms("searching channel") == []  # stems


def test_words_the_corpus_never_uses_are_unknown() -> None:
    v = vocab()
    assert v.unknown_terms("Does the plan cover dental implants?") == [
        "plan",
        "cover",
        "dental",
        "implants",
    ]
    assert v.unknown_terms("Can I bring my dog?") == ["bring", "dog"]  # "dog" is too short to fuzz


def test_edit_budget_follows_word_length() -> None:
    assert [max_edits(w) for w in ("dog", "park", "channels", "2024")] == [0, 1, 2, 0]
