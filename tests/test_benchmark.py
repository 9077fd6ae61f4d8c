"""``supportbot bench`` on the tiny knowledge base: every figure is measured and consistent."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console

from bot.benchmark import run_benchmark
from tests.conftest import KB, PUBLIC_QUESTION, make_settings


def test_bench_measures_ingestion_against_the_embedding_floor_and_answer_latency(
    tmp_path: Path,
) -> None:
    questions = tmp_path / "qa.jsonl"
    questions.write_text(
        "\n".join(json.dumps({"question": q}) for q in (PUBLIC_QUESTION, "Who do I ask?"))
    )
    result = run_benchmark(
        KB / "public", questions, make_settings(tmp_path / "data"), console=Console(quiet=True)
    )
    assert result.documents >= 1 and result.chunks >= 1
    assert result.sentences >= result.chunks  # every chunk has at least one sentence
    assert result.embed_floor_chunks_seconds > 0 and result.embed_floor_sentences_seconds > 0
    parts = result.embed_floor_chunks_seconds + result.embed_floor_sentences_seconds
    assert abs(result.embed_floor_seconds - parts) <= 0.02  # rounded to 10 ms each
    assert result.ingest_seconds > 0
    # Figures are rounded to 10 ms, so compare the ratio loosely.
    assert math.isclose(
        result.ingest_ratio, result.ingest_seconds / result.embed_floor_seconds, rel_tol=0.25
    )
    assert result.questions == 2
    assert 0 < result.answer_p50_ms <= result.answer_p95_ms
