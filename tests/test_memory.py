"""The answer memory (bot.memory): verified answers served again to the same question, never
after their sources changed, never across audiences; verification by a lead or by votes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.ops import MemoryRefresher, SyncService
from knowledge.sources.config import SourceConfig
from tests.conftest import INTERNAL_QUESTION, KB, PUBLIC_QUESTION, TESTS, make_settings


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[SupportEngine, FeedbackStore, MemoryRefresher]]:
    """An engine of its own over tests/data/kb (public and internal), a store, a refresher."""
    engine = SupportEngine.from_settings(make_settings(tmp_path / "data"))
    engine.kb.ingest([KB / "public"], audience="public", progress=False)
    engine.kb.ingest([KB / "internal"], audience="internal", progress=False)
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}")
    yield engine, store, MemoryRefresher(engine, store, interval_s=60, min_up_votes=2, links=True)
    store.close()
    engine.close()


async def asked(
    engine: SupportEngine, store: FeedbackStore, question: str, audience: str
) -> tuple[str, object]:
    answer = await engine.answer(question, audience=audience)
    return await store.record_answer(answer), answer


async def test_a_verified_answer_is_served_for_a_repeat_question(
    fresh: tuple[SupportEngine, FeedbackStore, MemoryRefresher],
) -> None:
    engine, store, refresher = fresh
    answer_id, first = await asked(engine, store, PUBLIC_QUESTION, "public")
    assert first.generator != "verified" and first.citations  # type: ignore[attr-defined]
    await store.curate(answer_id, "verified", reviewer="lead")
    report = await refresher.refresh()
    assert report is not None and (report.entries, report.added, report.stale) == (1, 1, [])
    again = await engine.answer(PUBLIC_QUESTION, audience="public")
    assert again.generator == "verified" and again.notice and "Verified" in again.notice
    assert again.text == first.text  # type: ignore[attr-defined]
    assert [c.chunk_id for c in again.citations] == [
        c.chunk_id
        for c in first.citations  # type: ignore[attr-defined]
    ]
    other = await engine.answer("How do I escalate an urgent ticket?", audience="internal")
    assert other.generator != "verified"  # a different question gets its own answer
    # In a thread, the question depends on its context: answered afresh.
    from bot.models import Turn

    threaded = await engine.answer(PUBLIC_QUESTION, history=[Turn("user", "Hello")])
    assert threaded.generator != "verified"
    # Withdrawn (a lead marks it wrong): gone from the memory.
    await store.curate(answer_id, "wrong", reviewer="lead")
    report = await refresher.refresh()
    assert report is not None and report.removed == 1
    assert (await engine.answer(PUBLIC_QUESTION, audience="public")).generator != "verified"


async def test_an_internal_answer_is_never_served_to_a_public_channel(
    fresh: tuple[SupportEngine, FeedbackStore, MemoryRefresher],
) -> None:
    engine, store, refresher = fresh
    answer_id, first = await asked(engine, store, INTERNAL_QUESTION, "internal")
    assert first.citations  # type: ignore[attr-defined]
    await store.curate(answer_id, "verified", reviewer="lead")
    await refresher.refresh()
    assert (await engine.answer(INTERNAL_QUESTION, audience="internal")).generator == "verified"
    public = await engine.answer(INTERNAL_QUESTION, audience="public")
    assert public.generator != "verified"
    assert all(c.audience == "public" for c in public.citations)


async def test_a_correction_is_served_with_the_citations_the_lead_chose(
    fresh: tuple[SupportEngine, FeedbackStore, MemoryRefresher],
) -> None:
    engine, store, refresher = fresh
    answer_id, first = await asked(engine, store, PUBLIC_QUESTION, "public")
    record = await store.get_answer(answer_id)
    assert record is not None
    chosen = record.retrieved[-1]  # the lead cites a different retrieved chunk
    await store.curate(
        answer_id,
        "corrected",
        reviewer="lead",
        text="Returns are accepted within 30 days of delivery.",
        citations=[chosen],
    )
    await refresher.refresh()
    served = await engine.answer(PUBLIC_QUESTION, audience="public")
    assert served.generator == "verified"
    assert served.text == "Returns are accepted within 30 days of delivery. [1]"
    assert [c.chunk_id for c in served.citations] == [chosen["chunk_id"]]


async def test_votes_verify_only_with_enough_distinct_people_and_no_thumbs_down(
    fresh: tuple[SupportEngine, FeedbackStore, MemoryRefresher],
) -> None:
    engine, store, refresher = fresh
    answer_id, _ = await asked(engine, store, PUBLIC_QUESTION, "public")
    await store.vote(answer_id, "U1", 1, source="button")
    await store.vote(answer_id, "U1", 1, source="reaction")  # the same person twice: one vote
    assert await store.verified_answers(min_up_votes=2) == []
    await store.vote(answer_id, "U2", 1, source="button")
    (v,) = await store.verified_answers(min_up_votes=2)
    assert v.by == "votes" and v.answer_id == answer_id
    assert await store.verified_answers(min_up_votes=0) == []  # off: only leads verify
    await store.vote(answer_id, "U3", -1, source="button")
    assert await store.verified_answers(min_up_votes=2) == []  # anyone's 👎 withholds it
    await store.withdraw_vote(answer_id, "U3")
    await store.curate(answer_id, "dismissed", reviewer="lead")
    assert await store.verified_answers(min_up_votes=2) == []  # the lead outweighs votes


async def test_a_verified_answer_goes_stale_when_its_source_changes(tmp_path: Path) -> None:
    docs = tmp_path / "office"
    shutil.copytree(TESTS / "data" / "office", docs)
    engine = SupportEngine.from_settings(make_settings(tmp_path / "data"))
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}")
    sync = SyncService(
        engine, store, [SourceConfig(id="office", kind="folder", location=str(docs))]
    )
    refresher = MemoryRefresher(engine, store, interval_s=60, min_up_votes=0)
    question = "How many days of annual leave do full-time employees get?"
    try:
        await sync.run()
        answer_id, first = await asked(engine, store, question, "public")
        assert any("leave.md" in c.doc_id for c in first.citations)  # type: ignore[attr-defined]
        await store.curate(answer_id, "verified", reviewer="lead")
        await refresher.refresh()
        assert (await engine.answer(question, audience="public")).generator == "verified"
        leave = docs / "leave.md"
        leave.write_text(leave.read_text().replace("25 days", "28 days"))
        await sync.run()
        after = await engine.answer(question, audience="public")
        assert after.generator != "verified" and "28" in after.text
        report = await refresher.refresh()
        assert report is not None and report.stale == [answer_id]
        status = await store.memory_status()
        assert status[answer_id][0] is True
    finally:
        await asyncio.to_thread(engine.close)
        store.close()


async def test_verified_answers_become_the_llm_prompts_few_shot_examples(
    tmp_path: Path, fake: tuple[object, str]
) -> None:
    """With ``memory_few_shot``, the verified question/answer nearest a new question is sent to
    the LLM (a local chat-completions server) as a few-shot exchange, its cited chunk as the
    example's source, and the curated examples fill up to their number."""
    from bot.prompt import load_few_shot

    server, url = fake
    settings = make_settings(
        tmp_path / "data", generator="openai", openai_base_url=url, memory_few_shot=True
    )
    engine = SupportEngine.from_settings(settings)
    engine.kb.ingest([KB / "public"], audience="public", progress=False)
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}")
    try:
        answer_id, first = await asked(engine, store, PUBLIC_QUESTION, "public")
        await store.curate(
            answer_id,
            "corrected",
            reviewer="lead",
            text="Thirty days from delivery [1].",
            citations=[{"chunk_id": first.citations[0].chunk_id}],  # type: ignore[attr-defined]
        )
        await MemoryRefresher(engine, store, interval_s=60, min_up_votes=0).refresh()
        await engine.answer(
            "Can I send back an item I bought, and for how long?", audience="public"
        )
        messages = server.requests[-1]["messages"]  # type: ignore[attr-defined]
        users = [m["content"] for m in messages if m["role"] == "user"]
        assistants = [m["content"] for m in messages if m["role"] == "assistant"]
        curated = load_few_shot(settings.few_shot_path)
        assert len(assistants) == len(curated)  # one dynamic example, the curated fill up
        assert PUBLIC_QUESTION in users[0] and assistants[0] == "Thirty days from delivery [1]."
        assert first.citations[0].snippet[:40] in users[0]  # type: ignore[attr-defined]
        assert assistants[1:] == [ex.answer for ex in curated[: len(curated) - 1]]
        engine.settings = engine.settings.model_copy(update={"memory_few_shot": False})
        await engine.answer(
            "Can I send back an item I bought, and for how long?", audience="public"
        )
        plain = server.requests[-1]["messages"]  # type: ignore[attr-defined]
        assert not any(PUBLIC_QUESTION in m["content"] for m in plain)
    finally:
        store.close()
        await engine.aclose()


async def test_feedback_links_rerank_similar_questions_only_and_are_bounded(
    fresh: tuple[SupportEngine, FeedbackStore, MemoryRefresher],
) -> None:
    """A lead's correction citing a lower-ranked chunk lifts it for a similar question; an
    unrelated question's ranking does not move; one user's 👎 on many answers is clipped."""
    engine, store, refresher = fresh
    assert engine.links is not None
    engine.links.strength = 1.0
    question = "How many days do I have to return something for a refund?"
    similar = "How many days do I have to return an item to get a refund?"
    unrelated = "What is the salary band for a senior support engineer?"

    async def ranking(q: str) -> list[str]:
        result, _ = await asyncio.to_thread(engine._retrieve, q, "internal", None)
        return [h.chunk.chunk_id for h in result.hits]

    before, before_unrelated = await ranking(similar), await ranking(unrelated)
    answer_id, _ = await asked(engine, store, question, "internal")
    target = before[3]  # the lead says the 4th hit is the one that answers it
    await store.curate(
        answer_id, "corrected", reviewer="lead", text="See [1].", citations=[{"chunk_id": target}]
    )
    await refresher.refresh()
    boosts = await asyncio.to_thread(engine.links.boosts, similar, "internal")
    assert boosts[target] > 0
    after = await ranking(similar)
    assert after.index(target) < before.index(target)
    assert await ranking(unrelated) == before_unrelated  # below min_similarity: untouched

    # One person 👎 on twenty answers to the question: the boost is clipped at -1.
    for _ in range(20):
        spam_id, spammed = await asked(engine, store, question, "internal")
        await store.vote(spam_id, "U_SPAM", -1, source="button")
    await refresher.refresh()
    spam = await asyncio.to_thread(engine.links.boosts, similar, "internal")
    cited = spammed.citations[0].chunk_id  # type: ignore[attr-defined]
    assert -1.0 <= spam.get(cited, 0.0) < 0
    assert all(-1.0 <= v <= 1.0 for v in spam.values())
    # Votes that change after a link was stored change its weight at the next refresh.
    for user in ("U1", "U2", "U3", "U4"):
        await store.vote(spam_id, user, 1, source="button")
    (changed,) = [a for a in await store.feedback_links() if a.answer_id == spam_id]
    assert set(changed.weights.values()) == {2.0}  # min(4, 3) 👍 - 1 👎
    await refresher.refresh()
    stored = {
        (p.payload or {})["answer_id"]: (p.payload or {})["weights"]
        for p in engine.links.client.scroll(engine.links.collection, limit=100)[0]
    }
    assert stored[spam_id] == changed.weights and len(stored) == 21
