"""Metrics against hand-computed values (no model, no network)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from bot.evaluation.metrics import (
    QuestionResult,
    abstention_scores,
    bleu,
    citation_hit,
    citation_precision,
    exact_match,
    gold_rank,
    hit_at_k,
    metric_def,
    ndcg_at_k,
    normalize_answer,
    percentiles,
    recall_at_k,
    reciprocal_rank_at_k,
    rouge_l,
    strip_citation_markers,
    summarize,
    token_f1,
)

LOG2_3 = math.log2(3)  # discount of rank 2
RANKED = ["pdf/a.pdf#page=1", "pdf/b.pdf#page=2", "pdf/c.pdf#page=3", "pdf/b.pdf#page=5"]

# ---------------------------------------------------------------- retrieval


def test_single_gold_at_rank_2() -> None:
    gold = {"b.pdf#page=2"}
    assert gold_rank(RANKED, gold) == 2
    assert hit_at_k(RANKED, gold, 1) == 0.0
    assert hit_at_k(RANKED, gold, 2) == 1.0
    assert recall_at_k(RANKED, gold, 1) == 0.0
    assert recall_at_k(RANKED, gold, 3) == 1.0
    assert reciprocal_rank_at_k(RANKED, gold, 1) == 0.0
    assert reciprocal_rank_at_k(RANKED, gold, 3) == 0.5
    assert ndcg_at_k(RANKED, gold, 3) == pytest.approx(1 / LOG2_3)  # 0.6309


def test_two_gold_ids() -> None:
    gold = {"b.pdf#page=2", "c.pdf#page=3"}
    assert recall_at_k(RANKED, gold, 2) == 0.5
    assert recall_at_k(RANKED, gold, 3) == 1.0
    # DCG = 1/log2(3) + 1/log2(4); IDCG = 1 + 1/log2(3)
    assert ndcg_at_k(RANKED, gold, 3) == pytest.approx((1 / LOG2_3 + 0.5) / (1 + 1 / LOG2_3))
    assert ndcg_at_k(RANKED, gold, 3) == pytest.approx(0.693426, abs=1e-6)


def test_perfect_ranking_scores_one() -> None:
    gold = {"a.pdf", "b.pdf"}
    assert ndcg_at_k(RANKED, gold, 10) == pytest.approx(1.0)
    assert reciprocal_rank_at_k(RANKED, gold, 10) == 1.0
    assert recall_at_k(RANKED, gold, 2) == 1.0


def test_page_less_gold_matches_any_page_but_is_credited_once() -> None:
    gold = {"b.pdf"}  # matches ranks 2 and 4
    assert gold_rank(RANKED, gold) == 2
    # Only rank 2 earns credit; counting rank 4 too would give 0.6309 + 0.4307 > 1.
    assert ndcg_at_k(RANKED, gold, 4) == pytest.approx(1 / LOG2_3)
    assert recall_at_k(RANKED, gold, 4) == 1.0


def test_duplicates_in_ranked_take_a_slot_and_earn_no_credit() -> None:
    ranked = ["x.pdf", "x.pdf", "y.pdf"]
    gold = {"x.pdf", "y.pdf"}
    assert recall_at_k(ranked, gold, 2) == 0.5
    # rel = [1, 0, 1]: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    assert ndcg_at_k(ranked, gold, 3) == pytest.approx(1.5 / (1 + 1 / LOG2_3))


def test_duplicate_gold_ids_count_once() -> None:
    assert recall_at_k(["x.pdf"], ["x.pdf", "x.pdf", "y.pdf"], 1) == 0.5
    assert ndcg_at_k(["x.pdf", "y.pdf"], ["x.pdf", "x.pdf", "y.pdf"], 2) == pytest.approx(1.0)


def test_gold_beyond_k_and_no_hit() -> None:
    assert gold_rank(RANKED, {"b.pdf#page=5"}) == 4
    assert hit_at_k(RANKED, {"b.pdf#page=5"}, 3) == 0.0
    assert reciprocal_rank_at_k(RANKED, {"b.pdf#page=5"}, 3) == 0.0
    assert reciprocal_rank_at_k(RANKED, {"b.pdf#page=5"}, 4) == 0.25
    missing = {"z.pdf"}
    assert gold_rank(RANKED, missing) is None
    assert hit_at_k(RANKED, missing, 10) == 0.0
    assert recall_at_k(RANKED, missing, 10) == 0.0
    assert ndcg_at_k(RANKED, missing, 10) == 0.0
    assert hit_at_k([], {"a.pdf"}, 5) == 0.0


def test_page_must_match_when_gold_has_a_page() -> None:
    assert gold_rank(RANKED, {"a.pdf#page=2"}) is None


def test_empty_gold() -> None:
    assert gold_rank(RANKED, set()) is None
    assert hit_at_k(RANKED, set(), 5) == 0.0
    assert reciprocal_rank_at_k(RANKED, set(), 5) == 0.0
    with pytest.raises(ValueError, match="empty gold"):
        recall_at_k(RANKED, set(), 5)
    with pytest.raises(ValueError, match="empty gold"):
        ndcg_at_k(RANKED, set(), 5)


@pytest.mark.parametrize("fn", [hit_at_k, recall_at_k, reciprocal_rank_at_k, ndcg_at_k])
def test_k_must_be_positive(fn: Callable[[list[str], set[str], int], float]) -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        fn(RANKED, {"a.pdf"}, 0)


# ---------------------------------------------------------------- answers


def test_normalize_answer_squad() -> None:
    assert normalize_answer("The Cat, sat!  on a MAT.") == "cat sat on mat"
    assert normalize_answer("theater an") == "theater"  # articles only as whole words


def test_strip_citation_markers() -> None:
    assert strip_citation_markers("Yes [1]. Also [2, 3] and [4][5].") == "Yes . Also and ."
    assert strip_citation_markers("Keep [a.pdf] and [note]") == "Keep [a.pdf] and [note]"


def test_exact_match() -> None:
    assert exact_match("The cat sat on the mat [1].", "the cat sat on a mat") == 1.0
    assert exact_match("the cat sat", "the cat sat on the mat") == 0.0


def test_token_f1() -> None:
    # pred [cat, sat], gold [cat, sat, on, mat]: P = 1, R = 1/2, F1 = 2/3
    assert token_f1("the cat sat", "a cat sat on the mat") == pytest.approx(2 / 3)
    # multiplicity: pred [cat x3], gold [cat, dog]: overlap 1, P = 1/3, R = 1/2, F1 = 0.4
    assert token_f1("cat cat cat", "cat dog") == pytest.approx(0.4)
    # markers would otherwise be tokens "1", "2", "3"
    assert token_f1("cat [1] sat [2, 3]", "cat sat") == 1.0
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("", "cat") == 0.0
    assert token_f1("The.", "a") == 1.0  # both normalise to nothing


def test_rouge_l_uses_lcs_and_stemming() -> None:
    # tokens [the, cat(s), sat] vs [the, cat, sat, on, the, mat]: LCS 3, P = 1, R = 1/2
    assert rouge_l("the cats sat", "the cat sat on the mat") == pytest.approx(2 / 3)
    # without stripping "[1]", "1" would be a 7th token: F = 12/13
    assert rouge_l("the cat sat on the mat [1]", "the cat sat on the mat") == pytest.approx(1.0)
    assert rouge_l("", "the cat") == 0.0


def test_bleu() -> None:
    assert bleu("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)
    assert bleu("the cat sat on the mat", "the cat sat on the mat") <= 1.0
    assert bleu("the cat sat on the mat [1]", "the cat sat on the mat") == pytest.approx(1.0)
    # all n-gram precisions 1; brevity penalty exp(1 - 6/5)
    assert bleu("the cat sat on the", "the cat sat on the mat") == pytest.approx(
        math.exp(-0.2), abs=1e-6
    )
    assert bleu("", "the cat sat") == 0.0


# ---------------------------------------------------------------- citations, abstention


def test_citation_precision_and_hit() -> None:
    cited = ["pdf/a.pdf#page=2", "pdf/b.pdf#page=1", "pdf/a.pdf#page=2"]
    assert citation_precision(cited, {"a.pdf"}) == 0.5  # distinct: a#2 yes, b#1 no
    assert citation_hit(cited, {"a.pdf"}) == 1.0
    assert citation_precision(["a.pdf#page=3"], {"a.pdf#page=2"}) == 0.0
    assert citation_hit(["pdf/b.pdf"], {"a.pdf"}) == 0.0
    assert citation_precision([], {"a.pdf"}) is None
    assert citation_hit([], {"a.pdf"}) == 0.0


def test_abstention_scores() -> None:
    abstained = [True, True, False, False, True]
    answerable = [False, True, False, True, True]
    s = abstention_scores(abstained, answerable)
    assert s["precision"] == pytest.approx(1 / 3)  # 1 of 3 abstentions is on an unanswerable
    assert s["recall"] == 0.5  # 1 of 2 unanswerable abstained
    assert s["answerable_abstain_rate"] == pytest.approx(2 / 3)  # 2 of 3 answerable


def test_abstention_scores_empty_denominators() -> None:
    s = abstention_scores([False, False], [True, True])
    assert s == {"precision": None, "recall": None, "answerable_abstain_rate": 0.0}
    assert abstention_scores([], []) == {
        "precision": None,
        "recall": None,
        "answerable_abstain_rate": None,
    }
    with pytest.raises(ValueError, match="length mismatch"):
        abstention_scores([True], [True, False])


def test_percentiles_linear() -> None:
    # p95 position (4 - 1) * 0.95 = 2.85 -> 30 + 0.85 * 10
    assert percentiles([40, 10, 30, 20]) == {"p50": 25.0, "p95": pytest.approx(38.5)}
    assert percentiles([5.0]) == {"p50": 5.0, "p95": 5.0}
    assert percentiles([]) == {"p50": None, "p95": None}


# ---------------------------------------------------------------- QuestionResult, summarize


def test_question_result_validates_scores_and_round_trips() -> None:
    with pytest.raises(ValueError, match="scores has 1 entries but ranked has 2"):
        QuestionResult("q", True, ("a.pdf",), ("a.pdf", "b.pdf"), scores=(0.5,))
    r = QuestionResult(
        "q", True, ("a.pdf",), ("a.pdf", "b.pdf"), scores=(0.9, 0.1), cited=("a.pdf",),
        stage_ms={"search": 1.5},
    )  # fmt: skip
    assert QuestionResult.from_dict(r.to_dict()) == r


def _results() -> list[QuestionResult]:
    return [
        QuestionResult(  # gold at rank 1, right answer, right citation
            question="q1", answerable=True, gold=("a.pdf#page=1",),
            ranked=("docs/a.pdf#page=1", "docs/b.pdf#page=1"),
            answer_text="Paris [1]", gold_answer="Paris", cited=("docs/a.pdf#page=1",),
            abstained=False, stage_ms={"search": 10, "generate": 100},
        ),
        QuestionResult(  # gold at rank 3, half-right answer, one of two citations right
            question="q2", answerable=True, gold=("b.pdf",),
            ranked=("docs/a.pdf#page=1", "docs/c.pdf", "docs/b.pdf#page=4"),
            answer_text="blue cat", gold_answer="the blue dog",
            cited=("docs/a.pdf#page=1", "docs/b.pdf#page=4"),
            abstained=False, stage_ms={"search": 20, "generate": 300},
        ),
        QuestionResult(  # answerable, gold not retrieved, abstained (scored as "")
            question="q3", answerable=True, gold=("c.pdf",), ranked=("docs/a.pdf",),
            answer_text="I don't know", gold_answer="yes", cited=(), abstained=True,
            stage_ms={"search": 30},
        ),
        QuestionResult(  # unanswerable, abstained; explicit total
            question="q4", answerable=False, gold=(), ranked=("docs/a.pdf",),
            answer_text="I don't know.", cited=(), abstained=True,
            stage_ms={"search": 40, "total": 45},
        ),
        QuestionResult(  # unanswerable, answered anyway; no timings
            question="q5", answerable=False, gold=(), ranked=(),
            answer_text="Something", cited=("docs/a.pdf",), abstained=False,
        ),
    ]  # fmt: skip


def test_summarize_hand_computed() -> None:
    m = summarize(_results())
    expected_keys = {
        "n_questions", "n_answerable", "hit@1", "hit@3", "hit@5", "hit@10", "recall@1",
        "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10", "em", "f1", "rouge_l", "bleu",
        "citation_precision", "citation_hit", "abstention_precision", "abstention_recall",
        "answerable_abstain_rate", "search_p50_ms", "search_p95_ms", "generate_p50_ms",
        "generate_p95_ms", "total_p50_ms", "total_p95_ms", "answered_p50_ms", "answered_p95_ms",
        "refused_p50_ms", "refused_p95_ms",
    }  # fmt: skip
    assert set(m) == expected_keys
    # Every key the summary produces has its one definition (label, direction, unit).
    assert all(metric_def(k) is not None for k in m)
    assert m["n_questions"] == 5
    assert m["n_answerable"] == 3
    # retrieval over q1..q3: gold ranks 1, 3, none
    assert m["hit@1"] == pytest.approx(1 / 3)
    assert m["hit@3"] == m["hit@5"] == m["hit@10"] == pytest.approx(2 / 3)
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@3"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert m["ndcg@10"] == pytest.approx((1 + 0.5 + 0) / 3)  # rank 3 discount 1/log2(4)
    # answers over q1..q3 (q3 abstained -> empty prediction)
    assert m["em"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx((1 + 0.5 + 0) / 3)  # q2: [blue, cat] vs [blue, dog]
    assert m["rouge_l"] == pytest.approx((1 + 0.4 + 0) / 3)  # q2: LCS 1, P 1/2, R 1/3
    assert m["bleu"] == pytest.approx((1 + bleu("blue cat", "the blue dog") + 0) / 3)
    # citations over q1, q2 (answered, answerable, with gold)
    assert m["citation_precision"] == pytest.approx((1 + 0.5) / 2)
    assert m["citation_hit"] == 1.0
    # abstained [F, F, T, T, F] vs answerable [T, T, T, F, F]
    assert m["abstention_precision"] == 0.5
    assert m["abstention_recall"] == 0.5
    assert m["answerable_abstain_rate"] == pytest.approx(1 / 3)
    # latency
    assert (m["search_p50_ms"], m["search_p95_ms"]) == (25.0, pytest.approx(38.5))
    assert (m["generate_p50_ms"], m["generate_p95_ms"]) == (200.0, pytest.approx(290.0))
    # totals [110, 320, 30, 45 (explicit)] -> sorted [30, 45, 110, 320]
    assert m["total_p50_ms"] == 77.5
    assert m["total_p95_ms"] == pytest.approx(110 + 0.85 * 210)


def test_summarize_retrieval_only_and_empty() -> None:
    r = QuestionResult("q", True, ("a.pdf",), ("x/a.pdf",))
    m = summarize([r], ks=(1,), depth=5)
    assert m["hit@1"] == 1.0
    assert m["mrr@5"] == 1.0
    assert "hit@3" not in m and "mrr@10" not in m
    for key in ("em", "f1", "citation_hit", "abstention_recall", "answerable_abstain_rate"):
        assert m[key] is None, key
    assert not any(k.endswith("_ms") for k in m)

    empty = summarize([])
    assert empty["n_questions"] == 0
    assert empty["hit@1"] is None and empty["ndcg@10"] is None
    with pytest.raises(ValueError, match="k must be >= 1"):
        summarize([r], ks=(0,))


def test_latency_of_answered_and_refused_apart_and_generator_flags() -> None:
    results = [
        QuestionResult("a", True, ("x",), ("x",), abstained=False, generator="openai:m",
                       stage_ms={"total": 900.0}),
        QuestionResult("b", True, ("x",), ("x",), abstained=False, generator="extractive",
                       degraded=True, stage_ms={"total": 1100.0}),
        QuestionResult("c", False, (), ("x",), abstained=True, generator="abstention",
                       stage_ms={"total": 20.0}),
        QuestionResult("d", True, ("x",), ("x",), abstained=False, generator="openai:m",
                       uncited=True, stage_ms={"total": 1000.0}),
    ]  # fmt: skip
    m = summarize(results)
    assert m["answered_p50_ms"] == 1000.0 and m["refused_p50_ms"] == 20.0
    assert m["degraded_rate"] == pytest.approx(1 / 3) and m["uncited_rate"] == pytest.approx(1 / 3)
    assert metric_def("degraded_rate").higher_is_better is False
    assert metric_def("refused_p95_ms").unit == "ms"
    again = QuestionResult.from_dict(results[1].to_dict())
    assert again.degraded and again.generator == "extractive"
