"""``supportbot bench``: ingestion overhead and ``answer()`` latency, measured.

- Ingestion: a fresh temporary index; total seconds to ingest the documents against the seconds
  the embedding model alone takes to encode the same texts ingestion embeds, in the same
  batches: the chunk texts and, with sentence vectors on, each distinct sentence once (the
  floor: no reading, chunking, sparse encoding or writing). The ratio is what ingestion adds on
  top of the model. The two parts of the floor are reported separately.
- Latency: ``SupportEngine.answer`` over the questions, one at a time, with the model loaded
  and one warm-up call; p50 and p95 in milliseconds.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track

from bot.engine import SupportEngine
from bot.evaluation.dataset import load_questions
from bot.settings import Settings
from knowledge.sync import EMBED_BATCH, distinct_sentences


@dataclass(frozen=True)
class BenchResult:
    """Measured figures (seconds and milliseconds of wall clock)."""

    documents: int
    chunks: int
    ingest_seconds: float
    sentences: int
    embed_floor_seconds: float
    embed_floor_chunks_seconds: float
    embed_floor_sentences_seconds: float
    ingest_ratio: float
    questions: int
    answer_p50_ms: float
    answer_p95_ms: float
    generator: str

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain dict for JSON output."""
        return asdict(self)


def run_benchmark(
    docs: Path, questions_file: Path, settings: Settings, *, console: Console | None = None
) -> BenchResult:
    """Measure ingestion of ``docs`` and answer latency on ``questions_file``."""
    console = console or Console()
    questions = [q.question for q in load_questions(questions_file)]
    with tempfile.TemporaryDirectory(prefix="supportbot-bench-") as tmp:
        bench_settings = settings.model_copy(
            update={"data_dir": Path(tmp), "qdrant_url": None, "collection": "bench"}
        )
        engine = SupportEngine.from_settings(bench_settings)  # loads the model: not timed
        try:
            engine.kb.embedder.embed(["warm-up"])
            report = engine.kb.ingest([docs], console=console)
            chunks = engine.kb.index.all_chunks()
            sentences: list[str] = []
            if bench_settings.sentence_vectors:
                sentences = distinct_sentences(c.sentences for c in chunks)
            floor_chunks = _embed_seconds(engine, [c.embedding_text for c in chunks])
            floor_sentences = _embed_seconds(engine, sentences)
            floor = floor_chunks + floor_sentences

            async def latencies() -> list[float]:
                await engine.answer(questions[0])
                out = []
                for q in track(questions, description="answer() latency", console=console):
                    t = time.perf_counter()
                    await engine.answer(q)
                    out.append((time.perf_counter() - t) * 1000)
                return out

            ms = asyncio.run(latencies())
        finally:
            engine.close()
    return BenchResult(
        documents=report.documents,
        chunks=report.chunks,
        sentences=len(sentences),
        ingest_seconds=round(report.seconds, 2),
        embed_floor_seconds=round(floor, 2),
        embed_floor_chunks_seconds=round(floor_chunks, 2),
        embed_floor_sentences_seconds=round(floor_sentences, 2),
        ingest_ratio=round(report.seconds / floor, 3) if floor else float("nan"),
        questions=len(questions),
        answer_p50_ms=round(float(np.percentile(ms, 50)), 1),
        answer_p95_ms=round(float(np.percentile(ms, 95)), 1),
        generator=settings.generator,
    )


def _embed_seconds(engine: SupportEngine, texts: list[str]) -> float:
    """Seconds the embedding model alone takes on ``texts``, in ingestion's batch size."""
    t0 = time.perf_counter()
    for start in range(0, len(texts), EMBED_BATCH):
        engine.kb.embedder.embed(texts[start : start + EMBED_BATCH])
    return time.perf_counter() - t0
