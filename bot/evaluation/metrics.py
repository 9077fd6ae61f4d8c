"""Retrieval, answer, citation, abstention and latency metrics, per question and summarised.

Conventions:

* ``ranked`` is a list of source ids (see :mod:`bot.evaluation.dataset`) best first, as
  the retriever returned them, already deduplicated; ``gold`` is a collection of source ids.
  A retrieved id "hits" a gold id when :func:`~bot.evaluation.dataset.source_matches`
  says so (a page-less gold id matches every page of its document).
* Per-question scores are floats in ``[0, 1]`` so that a mean over questions is the usual
  corpus figure (hit@k averaged is the hit rate, reciprocal rank averaged is MRR, ...).
* Latencies are milliseconds.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer

from bot.evaluation.dataset import source_matches

DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)
TOTAL_STAGE = "total"
STAGES: tuple[str, ...] = (
    "embed",
    "search",
    "rerank",
    "generate",
    TOTAL_STAGE,
    "answered",  # end to end, answered questions only
    "refused",  # end to end, refused questions only
)

# --------------------------------------------------------------------------------------------
# Metric definitions: the one place that says what each summary key means
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricDef:
    """What one summary metric is: the table header, whether higher is better, its unit.

    ``unit`` is ``"share"`` (a value in [0, 1]), ``"ms"`` (milliseconds) or ``"count"``. The
    report's columns and charts and the ``--fail-under`` gates all read these definitions, so a
    gate on a lower-is-better metric is an upper bound whatever its name.
    """

    key: str
    label: str
    higher_is_better: bool = True
    unit: str = "share"
    description: str = ""


_FIXED: dict[str, MetricDef] = {
    d.key: d
    for d in (
        MetricDef("n_questions", "questions", unit="count", description="questions evaluated"),
        MetricDef("n_answerable", "answerable", unit="count", description="answerable questions"),
        MetricDef("mrr@10", "MRR@10", description="mean reciprocal rank of the gold source"),
        MetricDef("ndcg@10", "nDCG@10", description="nDCG@10, binary relevance"),
        MetricDef("em", "EM", description="exact match (SQuAD normalisation)"),
        MetricDef("f1", "F1", description="token F1 against the gold answer"),
        MetricDef("rouge_l", "ROUGE-L", description="ROUGE-L F-measure"),
        MetricDef("bleu", "BLEU", description="sentence BLEU / 100"),
        MetricDef("citation_precision", "cit. prec.", description="cited pages that are gold"),
        MetricDef("citation_hit", "cit. hit", description="answers citing a gold page"),
        MetricDef(
            "abstention_precision", "abst. prec.", description="refusals on don't-know questions"
        ),
        MetricDef("abstention_recall", "abst. recall", description="don't-know questions refused"),
        MetricDef(
            "degraded_rate",
            "degraded",
            higher_is_better=False,
            description="answers given by the fallback because the generator failed",
        ),
        MetricDef(
            "uncited_rate",
            "uncited",
            higher_is_better=False,
            description="answers left with no valid citation",
        ),
        MetricDef(
            "partial_rate",
            "partial",
            higher_is_better=False,
            description="LLM answers with a sentence no source supports (grounding check)",
        ),
        MetricDef(
            "tokens_in_mean",
            "tokens in",
            higher_is_better=False,
            unit="count",
            description="mean prompt tokens per LLM answer, as the endpoint reported",
        ),
        MetricDef(
            "tokens_out_mean",
            "tokens out",
            higher_is_better=False,
            unit="count",
            description="mean completion tokens per LLM answer, as the endpoint reported",
        ),
        MetricDef(
            "answerable_abstain_rate",
            "ans. abstain",
            higher_is_better=False,
            description="answerable questions refused (false refusals)",
        ),
    )
}
_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], MetricDef]], ...] = (
    (
        re.compile(r"hit@(\d+)"),
        lambda m: MetricDef(m.group(0), m.group(0), description="gold source in the top k"),
    ),
    (
        re.compile(r"recall@(\d+)"),
        lambda m: MetricDef(m.group(0), m.group(0), description="gold sources in the top k"),
    ),
    (
        re.compile(rf"({'|'.join(STAGES)})_(p50|p95)_ms"),
        lambda m: MetricDef(
            m.group(0),
            f"{m.group(1)} {m.group(2)} ms" if m.group(1) != TOTAL_STAGE else f"{m.group(2)} ms",
            higher_is_better=False,
            unit="ms",
            description=(
                f"{m.group(2)} end-to-end latency of {m.group(1)} questions"
                if m.group(1) in ("answered", "refused")
                else f"{m.group(2)} latency of the {m.group(1)} stage"
            ),
        ),
    ),
)


def metric_def(key: str) -> MetricDef | None:
    """The definition of a summary key (``hit@5``, ``total_p95_ms``, …); ``None`` if no metric
    of :func:`summarize` has that name."""
    if key in _FIXED:
        return _FIXED[key]
    for pattern, make in _PATTERNS:
        m = pattern.fullmatch(key)
        if m:
            return make(m)
    return None


def known_metrics(ks: Sequence[int] = DEFAULT_KS) -> list[str]:
    """Every key :func:`summarize` can produce with these ``ks``, in report order."""
    keys = [f"hit@{k}" for k in ks] + [f"recall@{k}" for k in ks]
    keys += [k for k in _FIXED if not k.startswith("n_")]
    keys += [f"{s}_{p}_ms" for s in STAGES for p in ("p50", "p95")]
    return ["n_questions", "n_answerable", *keys]


# --------------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------------


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _matches_any(source_id: str, gold: Iterable[str]) -> bool:
    return any(source_matches(source_id, g) for g in gold)


def _credited(ranked: Sequence[str], gold: Collection[str]) -> list[bool]:
    """Per rank position: does it find a gold id that no earlier position found?

    This is what keeps the metrics honest when several retrieved ids match one gold id (pages of
    a document whose gold id has no page) or when ``ranked`` has duplicates: only the first
    match of each gold id earns credit.
    """
    found: set[str] = set()
    out = []
    for r in ranked:
        new = {g for g in gold if g not in found and source_matches(r, g)}
        found |= new
        out.append(bool(new))
    return out


def gold_rank(ranked: Sequence[str], gold: Collection[str]) -> int | None:
    """1-based rank of the first retrieved id that matches any gold id; ``None`` if none does.

    Looks at the whole ``ranked`` list (no cut-off). Empty gold gives ``None``.
    """
    for i, r in enumerate(ranked, start=1):
        if _matches_any(r, gold):
            return i
    return None


def hit_at_k(ranked: Sequence[str], gold: Collection[str], k: int) -> float:
    """hit@k: 1.0 if any of the top ``k`` retrieved ids matches a gold id, else 0.0.

    Averaged over questions this is the "hit rate" / "success@k". Empty gold gives 0.0.

    Raises:
        ValueError: If ``k < 1``.
    """
    _check_k(k)
    rank = gold_rank(ranked[:k], gold)
    return 0.0 if rank is None else 1.0


def recall_at_k(ranked: Sequence[str], gold: Collection[str], k: int) -> float:
    """recall@k: share of gold ids matched by at least one of the top ``k`` retrieved ids.

    ``|{g in gold : some r in ranked[:k] matches g}| / |gold|``, duplicates in ``gold`` counted
    once (Manning, Raghavan & Schütze,
    *Introduction to Information Retrieval*, 2008, §8.4, with set recall cut at rank k).

    Raises:
        ValueError: If ``gold`` is empty (recall is undefined) or ``k < 1``.
    """
    _check_k(k)
    if not gold:
        raise ValueError("recall@k is undefined for an empty gold set")
    golds, top = list(dict.fromkeys(gold)), ranked[:k]
    return sum(1 for g in golds if any(source_matches(r, g) for r in top)) / len(golds)


def reciprocal_rank_at_k(ranked: Sequence[str], gold: Collection[str], k: int) -> float:
    """Reciprocal rank cut at k: ``1 / rank`` of the first gold hit within the top ``k``, else 0.

    Its mean over questions is MRR@k (Voorhees, TREC-8 Question Answering Track Report, 1999).
    Empty gold gives 0.0.

    Raises:
        ValueError: If ``k < 1``.
    """
    _check_k(k)
    rank = gold_rank(ranked[:k], gold)
    return 0.0 if rank is None else 1.0 / rank


def ndcg_at_k(ranked: Sequence[str], gold: Collection[str], k: int) -> float:
    """nDCG@k with binary relevance and a log2 discount (Järvelin & Kekäläinen, 2002).

    ``DCG@k = sum_{i=1..k} rel_i / log2(i + 1)``; ``rel_i`` is 1 when position ``i`` finds a
    gold id not found by an earlier position (so duplicates, or several pages of a document
    whose gold id has no page, are credited once), else 0. ``IDCG@k`` is the DCG of the ideal
    ranking, ``min(k, |gold|)`` relevant ids first. Result is ``DCG@k / IDCG@k`` in ``[0, 1]``.

    Raises:
        ValueError: If ``gold`` is empty (nDCG is undefined) or ``k < 1``.
    """
    _check_k(k)
    if not gold:
        raise ValueError("nDCG@k is undefined for an empty gold set")
    n_gold = len(set(gold))
    dcg = sum(1.0 / math.log2(i + 2) for i, rel in enumerate(_credited(ranked[:k], gold)) if rel)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, n_gold)))
    return dcg / idcg


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------

_CITATION_MARKER = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def strip_citation_markers(text: str) -> str:
    """Remove numbered citation markers (``[1]``, ``[2, 3]``) and collapse whitespace."""
    return " ".join(_CITATION_MARKER.sub(" ", text).split())


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 answer normalisation (``normalize_answer`` of the official evaluate-v1.1.py).

    Lower-case, remove ASCII punctuation, remove the articles a/an/the, collapse whitespace.
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """Exact match (SQuAD v1.1): 1.0 if the normalised texts are equal, else 0.0.

    Citation markers are removed from ``prediction`` first.
    """
    return float(normalize_answer(strip_citation_markers(prediction)) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Token-level F1 over normalised bag-of-words (SQuAD v1.1 ``f1_score``).

    ``P = overlap / |pred tokens|``, ``R = overlap / |gold tokens|``, ``F1 = 2PR / (P + R)``,
    where overlap counts shared tokens with multiplicity. When both texts normalise to no tokens
    the score is 1.0 (the SQuAD v2.0 rule; v1.1 would say 0.0 while its EM says 1.0). Citation
    markers are removed from ``prediction`` first.
    """
    pred = normalize_answer(strip_citation_markers(prediction)).split()
    ref = normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    overlap = sum((Counter(pred) & Counter(ref)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


@cache
def _rouge() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F-measure (Lin, 2004) in ``[0, 1]``, from Google's ``rouge-score`` package.

    Longest-common-subsequence based, with the package's tokenizer (lower-case, alphanumeric
    tokens) and Porter stemming. Citation markers are removed from ``prediction`` first.
    """
    return float(_rouge().score(gold, strip_citation_markers(prediction))["rougeL"].fmeasure)


def bleu(prediction: str, gold: str) -> float:
    """Sentence BLEU (Papineni et al., 2002) in ``[0, 1]``, from ``sacrebleu.sentence_bleu``.

    sacreBLEU defaults (13a tokenizer, exponential smoothing, effective order) against the single
    reference ``gold``, divided by 100. Citation markers are removed from ``prediction`` first.
    Sentence BLEU is noisy; prefer it for comparing configurations, not as an absolute figure.
    """
    score = sacrebleu.sentence_bleu(strip_citation_markers(prediction), [gold]).score
    return min(1.0, max(0.0, score / 100.0))  # sacrebleu can return 100.00000000000004


# --------------------------------------------------------------------------------------------
# Citations and abstention
# --------------------------------------------------------------------------------------------


def citation_precision(cited_ids: Sequence[str], gold: Collection[str]) -> float | None:
    """Share of the distinct cited source ids that match a gold id; ``None`` if nothing cited."""
    cited = list(dict.fromkeys(cited_ids))
    if not cited:
        return None
    return sum(1 for c in cited if _matches_any(c, gold)) / len(cited)


def citation_hit(cited_ids: Sequence[str], gold: Collection[str]) -> float:
    """1.0 if at least one cited source id matches a gold id, else 0.0 (also when none cited)."""
    return float(any(_matches_any(c, gold) for c in cited_ids))


def _share(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def abstention_scores(
    abstained: Sequence[bool], answerable: Sequence[bool]
) -> dict[str, float | None]:
    """Abstention quality, treating "abstain" as a classifier for "unanswerable".

    Args:
        abstained: Per question, did the bot abstain (say it doesn't know)?
        answerable: Per question, is it answerable from the documents? Same length.

    Returns:
        ``precision``: of the abstentions, the share on unanswerable questions;
        ``recall``: of the unanswerable questions, the share abstained on;
        ``answerable_abstain_rate``: of the answerable questions, the share abstained on
        (the false-refusal rate). Each is ``None`` when its denominator is 0.

    Raises:
        ValueError: If the sequences differ in length.
    """
    if len(abstained) != len(answerable):
        raise ValueError(
            f"length mismatch: {len(abstained)} abstained vs {len(answerable)} answerable"
        )
    pairs = list(zip(abstained, answerable, strict=True))
    true_abstain = sum(1 for a, ans in pairs if a and not ans)
    return {
        "precision": _share(true_abstain, sum(1 for a, _ in pairs if a)),
        "recall": _share(true_abstain, sum(1 for _, ans in pairs if not ans)),
        "answerable_abstain_rate": _share(
            sum(1 for a, ans in pairs if a and ans), sum(1 for _, ans in pairs if ans)
        ),
    }


def percentiles(values_ms: Sequence[float]) -> dict[str, float | None]:
    """``{"p50": ..., "p95": ...}`` of latencies in ms (numpy, linear interpolation).

    Both are ``None`` for an empty sequence.
    """
    if len(values_ms) == 0:
        return {"p50": None, "p95": None}
    p50, p95 = np.percentile(np.asarray(values_ms, dtype=float), [50, 95], method="linear")
    return {"p50": float(p50), "p95": float(p95)}


# --------------------------------------------------------------------------------------------
# Per-question results and the summary
# --------------------------------------------------------------------------------------------


@dataclass
class QuestionResult:
    """What one configuration did with one question; the runner fills one per question.

    Attributes:
        question: The question text.
        answerable: From the labelled set.
        gold: Gold source ids (may be empty).
        ranked: Retrieved source ids, best first, deduplicated, at least the top 10 when
            available.
        scores: Retrieval scores parallel to ``ranked`` (same length), or empty.
        support_score: The score the abstention decision used (e.g. best reranker score), or
            ``None`` when not applicable.
        answer_text: The generated answer, or ``None`` when no answer was generated
            (retrieval-only run).
        gold_answer: The gold answer text, or ``None``.
        cited: Source ids the answer cited, or ``None`` when citations were not measured.
        abstained: Whether the bot abstained, or ``None`` when not measured.
        abstain_reason: The rule that refused (``low_support``, ``unknown_terms``,
            ``no_sources``, ``not_covered``), or ``None``.
        unknown_terms: The question's words that the corpus does not know (abstention input).
        generator: Which generator answered (``extractive``, ``openai:MODEL``, ``abstention``).
        degraded: The configured generator failed and a fallback answered.
        uncited: The answer was left with no valid citation.
        model: The LLM that answered, ``None`` for no LLM.
        tokens_in, tokens_out: Prompt and completion tokens the LLM endpoint reported.
        partially_supported: The grounding check found a sentence no source supports.
        unsupported_claims: Those sentences.
        stage_ms: Milliseconds per stage (``embed``, ``search``, ``fuse``, ``rerank``,
            ``generate``, ...; ``total`` if the runner measures it end to end).

    Raises:
        ValueError: If ``scores`` is non-empty and not the same length as ``ranked``.
    """

    question: str
    answerable: bool
    gold: tuple[str, ...]
    ranked: tuple[str, ...]
    scores: tuple[float, ...] = ()
    support_score: float | None = None
    answer_text: str | None = None
    gold_answer: str | None = None
    cited: tuple[str, ...] | None = None
    abstained: bool | None = None
    stage_ms: dict[str, float] = field(default_factory=dict)
    abstain_reason: str | None = None
    unknown_terms: tuple[str, ...] = ()
    generator: str | None = None
    degraded: bool = False
    uncited: bool = False
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    partially_supported: bool = False
    unsupported_claims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.scores and len(self.scores) != len(self.ranked):
            raise ValueError(
                f"scores has {len(self.scores)} entries but ranked has {len(self.ranked)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of all fields (``json`` writes the tuples as lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QuestionResult:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError: If a required field is missing.
        """
        cited = d.get("cited")
        return cls(
            question=d["question"],
            answerable=bool(d["answerable"]),
            gold=tuple(d["gold"]),
            ranked=tuple(d["ranked"]),
            scores=tuple(float(s) for s in d.get("scores", ())),
            support_score=d.get("support_score"),
            answer_text=d.get("answer_text"),
            gold_answer=d.get("gold_answer"),
            cited=None if cited is None else tuple(cited),
            abstained=d.get("abstained"),
            stage_ms={k: float(v) for k, v in d.get("stage_ms", {}).items()},
            abstain_reason=d.get("abstain_reason"),
            unknown_terms=tuple(d.get("unknown_terms", ())),
            generator=d.get("generator"),
            degraded=bool(d.get("degraded", False)),
            uncited=bool(d.get("uncited", False)),
            model=d.get("model"),
            tokens_in=d.get("tokens_in"),
            tokens_out=d.get("tokens_out"),
            partially_supported=bool(d.get("partially_supported", False)),
            unsupported_claims=tuple(d.get("unsupported_claims", ())),
        )


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def total_ms(result: QuestionResult) -> float | None:
    """End-to-end latency: ``stage_ms["total"]`` if present, else the sum of all stages.

    ``None`` when no stage was timed.
    """
    if TOTAL_STAGE in result.stage_ms:
        return result.stage_ms[TOTAL_STAGE]
    return sum(result.stage_ms.values()) if result.stage_ms else None


def macro_average(summaries: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """The unweighted mean over datasets of each metric (each dataset counts once, whatever its
    size); a metric missing or ``None`` in a dataset is averaged over the others, and is
    ``None`` when no dataset has it. Counts (``n_*``) are summed."""
    keys = list(dict.fromkeys(k for s in summaries for k in s))
    out: dict[str, float | None] = {}
    for k in keys:
        values = [v for s in summaries if (v := s.get(k)) is not None]
        if k.startswith("n_"):
            out[k] = float(sum(values))
        else:
            out[k] = sum(values) / len(values) if values else None
    return out


def summarize(
    results: Sequence[QuestionResult], ks: Sequence[int] = DEFAULT_KS, *, depth: int = 10
) -> dict[str, float | None]:
    """Corpus-level metrics of one configuration: means of the per-question metrics.

    Keys (a value is ``None`` when no question qualifies):

    * ``n_questions``, ``n_answerable``.
    * ``hit@k`` and ``recall@k`` for each k in ``ks``, ``mrr@{depth}``, ``ndcg@{depth}``
      (``mrr@10``, ``ndcg@10`` by default): over answerable questions with a non-empty gold.
    * ``em``, ``f1``, ``rouge_l``, ``bleu``: over questions with a ``gold_answer`` that were
      answered (``answer_text`` set) or abstained. An abstention is scored as the empty
      prediction, i.e. 0, so that abstaining on hard answerable questions cannot inflate the
      answer scores (the cost of abstaining shows up here and in ``answerable_abstain_rate``).
    * ``citation_precision`` (over those that cited something), ``citation_hit``: over answerable
      questions with a non-empty gold that were answered (``answer_text`` set, not abstained)
      with citations measured (``cited`` not ``None``).
    * ``abstention_precision``, ``abstention_recall``, ``answerable_abstain_rate``: see
      :func:`abstention_scores`, over questions with ``abstained`` measured.
    * ``answered_p50_ms``/``_p95_ms`` and ``refused_p50_ms``/``_p95_ms``: end-to-end latency of
      answered and of refused questions apart (when abstention was measured).
    * ``degraded_rate``, ``uncited_rate``: over answered questions, the share answered by the
      fallback and the share left without a valid citation (when the generator is recorded).
    * ``partial_rate``: over answered questions, the share with a sentence that the grounding
      check found unsupported; ``tokens_in_mean``/``tokens_out_mean``: over answers whose LLM
      endpoint reported token counts (only when some did).
    * ``<stage>_p50_ms``, ``<stage>_p95_ms`` for every stage timed in any result, plus
      ``total_p50_ms``/``total_p95_ms`` (see :func:`total_ms`) whenever any stage was timed.

    Raises:
        ValueError: If a k or ``depth`` is < 1.
    """
    for k in (*ks, depth):
        _check_k(k)
    out: dict[str, float | None] = {
        "n_questions": float(len(results)),
        "n_answerable": float(sum(1 for r in results if r.answerable)),
    }

    retrieval = [r for r in results if r.answerable and r.gold]
    for k in ks:
        out[f"hit@{k}"] = _mean(hit_at_k(r.ranked, r.gold, k) for r in retrieval)
    for k in ks:
        out[f"recall@{k}"] = _mean(recall_at_k(r.ranked, r.gold, k) for r in retrieval)
    out[f"mrr@{depth}"] = _mean(reciprocal_rank_at_k(r.ranked, r.gold, depth) for r in retrieval)
    out[f"ndcg@{depth}"] = _mean(ndcg_at_k(r.ranked, r.gold, depth) for r in retrieval)

    pairs = [
        ("" if r.abstained else (r.answer_text or ""), r.gold_answer)
        for r in results
        if r.gold_answer is not None and (r.answer_text is not None or r.abstained)
    ]
    for key, fn in (("em", exact_match), ("f1", token_f1), ("rouge_l", rouge_l), ("bleu", bleu)):
        out[key] = _mean(fn(pred, ref) for pred, ref in pairs)

    cited = [
        (r.cited, r.gold)
        for r in results
        if r.answerable
        and r.gold
        and r.answer_text is not None
        and not r.abstained
        and r.cited is not None
    ]
    out["citation_precision"] = _mean(citation_precision(c, g) for c, g in cited)
    out["citation_hit"] = _mean(citation_hit(c, g) for c, g in cited)

    measured = [r for r in results if r.abstained is not None]
    abst = abstention_scores(
        [bool(r.abstained) for r in measured], [r.answerable for r in measured]
    )
    out["abstention_precision"] = abst["precision"]
    out["abstention_recall"] = abst["recall"]
    out["answerable_abstain_rate"] = abst["answerable_abstain_rate"]

    stages = list(dict.fromkeys(s for r in results for s in r.stage_ms if s != TOTAL_STAGE))
    for stage in stages:
        p = percentiles([r.stage_ms[stage] for r in results if stage in r.stage_ms])
        out[f"{stage}_p50_ms"], out[f"{stage}_p95_ms"] = p["p50"], p["p95"]
    totals = [t for r in results if (t := total_ms(r)) is not None]
    if totals:
        p = percentiles(totals)
        out[f"{TOTAL_STAGE}_p50_ms"], out[f"{TOTAL_STAGE}_p95_ms"] = p["p50"], p["p95"]
        # Answered and refused questions apart: a refusal skips generation, so a slow
        # generator shows only in the answered figures.
        for label, want in (("answered", False), ("refused", True)):
            part = [t for r in results if r.abstained is want and (t := total_ms(r)) is not None]
            if part and any(r.abstained is not None for r in results):
                q = percentiles(part)
                out[f"{label}_p50_ms"], out[f"{label}_p95_ms"] = q["p50"], q["p95"]
    for key, flag in (("degraded_rate", "degraded"), ("uncited_rate", "uncited")):
        answered = [r for r in results if r.abstained is False]
        if answered and any(r.generator is not None for r in answered):
            out[key] = sum(bool(getattr(r, flag)) for r in answered) / len(answered)
    answered = [r for r in results if r.abstained is False]
    if answered and any(r.model is not None for r in answered):
        out["partial_rate"] = sum(r.partially_supported for r in answered) / len(answered)
    for key in ("tokens_in", "tokens_out"):
        counts = [float(v) for r in results if (v := getattr(r, key)) is not None]
        if counts:
            out[f"{key}_mean"] = sum(counts) / len(counts)
    return out
