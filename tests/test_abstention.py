"""The abstention decision."""

from __future__ import annotations

from bot.abstention import decide, says_not_covered, support_score
from knowledge.chunking import Chunk
from knowledge.retrieval import Hit
from knowledge.sparse import SparseEncoder


def hit(sim: float) -> Hit:
    chunk = Chunk("id", "d", "d", "T", "u", "public", "t", "h", "h", 0)
    return Hit(chunk, score=0.1, similarity=sim)


def test_support_is_max_similarity_of_top_hits() -> None:
    assert support_score([hit(0.2), hit(0.7), hit(0.4), hit(0.99)]) == 0.7
    assert support_score([]) == 0.0


def test_abstains_below_threshold_and_without_hits() -> None:
    assert decide([hit(0.40)], threshold=0.5).abstain
    assert not decide([hit(0.60)], threshold=0.5).abstain
    assert decide([], threshold=0.5).abstain


def test_unknown_terms_raise_the_bar() -> None:
    kwargs = {"threshold": 0.45, "unknown_term_threshold": 0.7}
    assert not decide([hit(0.6)], **kwargs).abstain
    d = decide([hit(0.6)], unknown_terms=["california"], **kwargs)
    assert d.abstain and d.unknown_terms == ("california",)
    assert not decide([hit(0.8)], unknown_terms=["california"], **kwargs).abstain


def test_confidence_is_monotone_in_support_and_bounded() -> None:
    values = [decide([hit(s)], threshold=0.5).confidence for s in (0.1, 0.4, 0.5, 0.6, 0.9)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    assert decide([hit(0.5)], threshold=0.5).confidence == 0.5


def test_words_that_refer_to_the_documents_are_not_topic_words() -> None:
    # Unknown-term abstention only looks at content words: "the text" a question refers to is
    # the knowledge base itself, not a topic the corpus must mention.
    terms = SparseEncoder().content_terms(
        "What are the responsibilities of the role described in the text, according to the docs?"
    )
    assert terms == ["respons", "role"]
    assert SparseEncoder().content_terms("Is California covered?") == ["california", "cover"]


def test_the_rule_that_refused_is_named() -> None:
    kwargs = {"threshold": 0.45, "unknown_term_threshold": 0.7}
    assert decide([], **kwargs).reason == "no_sources"
    assert decide([hit(0.3)], **kwargs).reason == "low_support"
    assert decide([hit(0.6)], unknown_terms=["x"], **kwargs).reason == "unknown_terms"
    assert decide([hit(0.6)], **kwargs).reason is None


def test_support_prefers_the_sentence_level_similarity() -> None:
    chunk = Chunk("id", "d", "d", "T", "u", "public", "t", "h", "h", 0)
    assert support_score([Hit(chunk, 0.1, similarity=0.3, sentence_similarity=0.8)]) == 0.8
    assert support_score([Hit(chunk, 0.1, similarity=0.3)]) == 0.3  # no sentence vectors


def test_an_llm_reply_that_says_the_sources_do_not_cover_it_is_a_refusal() -> None:
    for reply in (
        "The provided sources do not contain information about parking. Please ask HR.",
        "I'm sorry, but the documents don't cover this question.",
        "The context does not mention a dog policy.",
        "I could not find this in the documents.",
        "There is no information about that in the sources.",
        "Pets are not mentioned in the documents. You may want to ask the office manager.",
    ):
        assert says_not_covered(reply), reply
    for reply in (
        "The Standard plan does not cover cosmetic surgery [2].",
        "Employees can park in lot B [1]. Visitors use lot C [2].",
        "Unused items can be returned within 30 days [1]; the sources do not say more [1].",
    ):
        assert not says_not_covered(reply), reply
