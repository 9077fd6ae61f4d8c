"""The OpenAI-compatible generator through the engine, against a local chat-completions server."""

from __future__ import annotations

import time

import pytest

from bot.engine import FALLBACK_NOTICE, SupportEngine
from bot.generators.openai_compat import (
    OpenAICompatibleGenerator,
    cut_repetition,
    drop_unfinished,
)
from bot.prompt import build_messages, load_few_shot
from bot.settings import BUNDLED_FEW_SHOT
from tests.conftest import PUBLIC_QUESTION


def use_llm(
    engine: SupportEngine,
    url: str,
    *,
    timeout_s: float = 5.0,
    retries: int = 1,
    stream: bool = True,
) -> None:
    """Point the shared engine's LLM generator at the fake server (restored by the caller)."""
    engine.llm = OpenAICompatibleGenerator(
        base_url=url,
        model="fake-model",
        api_key="sk-test",
        timeout_s=timeout_s,
        max_retries=retries,
        examples=[],
        stream=stream,
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


async def test_an_endpoint_that_cannot_stream_gets_plain_completions(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: "Unused items can be returned within 30 days [1]."
    use_llm(llm_engine, url, stream=False)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert "stream" not in server.requests[0]
    assert answer.text == "Unused items can be returned within 30 days [1]."
    assert answer.tokens_out == 9 and answer.model == "fake-model"  # words, as the fake counts


async def test_llm_answer_without_citation_is_flagged(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: "You have a month."
    use_llm(llm_engine, url)
    llm_engine.grounder = None  # with grounding off, an uncited answer stays uncited
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


async def test_requests_are_bounded_and_a_runaway_reply_is_cut(fake, llm_engine) -> None:
    server, url = fake
    loop = "Unused items can be returned [1]. " + "Refunds take 5 business days [1]. " * 40
    server.reply = lambda body: loop
    use_llm(llm_engine, url)
    llm_engine.llm.max_tokens = 256
    llm_engine.llm.stop = ["\n\nQuestion:"]
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    body = server.requests[0]
    assert body["max_tokens"] == 256 and body["stop"] == ["\n\nQuestion:"]
    assert answer.text.count("Refunds take 5 business days") == 2  # cut at its third round
    assert answer.text.startswith("Unused items can be returned [1].")


async def test_a_timeout_is_not_retried_behind_a_slow_server(fake, llm_engine) -> None:
    server, url = fake
    server.delay_s = 2.0
    use_llm(llm_engine, url, timeout_s=0.3, retries=3)
    t0 = time.perf_counter()
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    elapsed = time.perf_counter() - t0
    assert len(server.requests) == 1  # no second request queued behind the slow one
    assert answer.degraded and answer.notice == FALLBACK_NOTICE and "30 days" in answer.text
    assert elapsed < 1.5


@pytest.mark.parametrize("stream", [True, False])
async def test_a_reply_stopped_by_max_tokens_ends_at_its_last_full_sentence(
    fake, llm_engine, stream: bool
) -> None:
    server, url = fake
    server.reply = lambda body: (
        "Customers can return any unused item within 30 days of delivery for a full refund [1]. "
        "Refunds are issued to the original payment method within 5 business days after the "
        "returned item arrives at our warehouse [1]."
    )
    use_llm(llm_engine, url, stream=stream)
    llm_engine.llm.max_tokens = 20  # the fake stops there, mid-sentence, as a real server does
    generation = await llm_engine.llm.generate(PUBLIC_QUESTION, [])
    assert generation.text == (
        "Customers can return any unused item within 30 days of delivery for a full refund [1]."
    )
    assert generation.cut
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert "warehouse" not in answer.text and not answer.text.rstrip().endswith("the")
    assert answer.text.startswith("Customers can return any unused item within 30 days")


async def test_warm_up_sends_the_prompts_constant_part_once_and_never_raises(fake) -> None:
    server, url = fake
    examples = load_few_shot(BUNDLED_FEW_SHOT)
    llm = OpenAICompatibleGenerator(base_url=url, model="fake-model", examples=examples)
    try:
        assert await llm.warm_up()
        body = server.requests[-1]
        assert body["max_tokens"] == 1 and not body.get("stream")
        asked = build_messages("q", [("s", "t")], examples=examples)
        # The same instructions and examples a question's request starts with (the prefix a
        # llama.cpp or vLLM server caches).
        assert body["messages"][: len(asked) - 1] == asked[:-1]
        server.fail_status = 503
        assert not await llm.warm_up()  # logged, not raised: the first question pays instead
    finally:
        await llm.aclose()


async def test_a_serving_bot_warms_the_llm_up_when_it_starts(fake, llm_engine, tmp_path) -> None:
    """``running_ops`` (what ``serve slack|discord`` runs) sends the warm-up request in the
    background as the bot starts, before any question."""
    import asyncio

    from bot.feedback import FeedbackStore
    from bot.ops import running_ops
    from tests.conftest import make_settings

    server, url = fake
    use_llm(llm_engine, url)
    settings = make_settings(tmp_path / "data")
    store = FeedbackStore(settings.resolved_database_url)
    try:
        async with running_ops(settings, llm_engine, store):
            for _ in range(200):
                if server.requests:
                    break
                await asyncio.sleep(0.02)
    finally:
        store.close()
    (body,) = server.requests
    assert body["max_tokens"] == 1 and body["messages"][-1]["content"].endswith("Hello")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("A is b [1]. C is", "A is b [1]."),
        ("A is b. [1] C", "A is b. [1]"),
        ("- one [1]\n- two thi", "- one [1]"),
        ("Costs 3.5 dollars. More", "Costs 3.5 dollars."),
        ("Done [2].", "Done [2]."),
        ("only unfinished", "only unfinished…"),
    ],
)
def test_drop_unfinished(text: str, kept: str) -> None:
    assert drop_unfinished(text) == kept


def test_cut_repetition() -> None:
    assert cut_repetition("A. B. A. B. A. B.") == ("A. B. A. B.", True)
    assert cut_repetition("One.\nTwo.\nOne.") == ("One.\nTwo.\nOne.", False)
    assert cut_repetition("- x\n- x\n- x\n- y") == ("- x\n- x", True)


@pytest.mark.parametrize(
    ("broken", "stream"),
    [
        ("json", False),  # 200 with a body that is not JSON
        ("empty", False),  # no choices
        ("null", False),  # a choice with null content
        ("empty", True),  # a stream with no content at all
        ("garbage", True),  # a streamed chunk that is not JSON
        ("stall", True),  # the stream starts, then stops sending; the connection stays open
    ],
)
async def test_a_broken_endpoint_falls_back_in_bounded_time(
    fake, llm_engine, broken: str, stream: bool
) -> None:
    server, url = fake
    server.broken = broken
    server.reply = lambda body: "Unused items can be returned within 30 days [1]."
    use_llm(llm_engine, url, timeout_s=1.0, retries=0, stream=stream)
    t0 = time.perf_counter()
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    elapsed = time.perf_counter() - t0
    assert answer.degraded and answer.notice == FALLBACK_NOTICE, answer
    assert answer.generator == "extractive" and "30 days" in answer.text
    assert elapsed < 2.5, f"{elapsed:.2f} s"
