"""The feedback protocol on the dev sets (see :mod:`bot.evaluation.feedback_protocol`).

Usage: ``.venv/bin/python scripts/feedback_protocol.py [--seed 7] [--correction-share 0.5]
[--boost 0,0.25,0.5,1] [--min-similarity 0.85] [--bootstrap 2000]
[--tune-epochs N] [--paraphrases DIR] [--generator openai] [--few-shot] [--sample N]
[--datasets samples/devsets.toml] [--json FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.evaluation.feedback_protocol import (  # noqa: E402
    load_paraphrases,
    render_result,
    run_set,
)
from bot.evaluation.runner import load_all, load_dataset_file  # noqa: E402


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
    parser.add_argument(
        "--tune-epochs",
        type=int,
        help="also fine-tune the embedding model on the verified answers for this many epochs "
        "and evaluate the test half in an index built with it (step 5)",
    )
    parser.add_argument(
        "--paraphrases",
        type=Path,
        help="a folder of DATASET.jsonl rewordings (scripts/paraphrase_questions.py): also ask "
        "the feedback half in other words, before and after the feedback",
    )
    parser.add_argument("--generator", choices=("extractive", "openai"))
    parser.add_argument(
        "--few-shot",
        action="store_true",
        help="with --generator openai: also answer the test half with dynamic few-shot",
    )
    parser.add_argument(
        "--sample", type=int, help="an evenly spaced subset of each question file (as eval's)"
    )
    parser.add_argument("--datasets", type=Path, default=REPO / "samples" / "devsets.toml")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = []
    for ds in load_dataset_file(args.datasets, sample=args.sample):
        questions = [q for q in load_all(ds) if q.answerable and q.gold]
        reworded = None
        if args.paraphrases and (args.paraphrases / f"{ds.label}.jsonl").is_file():
            reworded = load_paraphrases(args.paraphrases / f"{ds.label}.jsonl")
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
                    tune_epochs=args.tune_epochs,
                    paraphrases=reworded,
                    generator=args.generator,
                    few_shot=args.few_shot,
                )
            )
        )
    console = Console()
    for r in results:
        render_result(r, console)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
