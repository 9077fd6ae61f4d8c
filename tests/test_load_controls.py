"""The micro-batcher of query embeddings and the per-user and per-channel question limits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.models import Answer, Turn
from bot.ratelimit import QuestionLimiter
from bot.service import THROTTLED_MESSAGES, ChatContext, SupportService
from knowledge.batching import QueryBatcher
from tests.conftest import PUBLIC_QUESTION, make_settings
from tests.test_feedback import make_answer


async def test_concurrent_queries_share_model_calls_and_get_their_own_rows(
    kb_engine: SupportEngine,
) -> None:
    embedder = kb_engine.kb.embedder
    batcher = QueryBatcher(embedder, max_wait_ms=5)
    texts = [f"question number {i} about refunds" for i in range(40)]
    rows = await asyncio.gather(*(batcher.embed([t]) for t in texts))
    assert batcher.texts == 40 and batcher.batches < 10  # shared, not one call each
    alone = embedder.embed(texts)
    for i, row in enumerate(rows):
        assert row.shape == (1, embedder.dim)
        np.testing.assert_allclose(row[0], alone[i], atol=1e-4)  # each caller gets its own


async def test_a_model_error_reaches_every_caller_of_its_batch() -> None:
    class Broken:
        dim = 4

        def embed(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("model gone")

    batcher = QueryBatcher(Broken(), max_wait_ms=5)  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(batcher.embed(["q"]) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_the_engine_answers_the_same_with_batched_embeddings(
    kb_engine: SupportEngine,
) -> None:
    alone = await kb_engine.answer(PUBLIC_QUESTION)
    together = await asyncio.gather(*(kb_engine.answer(PUBLIC_QUESTION) for _ in range(8)))
    assert {a.text for a in together} == {alone.text}
    cited = {tuple((c.number, c.chunk_id) for c in a.citations) for a in together}
    assert cited == {tuple((c.number, c.chunk_id) for c in alone.citations)}


class CountingEngine:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        audience: str = "public",
        on_text: object = None,
    ) -> Answer:
        self.asked.append(question)
        return make_answer(question)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield store
    store.close()


async def test_a_flooding_user_is_throttled_and_others_are_not(store: FeedbackStore) -> None:
    engine = CountingEngine()
    service = SupportService(
        engine, store, human_contact="#help", limiter=QuestionLimiter("3/minute", "5/minute")
    )
    flooder = ChatContext("slack", "public", channel_id="C1", user_id="U-flood")
    replies = [await service.ask(f"question {i}", flooder) for i in range(6)]
    assert [r.answer is not None for r in replies] == [True] * 3 + [False] * 3
    assert replies[3].error is not None and replies[3].error.startswith("You're asking faster")
    assert "wait" in replies[3].error and len(engine.asked) == 3  # refused before the engine
    # Another person in another channel is answered; in the flooder's channel the channel
    # limit (5) leaves two more.
    other = ChatContext("slack", "public", channel_id="C2", user_id="U-other")
    assert (await service.ask("a question", other)).answer is not None
    same_channel = [
        await service.ask("q", ChatContext("slack", "public", channel_id="C1", user_id=f"U{i}"))
        for i in range(3)
    ]
    assert [r.answer is not None for r in same_channel] == [True, True, False]
    expected = THROTTLED_MESSAGES["channel"].split("{")[0]
    assert same_channel[2].error is not None and same_channel[2].error.startswith(expected)


def test_rate_limit_settings_are_checked(tmp_path: Path, store: FeedbackStore) -> None:
    assert make_settings(tmp_path, rate_limit_user="").rate_limit_user is None
    with pytest.raises(ValueError, match="not a rate limit"):
        make_settings(tmp_path, rate_limit_user="lots")
    settings = make_settings(tmp_path, rate_limit_user="2/minute", rate_limit_channel="")
    service = SupportService.from_settings(CountingEngine(), store, settings)
    assert service.limiter is not None and service.limiter.per_channel is None
    assert str(service.limiter.per_user) == str(QuestionLimiter("2/minute", None).per_user)


async def test_the_load_bench_measures_and_the_flood_is_throttled(
    kb_engine: SupportEngine, store: FeedbackStore
) -> None:
    from bot.load_bench import flood, measure, open_loop

    run = await measure(SupportService(kb_engine, store), [PUBLIC_QUESTION], concurrency=3, total=6)
    assert (run.questions, run.errors, run.concurrency) == (6, 0, 3)
    assert run.throughput_qps > 0 and run.p50_ms <= run.p95_ms <= run.p99_ms
    opened = await open_loop(
        SupportService(kb_engine, store),
        [PUBLIC_QUESTION],
        rate_qps=200.0,
        total=12,
        single_p50_ms=run.p50_ms,
    )
    assert (opened.questions, opened.errors) == (12, 0)
    # At 200 arrivals a second, more arrive than one answer takes: they overlap.
    assert opened.max_in_flight > 1 and opened.p50_ms <= opened.p95_ms <= opened.p99_ms
    assert opened.p95_over_single_p50 == round(opened.p95_ms / run.p50_ms, 2)
    with pytest.raises(ValueError, match="rate_qps"):
        await open_loop(
            SupportService(kb_engine, store), [], rate_qps=0, total=1, single_p50_ms=1.0
        )
    limited = SupportService(kb_engine, store, limiter=QuestionLimiter("2/minute", None))
    flooded = await flood(limited, [PUBLIC_QUESTION], tasks=2, per_person=2)
    assert flooded.flood_throttled > 0 and flooded.flood_asked > flooded.flood_throttled
    assert flooded.others_questions == 10 and flooded.others_throttled == 0
