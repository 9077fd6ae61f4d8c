"""Where should the answer memory's similarity threshold sit? Measured on labelled questions.

Usage: ``.venv/bin/python scripts/memory_threshold.py [QA.jsonl ...]`` (default: the Contoso and
Galaxy S10 dev sets in ../shared/data).

A verified answer is served to a new question whose embedding (the bot's model) is at least
``memory_threshold`` cosine-similar to the verified one. Exact repeats score 1.0. The risk is a
*different* question scoring above the bar. In a labelled set every question is a different
question, and a pair whose gold sources do not overlap certainly needs a different answer. For
each question this prints how close its nearest other question is, and for candidate thresholds
how many questions would be served another question's answer (any pair, and pairs with
disjoint gold sources). The default threshold is the lowest candidate at which no question of
either set would get an answer to a question with other gold sources.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.evaluation.dataset import load_questions  # noqa: E402
from bot.settings import Settings  # noqa: E402
from knowledge.embedding import get_embedder  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DEFAULT_SETS = [SHARED / "contoso_hr_benefits" / "qa.jsonl", SHARED / "galaxy_s10" / "qa.jsonl"]
CANDIDATES = (0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98)


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or DEFAULT_SETS
    settings = Settings()
    embedder = get_embedder(settings.embedding_model, batch_size=settings.embedding_batch_size)
    for path in paths:
        qs = load_questions(path)
        vecs = embedder.embed([q.question for q in qs])
        sims = vecs @ vecs.T
        np.fill_diagonal(sims, -1.0)
        nearest = sims.max(axis=1)
        disjoint = np.array([[not set(a.gold) & set(b.gold) for b in qs] for a in qs], dtype=bool)
        np.fill_diagonal(disjoint, False)
        print(f"\n{path.parent.name}/{path.name}: {len(qs)} questions")
        p50, p90, p99 = np.percentile(nearest, [50, 90, 99])
        print(
            f"  nearest other question: p50 {p50:.3f}, p90 {p90:.3f}, p99 {p99:.3f}, "
            f"max {nearest.max():.3f}"
        )
        print("  threshold  served another's answer  ...with other gold sources")
        for t in CANDIDATES:
            any_pair = int((nearest >= t).sum())
            wrong = int(((sims >= t) & disjoint).any(axis=1).sum())
            print(f"  {t:9.2f}  {any_pair:23d}  {wrong:26d}")


if __name__ == "__main__":
    main()
