"""The feedback protocol on the dev sets (see :mod:`bot.evaluation.feedback_protocol`).

Usage: ``.venv/bin/python scripts/feedback_protocol.py [--seed 7] [--correction-share 0.5]
[--boost 0,0.25,0.5,1] [--min-similarity 0.85] [--bootstrap 2000]
[--datasets samples/devsets.toml] [--json FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.evaluation.dataset import load_questions  # noqa: E402
from bot.evaluation.feedback_protocol import METRICS, run_set  # noqa: E402
from bot.evaluation.runner import load_dataset_file  # noqa: E402


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
        results.append(
            asyncio.run(
                run_set(
                    ds.label,
                    ds.docs,
                    questions,
                    seed=args.seed,
                    correction_share=args.correction_share,
                    boosts=args.boost,
                    min_similarity=args.min_similarity,
                    bootstrap=args.bootstrap,
                )
            )
        )
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
