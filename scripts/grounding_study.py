"""Measure the grounding check's rule (bot.grounding) and choose its bars.

For every answerable question of each dev set, each sentence of the human-written gold answer
is paired with:

- its gold page or section (all chunks of it): a *supported* pair;
- the best-ranked retrieved source that is not gold and not a near copy of the gold text
  (embedding cosine of the two texts below 0.9): an *unsupported* pair (the hard case: a page
  on the same topic). Some of these still support the sentence (the two Contoso health-plan
  books repeat many passages in other words), so the measured false-acceptance rate is an
  upper bound.

Prints, for a grid of (semantic_bar, coverage_bar, strong_semantic_bar), the share of supported
pairs accepted (TPR) and of unsupported pairs accepted (FPR), macro-averaged over the datasets,
and the bars in force. Run: ``.venv/bin/python scripts/grounding_study.py [devsets.toml]``.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bot import grounding
from bot.engine import SupportEngine
from bot.evaluation.runner import load_all, load_dataset_file
from bot.grounding import GroundingChecker
from bot.settings import Settings
from knowledge.sentences import split_sentences

ROOT = Path(__file__).resolve().parent.parent
NEAR_COPY = 0.9  # a retrieved text this close to the gold text is not a fair negative


def pairs_for(engine: SupportEngine, inputs: object, console: Console) -> dict[str, np.ndarray]:
    """Scores of supported and unsupported pairs of one dataset."""
    kb = engine.kb
    kb.ingest([inputs.docs], audience="public", console=console)  # type: ignore[attr-defined]
    by_source: dict[str, list[str]] = {}
    for c in sorted(kb.index.all_chunks(), key=lambda c: (c.doc_id, c.chunk_index)):
        by_source.setdefault(c.source_id, []).append(c.text)
        by_source.setdefault(c.doc_id, []).append(c.text)
    checker = GroundingChecker(kb.embedder.embed, kb.sparse)
    rows: dict[str, list[tuple[float, float, bool, float]]] = {"pos": [], "neg": []}
    for q in load_all(inputs):  # type: ignore[arg-type]
        if not q.answerable or not q.answer or not q.gold:
            continue
        sents = [s for s in split_sentences(q.answer) if checker.is_factual(s)]
        gold_text = "\n".join(t for g in q.gold for t in by_source.get(g, []))
        if not sents or not gold_text:
            continue
        hits = kb.retrieve(q.question, audience="internal", limit=10).hits
        others = [
            "\n".join(by_source[h.chunk.source_id])
            for h in hits
            if h.chunk.source_id not in q.gold and h.chunk.doc_id not in q.gold
        ]
        others = list(dict.fromkeys(others))
        neg = None
        if others:
            vecs = kb.embedder.embed([gold_text, *others])
            near = vecs[1:] @ vecs[0]
            neg = next((t for t, c in zip(others, near, strict=True) if c < NEAR_COPY), None)
        sources = [gold_text] + ([neg] if neg else [])
        sem, cov, ok = checker.scores(sents, sources)
        # With the question: coverage of the terms it does not contain, and the names it shares
        # with the sentence checked like numbers (GroundingChecker.names).
        _, cov_q, ok_q = checker.scores(sents, sources, q.question)
        for i in range(len(sents)):
            for k, key in enumerate(("pos", "neg")):
                if k < len(sources):
                    rows[key].append(
                        (
                            float(sem[i, k]),
                            float(cov[i, k]),
                            bool(ok[i, k]),
                            float(cov_q[i, k]),
                            bool(ok_q[i, k]),
                        )
                    )
    return {k: np.asarray(v, dtype=np.float32).reshape(-1, 5) for k, v in rows.items()}


def rates(
    data: dict[str, np.ndarray], bars: tuple[float, float, float], novel: bool = False
) -> tuple[float, float]:
    """(TPR, FPR) of the rule with ``bars`` = (semantic, coverage, strong); ``novel``: with the
    question, as the engine checks: coverage of the terms it does not contain
    (``GroundingChecker.claim_terms``) and its names required like numbers."""
    sb, cb, strong = bars

    def accept(a: np.ndarray) -> np.ndarray:
        sem, cov, ok = a[:, 0], a[:, 3 if novel else 1], a[:, 4 if novel else 2] > 0.5
        return ok & (((sem >= sb) & (cov >= cb)) | (sem >= strong))

    return float(accept(data["pos"]).mean()), float(accept(data["neg"]).mean())


def main() -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "samples" / "devsets.toml"
    per_set: dict[str, dict[str, np.ndarray]] = {}
    for inputs in load_dataset_file(path):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), qdrant_url=None, collection="study")
            engine = SupportEngine.from_settings(settings)
            try:
                per_set[inputs.label] = pairs_for(engine, inputs, console)
            finally:
                engine.close()
        d = per_set[inputs.label]
        console.print(f"{inputs.label}: {len(d['pos'])} supported, {len(d['neg'])} unsupported")

    for novel in (False, True):
        report(console, per_set, novel)


def report(console: Console, per_set: dict[str, dict[str, np.ndarray]], novel: bool) -> None:
    """Print the best bars per FPR cap for one variant of coverage, and the bars in force."""

    def macro(bars: tuple[float, float, float]) -> tuple[float, float]:
        r = [rates(d, bars, novel) for d in per_set.values()]
        return float(np.mean([t for t, _ in r])), float(np.mean([f for _, f in r]))

    grid = itertools.product(
        np.arange(0.30, 0.81, 0.05), np.arange(0.0, 1.01, 0.1), np.arange(0.60, 1.01, 0.05)
    )
    results = [(tuple(round(float(x), 2) for x in b), *macro(b)) for b in grid]
    what = "terms the question does not contain" if novel else "all terms"
    table = Table(title=f"Grounding rule, coverage of {what}: macro TPR / FPR (best TPR per cap)")
    for col in ("FPR cap", "semantic", "coverage", "strong", "TPR", "FPR"):
        table.add_column(col, justify="right")
    for name in per_set:
        table.add_column(f"{name} TPR/FPR", justify="right")
    for cap in (0.05, 0.10, 0.15, 0.20, 0.25, 0.30):
        ok = [r for r in results if r[2] <= cap]
        if not ok:
            continue
        bars, tpr, fpr = max(ok, key=lambda r: (r[1], -r[2]))
        each = [rates(d, bars, novel) for d in per_set.values()]  # type: ignore[arg-type]
        table.add_row(
            f"{cap:.2f}",
            *(f"{x:.2f}" for x in bars),
            f"{tpr:.3f}",
            f"{fpr:.3f}",
            *(f"{t:.3f}/{f:.3f}" for t, f in each),
        )
    console.print(table)
    current = (grounding.SEMANTIC_BAR, grounding.COVERAGE_BAR, grounding.STRONG_SEMANTIC_BAR)
    for name, d in per_set.items():
        tpr, fpr = rates(d, current, novel)
        console.print(f"in force {current} on {name}: TPR {tpr:.3f}, FPR {fpr:.3f}")
    tpr, fpr = macro(current)
    console.print(f"in force {current}, macro: TPR {tpr:.3f}, FPR {fpr:.3f}")


if __name__ == "__main__":
    main()
