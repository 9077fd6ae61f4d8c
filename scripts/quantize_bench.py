"""Embedding model compression: fp32 against int8 (torch dynamic quantisation), same run.

Usage: ``.venv/bin/python scripts/quantize_bench.py [--trials 3] [--out reports]``

1. The sample knowledge base (``samples/contoso``) is ingested once (fp32) to get exactly the
   texts an ingest embeds: each chunk's embedding text and each distinct sentence.
2. For each variant (``none`` = fp32, ``int8``), in alternating order over ``--trials``
   rounds: the seconds to embed all those texts in the ingest's batches, and the p50/p95 of
   embedding one question (the Contoso dev questions, one at a time, as ``answer()`` does).
3. The cosine between each text's fp32 and int8 vector (how far quantisation moves them).

Quality on the dev sets is measured with the eval, once per variant::

    SUPPORTBOT_EMBEDDING_QUANTIZE=int8 .venv/bin/supportbot eval

Decision rule (issue: scale): int8 becomes the default when the encode time drops by at least
a third and hit@5 falls by at most 0.005 on each dev set. Writes ``OUT/quantize_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.embedding import Embedder  # noqa: E402
from knowledge.settings import DEFAULT_EMBEDDING_MODEL, KnowledgeSettings  # noqa: E402
from knowledge.sync import EMBED_BATCH, distinct_sentences  # noqa: E402

SAMPLE = REPO / "samples" / "contoso"
QUESTIONS = REPO.parent / "shared" / "data" / "contoso_hr_benefits" / "qa.jsonl"
console = Console()


def sample_texts() -> list[str]:
    """The texts an ingest of the sample knowledge base embeds (chunks, then sentences)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = KnowledgeSettings(data_dir=Path(tmp))  # type: ignore[call-arg]
        kb = KnowledgeBase.open(settings)
        try:
            kb.ingest([SAMPLE], progress=False)
            chunks = kb.index.all_chunks()
        finally:
            kb.close()
    return [c.embedding_text for c in chunks] + distinct_sentences(c.sentences for c in chunks)


def encode_seconds(embedder: Embedder, texts: list[str]) -> float:
    started = time.perf_counter()
    for begin in range(0, len(texts), EMBED_BATCH):
        embedder.embed(texts[begin : begin + EMBED_BATCH])
    return time.perf_counter() - started


def query_ms(embedder: Embedder, questions: list[str]) -> list[float]:
    times = []
    for q in questions:
        started = time.perf_counter()
        embedder.embed_query(q)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    args = parser.parse_args()

    console.print("Ingesting the sample knowledge base once to collect its texts…")
    texts = sample_texts()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()]
    console.print(f"{len(texts)} texts to embed, {len(questions)} questions")
    variants: dict[str, Embedder] = {
        q: Embedder(DEFAULT_EMBEDDING_MODEL, quantize=q)  # type: ignore[arg-type]
        for q in ("none", "int8")
    }
    for e in variants.values():  # warm-up: first passes allocate
        e.embed(texts[:EMBED_BATCH])
        query_ms(e, questions[:10])
    encode: dict[str, list[float]] = {q: [] for q in variants}
    queries: dict[str, list[float]] = {q: [] for q in variants}
    for trial in range(args.trials):
        order = list(variants) if trial % 2 == 0 else list(reversed(variants))
        for q in order:
            encode[q].append(encode_seconds(variants[q], texts))
            queries[q].extend(query_ms(variants[q], questions))
            console.print(f"trial {trial + 1} {q}: encode {encode[q][-1]:.1f} s")
    fp32 = variants["none"].embed(texts)
    int8 = variants["int8"].embed(texts)
    cosine = np.sum(fp32 * int8, axis=1)

    result: dict[str, Any] = {"texts": len(texts), "questions": len(questions), "variants": {}}
    table = Table(title=f"Embedding {len(texts)} sample-KB texts ({args.trials} trials)")
    for column in ("model", "encode s (median)", "vs fp32", "query p50 ms", "query p95 ms"):
        table.add_column(column, justify="right")
    base = statistics.median(encode["none"])
    for q in variants:
        med = statistics.median(encode[q])
        p50, p95 = np.percentile(queries[q], [50, 95])
        result["variants"][q] = {
            "encode_s": encode[q],
            "encode_s_median": med,
            "query_ms_p50": float(p50),
            "query_ms_p95": float(p95),
        }
        table.add_row(
            "fp32" if q == "none" else q, f"{med:.1f}", f"{med / base:.2f}×", f"{p50:.1f}",
            f"{p95:.1f}",
        )  # fmt: skip
    result["cosine_fp32_int8"] = {
        "mean": float(cosine.mean()),
        "p05": float(np.percentile(cosine, 5)),
        "min": float(cosine.min()),
    }
    console.print(table)
    console.print(
        f"cosine(fp32, int8) per text: mean {cosine.mean():.4f}, 5th percentile "
        f"{np.percentile(cosine, 5):.4f}, min {cosine.min():.4f}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quantize_bench.json").write_text(json.dumps(result, indent=2))
    console.print(f"wrote {args.out / 'quantize_bench.json'}")


if __name__ == "__main__":
    main()
