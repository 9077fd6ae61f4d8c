"""Print LLM answers from an eval report for a hand audit of their grounding.

For each answered question (an evenly spaced sample of N), prints the question, each sentence
of the answer with its markers, and for each cited source the three sentences of that page or
section that share most words with the answer sentence, so a person can judge whether the
sentence is supported. Also prints the sentences the grounding check removed.

Usage: ``.venv/bin/python scripts/audit_answers.py REPORT.json [N]``: N answers of each dataset
of a ``supportbot eval`` report (its ``datasets``, each read from its own ``docs_path``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rapidfuzz import fuzz

from bot.grounding import parse_claims
from knowledge.documents import discover, load_file
from knowledge.sentences import split_sentences


def page_texts(docs: Path) -> dict[str, str]:
    """Source id (``doc#page=N``, or the doc id for other files) → its text."""
    out: dict[str, str] = {}
    sources, _ = discover([docs])
    for source in sources:
        _, loaded, _ = load_file(source)
        for doc in loaded:
            page = doc.metadata.get("page")
            key = f"{source.doc_id}#page={page}" if page is not None else source.doc_id
            out[key] = out.get(key, "") + "\n" + doc.text
    return out


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    for run in report["datasets"]:
        texts = page_texts(Path(run["docs_path"]))
        print("#", run["dataset_name"])
        results = [r for r in run["configs"][0]["results"] if r.get("answer_text")]
        step = max(1, len(results) // n)
        for r in results[::step][:n]:
            print("=" * 100)
            print("Q:", r["question"], "| answerable:", r["answerable"], "| gold:", r["gold"])
            cited = r.get("cited") or []
            for line in parse_claims(r["answer_text"]):
                for sentence, markers in line.claims:
                    print(f"  A: {sentence} {list(markers)}")
                    for m in markers:
                        if m - 1 >= len(cited):
                            continue
                        sid = cited[m - 1]
                        key = sid if sid in texts else sid.split("#")[0]
                        sents = split_sentences(texts.get(key, ""))
                        best = sorted(sents, key=lambda s: -fuzz.token_set_ratio(s, sentence))
                        for s in best[:3]:
                            print(f"      [{m}] {sid}: {s[:220]}")
            for u in r.get("unsupported_claims") or []:
                print(f"  REMOVED: {u}")


if __name__ == "__main__":
    main()
