"""The feedback protocol, for what the feedback loop has so far: the answer memory.

Usage: ``.venv/bin/python scripts/feedback_protocol.py [--seed 7] [--correction-share 0.5]
[--boost 0,0.25,0.5,1] [--min-similarity 0.85] [--bootstrap 2000]
[--datasets samples/devsets.toml] [--json FILE]``

For each labelled set (answerable questions only), in a fresh temporary index and database:

1. Split the questions into a feedback half and a test half (fixed seed).
2. Answer the feedback half. A simulated user votes 👍 when the answer cites a gold source and
   👎 otherwise; for ``--correction-share`` of the 👎 a simulated lead writes a correction: the
   gold answer, citing the gold source's chunks. Answers with one 👍 and no 👎 count as verified
   (``memory_min_up_votes = 1`` here), corrections as verified by the lead.
3. Evaluate the test half before and after the feedback is loaded (the answer memory, and the
   feedback links at each ``--boost`` strength, ``feedback_boost``; 0 = memory only): hit@5,
   MRR@10 and citation hit (the definitions of :mod:`bot.evaluation.metrics`), with a
   paired-bootstrap 95% interval of each difference (resampling questions).
4. Ask the feedback half again (exact repeats): how often a verified answer is served, and the
   citation hit of the answers given.

Dynamic few-shot needs an LLM and is not measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.engine import SupportEngine  # noqa: E402
from bot.evaluation.dataset import EvalQuestion, load_questions  # noqa: E402
from bot.evaluation.metrics import (  # noqa: E402
    citation_hit,
    hit_at_k,
    reciprocal_rank_at_k,
)
from bot.evaluation.runner import load_dataset_file  # noqa: E402
from bot.feedback import FeedbackStore  # noqa: E402
from bot.models import Answer  # noqa: E402
from bot.ops import MemoryRefresher  # noqa: E402
from bot.settings import Settings  # noqa: E402
from knowledge.chunking import Chunk  # noqa: E402

METRICS = ("hit@5", "mrr@10", "citation_hit")


def scores(answer: Answer, q: EvalQuestion) -> dict[str, float]:
    """The three per-question figures of an answer."""
    ranked = list(dict.fromkeys(r.source_id for r in answer.retrieved))
    return {
        "hit@5": hit_at_k(ranked, q.gold, 5),
        "mrr@10": reciprocal_rank_at_k(ranked, q.gold, 10),
        "citation_hit": citation_hit([c.source_id for c in answer.citations], q.gold),
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
    test_after: dict[str, dict[str, float]]  # by boost strength
    test_diff: dict[str, dict[str, tuple[float, float, float]]]
    test_served: int
    repeats_served: float
    repeats_served_citation_hit: float | None
    repeats_citation_hit: float


async def run_set(
    name: str, docs: Path, questions: list[EvalQuestion], args: argparse.Namespace
) -> SetResult:
    """Steps 1 to 4 on one set, in a temporary folder."""
    tmp = Path(tempfile.mkdtemp(prefix=f"supportbot-protocol-{name}-"))
    settings = Settings(data_dir=tmp, _env_file=None)  # type: ignore[call-arg]
    engine = await asyncio.to_thread(SupportEngine.from_settings, settings)
    store = FeedbackStore(f"sqlite:///{tmp / 'feedback.db'}")
    try:
        await asyncio.to_thread(engine.kb.ingest, [docs], audience="internal", progress=True)
        chunks: list[Chunk] = engine.kb.index.all_chunks()
        order = list(range(len(questions)))
        random.Random(args.seed).shuffle(order)
        half = len(order) // 2
        feedback = [questions[i] for i in order[:half]]
        test = [questions[i] for i in order[half:]]

        # 2. Simulated votes and corrections on the feedback half.
        rng = random.Random(args.seed + 1)
        up = down = corrected = 0
        for n, q in enumerate(feedback):
            answer = await engine.answer(q.question, audience="internal")
            answer_id = await store.record_answer(answer, platform="protocol")
            good = scores(answer, q)["citation_hit"] == 1.0
            await store.vote(answer_id, f"sim-user-{n}", 1 if good else -1, source="protocol")
            up, down = up + good, down + (not good)
            if not good and rng.random() < args.correction_share and q.answer:
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
        before = [scores(await engine.answer(q.question, audience="internal"), q) for q in test]
        report = await MemoryRefresher(
            engine, store, interval_s=60, min_up_votes=1, links=True
        ).refresh()
        verified = report.entries if report is not None else 0
        assert engine.links is not None
        engine.links.min_similarity = args.min_similarity
        after: dict[str, list[dict[str, float]]] = {}
        served_test = 0
        for strength in args.boost:
            engine.links.strength = strength
            answers = [await engine.answer(q.question, audience="internal") for q in test]
            after[f"{strength:g}"] = [scores(a, q) for a, q in zip(answers, test, strict=True)]
            served_test = max(served_test, sum(a.generator == "verified" for a in answers))
        engine.links.strength = 0.0

        # 4. Exact repeats of the feedback half.
        repeats = [await engine.answer(q.question, audience="internal") for q in feedback]
        served = [
            scores(a, q)["citation_hit"]
            for a, q in zip(repeats, feedback, strict=True)
            if a.generator == "verified"
        ]
        return SetResult(
            name=name,
            feedback=len(feedback),
            test=len(test),
            up=up,
            down=down,
            corrected=corrected,
            verified=verified,
            test_before={m: float(np.mean([s[m] for s in before])) for m in METRICS},
            test_after={
                k: {m: float(np.mean([s[m] for s in v])) for m in METRICS} for k, v in after.items()
            },
            test_diff={
                k: {
                    m: paired_bootstrap(
                        [s[m] for s in before], [s[m] for s in v], args.bootstrap, args.seed
                    )
                    for m in METRICS
                }
                for k, v in after.items()
            },
            test_served=served_test,
            repeats_served=len(served) / len(feedback),
            repeats_served_citation_hit=float(np.mean(served)) if served else None,
            repeats_citation_hit=float(
                np.mean(
                    [scores(a, q)["citation_hit"] for a, q in zip(repeats, feedback, strict=True)]
                )
            ),
        )
    finally:
        store.close()
        await engine.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--correction-share", type=float, default=0.5)
    parser.add_argument(
        "--boost",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[0.0, 0.25, 0.5, 1.0],
        help="feedback_boost strengths to evaluate the test half at (comma-separated)",
    )
    parser.add_argument("--min-similarity", type=float, default=0.85)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--datasets", type=Path, default=REPO / "samples" / "devsets.toml")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = []
    for ds in load_dataset_file(args.datasets):
        questions = [q for p in ds.questions for q in load_questions(p) if q.answerable and q.gold]
        results.append(asyncio.run(run_set(ds.label, ds.docs, questions, args)))
    for r in results:
        print(f"\n{r.name}: feedback half {r.feedback}, test half {r.test}")
        print(
            f"  feedback: {r.up} 👍, {r.down} 👎, {r.corrected} corrected by the lead; "
            f"{r.verified} verified answers in the memory"
        )
        for strength, figures in r.test_after.items():
            print(f"  test half, feedback_boost {strength}:")
            for m in METRICS:
                d, lo, hi = r.test_diff[strength][m]
                print(
                    f"    {m:12s} {r.test_before[m]:.3f} → {figures[m]:.3f}  "
                    f"(Δ {d:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}])"
                )
        print(f"  test half questions served a verified answer: {r.test_served}")
        hit = r.repeats_served_citation_hit
        print(
            f"  repeats: verified answer served {r.repeats_served:.3f}; citation hit of those "
            f"{'–' if hit is None else f'{hit:.3f}'}; of all repeats {r.repeats_citation_hit:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
