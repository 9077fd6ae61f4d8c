"""The feedback protocol (issue: the feedback loop): does feedback make the next answer better?

For one labelled set, in a fresh temporary index and database (:func:`run_set`):

1. Split the answerable questions into a feedback half and a test half (fixed seed).
2. Answer the feedback half. A simulated user votes 👍 when the answer cites a gold source and
   👎 otherwise; for ``correction_share`` of the 👎 a simulated lead writes a correction: the
   gold answer, citing the gold source's first chunk. Answers with one 👍 and no 👎 count as
   verified (``memory_min_up_votes = 1`` here), corrections as verified by the lead.
3. Evaluate the test half before and after the feedback is loaded (the answer memory, and the
   feedback links at each ``boosts`` strength, ``feedback_boost``; 0 = memory only): hit@5,
   MRR@10 and citation hit (the definitions of :mod:`bot.evaluation.metrics`), with a
   paired-bootstrap 95% interval of each difference (resampling questions).
4. Ask the feedback half again (exact repeats): how often a verified answer is served, and the
   citation hit of the answers given. With ``paraphrases`` (a rewording of each question, e.g.
   from ``scripts/paraphrase_questions.py``), also ask the feedback half in other words, before
   and after the feedback like the test half (the ``para_*`` figures): the user who asks again
   differently, between the exact repeat and an unseen question.
5. With ``few_shot`` (and an LLM generator), dynamic few-shot: the test half answered again
   with ``memory_few_shot`` on (the verified answers nearest each question as the prompt's
   examples), against the same answers with the curated examples (the memory loaded, no
   boost): citation hit, token F1 and ROUGE-L of the questions with a gold answer.
6. With ``tune_epochs`` set, retriever adaptation (:mod:`bot.tuning`): fine-tune the embedding
   model on the verified answers of step 2, ingest the documents again with it in a second
   index, and evaluate the test half there (key ``"tuned"`` of the step-3 figures; the answer
   memory and the links are not loaded in that index, so the difference is the model's alone).

``supportbot eval --feedback-protocol [--tune-epochs N] [--paraphrases DIR] [--generator openai
--few-shot]`` runs it on the dev sets (or any
labelled set), ``scripts/feedback_protocol.py`` with the finer options (boost strengths, the
correction share); ``tests/test_feedback_protocol.py`` runs a small version. The temporary
folder (indexes, database, tuned model) is removed at the end. ``generator`` overrides the
setting for the whole run (the simulated users then vote on that generator's answers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.engine import SupportEngine
from bot.evaluation.dataset import EvalQuestion
from bot.evaluation.metrics import (
    citation_hit,
    hit_at_k,
    reciprocal_rank_at_k,
    rouge_l,
    token_f1,
)
from bot.feedback import FeedbackStore
from bot.models import Answer
from bot.ops import MemoryRefresher
from bot.settings import Settings
from bot.tuning import TuneReport, training_questions, tune
from knowledge.chunking import Chunk

METRICS = ("hit@5", "mrr@10", "citation_hit")
ANSWER_METRICS = ("citation_hit", "f1", "rouge_l")
"""The figures of the few-shot step (an abstention scores 0 on F1 and ROUGE-L, as in
:func:`bot.evaluation.metrics.summarize`)."""


def scores(answer: Answer, q: EvalQuestion) -> dict[str, float]:
    """The three per-question figures of an answer."""
    ranked = list(dict.fromkeys(r.source_id for r in answer.retrieved))
    return {
        "hit@5": hit_at_k(ranked, q.gold, 5),
        "mrr@10": reciprocal_rank_at_k(ranked, q.gold, 10),
        "citation_hit": citation_hit([c.source_id for c in answer.citations], q.gold),
    }


def answer_scores(answer: Answer, q: EvalQuestion) -> dict[str, float]:
    """Citation hit, token F1 and ROUGE-L of an answer against ``q.answer``.

    Raises:
        ValueError: ``q`` has no gold answer.
    """
    if q.answer is None:
        raise ValueError(f"no gold answer to score against: {q.question!r}")
    text = "" if answer.abstained else answer.text
    return {
        "citation_hit": citation_hit([c.source_id for c in answer.citations], q.gold),
        "f1": token_f1(text, q.answer),
        "rouge_l": rouge_l(text, q.answer),
    }


def paired_bootstrap(
    before: list[float], after: list[float], n: int, seed: int
) -> tuple[float, float, float]:
    """Mean difference ``after - before`` and its 95% percentile interval over ``n``
    resamples of the questions (Efron & Tibshirani, 1993, ch. 13)."""
    diff = np.asarray(after) - np.asarray(before)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n, len(diff)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(diff.mean()), float(lo), float(hi)


@dataclass
class SetResult:
    """The protocol's figures for one labelled set."""

    name: str
    feedback: int
    test: int
    up: int
    down: int
    corrected: int
    verified: int
    test_before: dict[str, float]
    test_after: dict[str, dict[str, float]]  # by boost strength, and "tuned"
    test_diff: dict[str, dict[str, tuple[float, float, float]]]
    test_served: int
    repeats_served: float
    repeats_served_citation_hit: float | None
    repeats_citation_hit: float
    tune_seconds: float | None = None
    tune_rows: int | None = None
    paraphrases: int = 0  # feedback-half questions asked again in other words
    para_before: dict[str, float] | None = None
    para_after: dict[str, dict[str, float]] | None = None  # keys as test_after
    para_diff: dict[str, dict[str, tuple[float, float, float]]] | None = None
    # the links' own effect on the reworded questions: each boost strength against the memory
    # alone (strength 0), paired like para_diff
    para_links_diff: dict[str, dict[str, tuple[float, float, float]]] | None = None
    para_served: float | None = None  # share served a verified answer
    para_served_citation_hit: float | None = None
    # p10, p50, p90 of the cosine similarity between a question and its rewording (the
    # embeddings the answer memory compares; it serves at memory_threshold and above)
    para_similarity: tuple[float, float, float] | None = None
    few_shot_n: int = 0  # test-half questions with a gold answer, for the few-shot step
    few_shot_before: dict[str, float] | None = None  # curated examples
    few_shot_after: dict[str, float] | None = None  # dynamic few-shot
    few_shot_diff: dict[str, tuple[float, float, float]] | None = None
    few_shot_tokens_in: tuple[float | None, float | None] | None = None  # mean prompt tokens


def load_paraphrases(path: Path) -> dict[str, str]:
    """``{question: rewording}`` from a JSON-lines file of ``{"question", "paraphrase"}``
    objects (what ``scripts/paraphrase_questions.py`` writes).

    Raises:
        ValueError: a line that is not such an object (with its line number).
    """
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[str(row["question"])] = str(row["paraphrase"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a question/paraphrase object: {exc}") from exc
    return out


def _means(rows: Sequence[dict[str, float]], keys: Sequence[str] = METRICS) -> dict[str, float]:
    return {m: float(np.mean([s[m] for s in rows])) for m in keys}


def _diff(
    before: Sequence[dict[str, float]],
    after: Sequence[dict[str, float]],
    bootstrap: int,
    seed: int,
    keys: Sequence[str] = METRICS,
) -> dict[str, tuple[float, float, float]]:
    return {
        m: paired_bootstrap([s[m] for s in before], [s[m] for s in after], bootstrap, seed)
        for m in keys
    }


def _diffs(
    before: Sequence[dict[str, float]],
    after: Mapping[str, Sequence[dict[str, float]]],
    bootstrap: int,
    seed: int,
) -> dict[str, dict[str, tuple[float, float, float]]]:
    return {k: _diff(before, v, bootstrap, seed) for k, v in after.items()}


async def _answers(engine: SupportEngine, questions: Sequence[EvalQuestion]) -> list[Answer]:
    return [await engine.answer(q.question, audience="internal") for q in questions]


def _scored(answers: Sequence[Answer], questions: Sequence[EvalQuestion]) -> list[dict[str, float]]:
    return [scores(a, q) for a, q in zip(answers, questions, strict=True)]


async def _tuned_scores(
    store: FeedbackStore,
    chunks: list[Chunk],
    base_model: str,
    docs: Path,
    sets: Sequence[Sequence[EvalQuestion]],
    tmp: Path,
    *,
    epochs: int,
    progress: bool,
) -> tuple[list[list[dict[str, float]]], TuneReport]:
    """Step 5: tune on the verified answers (all of them: the test half is the held-out set),
    re-ingest ``docs`` with the tuned model, and score each of ``sets`` (the test half, and the
    paraphrases when given)."""
    questions = await training_questions(store, min_up_votes=1)
    model_dir = tmp / "tuned-model"
    report = await asyncio.to_thread(
        tune,
        questions,
        chunks,
        base_model=base_model,
        out=model_dir,
        epochs=epochs,
        holdout=0.0,
        progress=progress,
    )
    tuned_settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp / "tuned-index", embedding_model=str(model_dir), _env_file=None
    )
    engine = await asyncio.to_thread(SupportEngine.from_settings, tuned_settings)
    try:
        await asyncio.to_thread(engine.kb.ingest, [docs], audience="internal", progress=progress)
        figures = [_scored(await _answers(engine, qs), qs) for qs in sets]
        return figures, report
    finally:
        await engine.aclose()


async def _similarity(
    engine: SupportEngine, a: Sequence[EvalQuestion], b: Sequence[EvalQuestion]
) -> tuple[float, float, float]:
    """p10, p50 and p90 of the cosine similarity of each question in ``a`` to its partner in
    ``b`` (the embeddings the answer memory compares)."""
    vecs = await asyncio.to_thread(engine.kb.embedder.embed, [q.question for q in (*a, *b)])
    sims = (vecs[: len(a)] * vecs[len(a) :]).sum(axis=1)
    p10, p50, p90 = np.percentile(sims, [10, 50, 90])
    return float(p10), float(p50), float(p90)


async def _few_shot_scores(
    engine: SupportEngine, test: Sequence[EvalQuestion], curated: Sequence[Answer]
) -> tuple[list[dict[str, float]], list[dict[str, float]], tuple[float | None, float | None]]:
    """The few-shot step: :data:`ANSWER_METRICS` of the test half's ``curated`` answers and of
    the same questions answered with ``memory_few_shot`` on (questions with a gold answer),
    and the mean prompt tokens of each (``None`` when the endpoint reported none)."""
    keep = [i for i, q in enumerate(test) if q.answer]
    questions = [test[i] for i in keep]
    before = [answer_scores(curated[i], test[i]) for i in keep]
    engine.settings = engine.settings.model_copy(update={"memory_few_shot": True})
    try:
        answers = await _answers(engine, questions)
        after = [answer_scores(a, q) for a, q in zip(answers, questions, strict=True)]
    finally:
        engine.settings = engine.settings.model_copy(update={"memory_few_shot": False})

    def tokens(answers: Sequence[Answer]) -> float | None:
        counts = [a.tokens_in for a in answers if a.tokens_in is not None]
        return float(np.mean(counts)) if counts else None

    return before, after, (tokens([curated[i] for i in keep]), tokens(answers))


async def run_set(
    name: str,
    docs: Path,
    questions: Sequence[EvalQuestion],
    *,
    seed: int = 7,
    correction_share: float = 0.5,
    boosts: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
    min_similarity: float = 0.85,
    bootstrap: int = 2000,
    tune_epochs: int | None = None,
    paraphrases: Mapping[str, str] | None = None,
    generator: str | None = None,
    few_shot: bool = False,
    progress: bool = True,
) -> SetResult:
    """Steps 1 to 4 (and 5 with ``tune_epochs``) on one set (answerable questions with gold
    sources), in a temporary folder; see the module docstring. ``paraphrases`` maps a
    question's text to its rewording; feedback-half questions without one are left out of the
    ``para_*`` figures.

    Raises:
        ValueError: ``few_shot`` without an LLM generator.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"supportbot-protocol-{name}-"))
    settings = Settings(data_dir=tmp, _env_file=None)  # type: ignore[call-arg]
    if generator:
        settings = settings.model_copy(update={"generator": generator})
    engine = await asyncio.to_thread(SupportEngine.from_settings, settings)
    store = FeedbackStore(f"sqlite:///{tmp / 'feedback.db'}")
    try:
        if few_shot and engine.llm is None:
            raise ValueError("the few-shot step needs the LLM generator (generator = openai)")
        await asyncio.to_thread(engine.kb.ingest, [docs], audience="internal", progress=progress)
        chunks: list[Chunk] = engine.kb.index.all_chunks()
        order = list(range(len(questions)))
        random.Random(seed).shuffle(order)
        half = len(order) // 2
        feedback = [questions[i] for i in order[:half]]
        test = [questions[i] for i in order[half:]]

        # 2. Simulated votes and corrections on the feedback half.
        rng = random.Random(seed + 1)
        up = down = corrected = 0
        for n, q in enumerate(feedback):
            answer = await engine.answer(q.question, audience="internal")
            answer_id = await store.record_answer(answer, platform="protocol")
            good = scores(answer, q)["citation_hit"] == 1.0
            await store.vote(answer_id, f"sim-user-{n}", 1 if good else -1, source="protocol")
            up, down = up + good, down + (not good)
            if not good and rng.random() < correction_share and q.answer:
                gold_chunks = [
                    c for c in chunks if citation_hit([c.source_id], q.gold) and c.text.strip()
                ]
                if gold_chunks:
                    await store.curate(
                        answer_id,
                        "corrected",
                        reviewer="sim-lead",
                        text=q.answer,
                        citations=[{"chunk_id": gold_chunks[0].chunk_id}],
                    )
                    corrected += 1

        # 3. The test half before and after the memory is loaded.
        before = _scored(await _answers(engine, test), test)
        originals = [q for q in feedback if paraphrases and q.question in paraphrases]
        reworded = [
            dataclasses.replace(q, question=(paraphrases or {})[q.question]) for q in originals
        ]
        para_before = _scored(await _answers(engine, reworded), reworded)
        similarity = await _similarity(engine, originals, reworded) if reworded else None
        report = await MemoryRefresher(
            engine, store, interval_s=60, min_up_votes=1, links=True
        ).refresh()
        verified = report.entries if report is not None else 0
        assert engine.links is not None
        engine.links.min_similarity = min_similarity
        after: dict[str, list[dict[str, float]]] = {}
        para_after: dict[str, list[dict[str, float]]] = {}
        served_test = 0
        para_served: list[float] = []
        curated: list[Answer] = []  # the test half's answers at the first strength
        for strength in boosts:
            engine.links.strength = strength
            answers = await _answers(engine, test)
            curated = curated or answers
            after[f"{strength:g}"] = _scored(answers, test)
            served_test = max(served_test, sum(a.generator == "verified" for a in answers))
            if reworded:
                answers = await _answers(engine, reworded)
                para_after[f"{strength:g}"] = _scored(answers, reworded)
                if strength == boosts[0]:  # the memory serves before retrieval: any strength
                    para_served = [
                        scores(a, q)["citation_hit"]
                        for a, q in zip(answers, reworded, strict=True)
                        if a.generator == "verified"
                    ]
        engine.links.strength = 0.0
        shots = await _few_shot_scores(engine, test, curated) if few_shot else None

        # 4. Exact repeats of the feedback half.
        repeats = [await engine.answer(q.question, audience="internal") for q in feedback]
        served = [
            scores(a, q)["citation_hit"]
            for a, q in zip(repeats, feedback, strict=True)
            if a.generator == "verified"
        ]

        # 6. Retriever adaptation: a model tuned on the verified answers, in its own index.
        tuned: TuneReport | None = None
        if tune_epochs is not None:
            figures, tuned = await _tuned_scores(
                store,
                chunks,
                settings.embedding_model,
                docs,
                [test, reworded],
                tmp,
                epochs=tune_epochs,
                progress=progress,
            )
            after["tuned"] = figures[0]
            if reworded:
                para_after["tuned"] = figures[1]
        return SetResult(
            name=name,
            feedback=len(feedback),
            test=len(test),
            up=up,
            down=down,
            corrected=corrected,
            verified=verified,
            test_before=_means(before),
            test_after={k: _means(v) for k, v in after.items()},
            test_diff=_diffs(before, after, bootstrap, seed),
            test_served=served_test,
            repeats_served=len(served) / len(feedback),
            repeats_served_citation_hit=float(np.mean(served)) if served else None,
            repeats_citation_hit=float(
                np.mean(
                    [scores(a, q)["citation_hit"] for a, q in zip(repeats, feedback, strict=True)]
                )
            ),
            tune_seconds=tuned.seconds if tuned else None,
            tune_rows=tuned.triples if tuned else None,
            paraphrases=len(reworded),
            para_before=_means(para_before) if reworded else None,
            para_after={k: _means(v) for k, v in para_after.items()} if reworded else None,
            para_diff=_diffs(para_before, para_after, bootstrap, seed) if reworded else None,
            para_links_diff=_diffs(
                para_after["0"],
                {k: v for k, v in para_after.items() if k not in ("0", "tuned")},
                bootstrap,
                seed,
            )
            if "0" in para_after
            else None,
            para_served=len(para_served) / len(reworded) if reworded else None,
            para_served_citation_hit=float(np.mean(para_served)) if para_served else None,
            para_similarity=similarity,
            few_shot_n=len(shots[0]) if shots else 0,
            few_shot_before=_means(shots[0], ANSWER_METRICS) if shots else None,
            few_shot_after=_means(shots[1], ANSWER_METRICS) if shots else None,
            few_shot_diff=_diff(shots[0], shots[1], bootstrap, seed, ANSWER_METRICS)
            if shots
            else None,
            few_shot_tokens_in=shots[2] if shots else None,
        )
    finally:
        store.close()
        await engine.aclose()
        shutil.rmtree(tmp, ignore_errors=True)


def _table(
    title: str,
    before: dict[str, float],
    after: dict[str, dict[str, float]],
    diff: dict[str, dict[str, tuple[float, float, float]]],
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("mechanism")
    for m in METRICS:
        table.add_column(m, justify="right")
    for key, figures in after.items():
        label = "tuned embedding model" if key == "tuned" else f"memory, feedback_boost {key}"
        cells = []
        for m in METRICS:
            d, lo, hi = diff[key][m]
            cells.append(f"{before[m]:.3f} → {figures[m]:.3f}\nΔ {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        table.add_row(label, *cells)
    return table


def render_result(r: SetResult, console: Console) -> None:
    """Print one set's protocol figures: the feedback given, a table of the test half before
    → after for each mechanism (Δ with its 95% interval), the repeats, and the paraphrased
    repeats when there are any."""
    console.print(
        f"\n[bold]{escape(r.name)}[/]: feedback half {r.feedback}, test half {r.test}; "
        f"{r.up} 👍, {r.down} 👎, {r.corrected} corrected by the lead; "
        f"{r.verified} verified answers in the memory"
    )
    console.print(
        _table(
            f"{r.name}: test half, before → after feedback",
            r.test_before,
            r.test_after,
            r.test_diff,
        )
    )
    if r.tune_seconds is not None:
        console.print(
            f"  tuned embedding model: {r.tune_rows} training rows, {r.tune_seconds:.0f} s"
        )
    console.print(f"  test-half questions served a verified answer: {r.test_served}")
    hit = r.repeats_served_citation_hit
    console.print(
        f"  repeats: verified answer served {r.repeats_served:.3f}; citation hit of those "
        f"{'–' if hit is None else f'{hit:.3f}'}; of all repeats {r.repeats_citation_hit:.3f}"
    )
    if r.para_before and r.para_after and r.para_diff:
        console.print(
            _table(
                f"{r.name}: {r.paraphrases} feedback-half questions in other words, "
                "before → after feedback",
                r.para_before,
                r.para_after,
                r.para_diff,
            )
        )
        hit = r.para_served_citation_hit
        console.print(
            f"  reworded repeats: verified answer served {r.para_served or 0:.3f}; citation "
            f"hit of those {'–' if hit is None else f'{hit:.3f}'}"
        )
        for key, diff in (r.para_links_diff or {}).items():
            console.print(
                f"  links over the memory alone, feedback_boost {key}: "
                + "; ".join(
                    f"{m} Δ {d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for m, (d, lo, hi) in diff.items()
                )
            )
        if r.para_similarity:
            p10, p50, p90 = r.para_similarity
            console.print(
                f"  similarity of each question to its rewording: p10 {p10:.3f}, p50 {p50:.3f}, "
                f"p90 {p90:.3f}"
            )
    if r.few_shot_before and r.few_shot_after and r.few_shot_diff:
        table = Table(
            title=f"{r.name}: {r.few_shot_n} test-half questions, curated examples → dynamic "
            "few-shot",
            title_justify="left",
        )
        for m in ANSWER_METRICS:
            table.add_column(m, justify="right")
        cells = []
        for m in ANSWER_METRICS:
            d, lo, hi = r.few_shot_diff[m]
            cells.append(
                f"{r.few_shot_before[m]:.3f} → {r.few_shot_after[m]:.3f}\n"
                f"Δ {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            )
        table.add_row(*cells)
        console.print(table)
        t0, t1 = r.few_shot_tokens_in or (None, None)
        if t0 is not None and t1 is not None:
            console.print(f"  prompt tokens (mean): {t0:.0f} → {t1:.0f}")
