"""The OpenAI-compatible generator through the engine, against a local chat-completions server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.engine import FALLBACK_NOTICE, SupportEngine
from bot.generators.openai_compat import OpenAICompatibleGenerator
from tests.conftest import PUBLIC_QUESTION
from tests.fake_openai import FakeOpenAI, start


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    server = FakeOpenAI()
    runner, url = await start(server)
    yield server, url
    await runner.cleanup()


def use_llm(engine: SupportEngine, url: str, *, timeout_s: float = 5.0, retries: int = 1) -> None:
    """Point the shared engine's LLM generator at the fake server (restored by the caller)."""
    engine.llm = OpenAICompatibleGenerator(
        base_url=url,
        model="fake-model",
        api_key="sk-test",
        timeout_s=timeout_s,
        max_retries=retries,
        examples=[],
    )


@pytest.fixture
def llm_engine(kb_engine: SupportEngine):  # type: ignore[no-untyped-def]
    yield kb_engine
    kb_engine.llm = None


async def test_llm_answer_keeps_valid_citations_and_drops_invalid(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: "Unused items can be returned within 30 days [1][7]. Really [9]."
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert answer.generator == "openai:fake-model"
    assert answer.text == "Unused items can be returned within 30 days [1]. Really."
    assert [c.number for c in answer.citations] == [1]
    assert answer.citations[0].doc_id == "returns-and-shipping.md"
    assert not answer.uncited and not answer.degraded
    # The request is a real chat completion with the system rules, sources and the question.
    body = server.requests[0]
    assert body["model"] == "fake-model"
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert body["messages"][0]["role"] == "system"
    assert "<sources>" in body["messages"][-1]["content"]
    assert PUBLIC_QUESTION in body["messages"][-1]["content"]


async def test_llm_answer_without_citation_is_flagged(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: "You have a month."
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert answer.uncited and answer.citations == ()


async def test_http_500_is_retried_then_succeeds(fake, llm_engine) -> None:
    server, url = fake
    server.fail_status, server.fail_times = 500, 1
    server.reply = lambda body: "Within 30 days of delivery [1]."
    use_llm(llm_engine, url, retries=2)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert len(server.requests) == 2
    assert not answer.degraded and answer.citations


async def test_persistent_500_falls_back_to_extractive_answer(fake, llm_engine) -> None:
    server, url = fake
    server.fail_status = 500
    use_llm(llm_engine, url, retries=1)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert len(server.requests) == 2  # first try + one retry
    assert answer.degraded and answer.notice == FALLBACK_NOTICE
    assert answer.generator == "extractive" and answer.citations
    assert "30 days" in answer.text


async def test_timeout_falls_back_to_extractive_answer(fake, llm_engine) -> None:
    server, url = fake
    server.delay_s = 2.0
    use_llm(llm_engine, url, timeout_s=0.3, retries=0)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert answer.degraded and "30 days" in answer.text
