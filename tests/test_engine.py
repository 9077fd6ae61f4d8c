"""The async core over a real index: audience filter, follow-ups, abstention, concurrency,
incremental ingestion and bad input."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot.engine import SupportEngine
from bot.models import Turn
from tests.conftest import INTERNAL_QUESTION, KB, PUBLIC_QUESTION, make_settings


async def test_answer_has_text_citations_and_timings(kb_engine: SupportEngine) -> None:
    answer = await kb_engine.answer(PUBLIC_QUESTION)
    assert not answer.abstained
    assert "30 days" in answer.text and "[1]" in answer.text
    c = answer.citations[0]
    assert (c.number, c.doc_id, c.title) == (
        1,
        "returns-and-shipping.md",
        "Returns and Shipping Policy",
    )
    assert c.section == "Returns and Shipping Policy > Returns" and "30 days" in c.snippet
    assert c.uri.startswith("file://") and c.audience == "public"
    assert 0 < answer.confidence <= 1 and answer.timings.total_ms > 0
    assert answer.retrieved and answer.generator == "extractive"


async def test_public_audience_never_retrieves_internal_chunks(kb_engine: SupportEngine) -> None:
    public = await kb_engine.answer(INTERNAL_QUESTION, audience="public")
    assert all(c.audience == "public" for c in public.citations)
    assert all(r.doc_id != "compensation-and-escalation.md" for r in public.retrieved)
    assert "95,000" not in public.text
    internal = await kb_engine.answer(INTERNAL_QUESTION, audience="internal")
    assert internal.citations[0].doc_id == "compensation-and-escalation.md"
    assert "95,000" in internal.text


async def test_follow_up_uses_history_for_retrieval(kb_engine: SupportEngine) -> None:
    follow_up = "And how much does the express option cost?"
    history = [Turn("user", "How long does shipping take?"), Turn("assistant", "3 to 5 days [1].")]
    answer = await kb_engine.answer(follow_up, history=history)
    assert not answer.abstained
    assert "15 dollars" in answer.text


async def test_unrelated_question_abstains_and_points_to_a_human(kb_engine: SupportEngine) -> None:
    answer = await kb_engine.answer("Who won the football world cup in 1998?")
    assert answer.abstained and answer.citations == ()
    assert "couldn't find" in answer.text and kb_engine.settings.human_contact in answer.text


async def test_concurrent_answers(kb_engine: SupportEngine) -> None:
    questions = [
        PUBLIC_QUESTION,
        "How long does standard shipping take?",
        "What does the warranty cover?",
    ] * 3
    answers = await asyncio.gather(*[kb_engine.answer(q) for q in questions])
    assert [a.question for a in answers] == questions
    assert all(not a.abstained for a in answers)


async def test_bad_arguments_raise_value_error(kb_engine: SupportEngine) -> None:
    with pytest.raises(ValueError):
        await kb_engine.answer("   ")
    with pytest.raises(ValueError):
        await kb_engine.answer("q", audience="everyone")


async def test_ingestion_is_incremental_and_skips_bad_files(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(KB / "public", docs)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (docs / "empty.txt").write_text("")
    engine = SupportEngine.from_settings(make_settings(tmp_path / "data"))
    try:
        first = await engine.ingest([docs])
        assert first.documents == 1 and first.chunks > 0
        assert sorted(s.path.name for s in first.skipped) == ["broken.pdf", "empty.txt"]
        count = engine.kb.index.count()
        assert count == first.chunks

        again = await engine.ingest([docs])
        assert (again.documents, again.unchanged) == (0, 1)
        assert engine.kb.index.count() == count  # no duplicates

        page = docs / "returns-and-shipping.md"
        page.write_text(page.read_text().split("## Shipping")[0])  # the document shrinks
        changed = await engine.ingest([docs])
        assert changed.documents == 1
        assert 0 < engine.kb.index.count() < count  # stale chunks deleted
        answer = await engine.answer("How long does standard shipping take?")
        assert all("Standard shipping" not in c.snippet for c in answer.citations)
    finally:
        engine.close()


def test_second_process_on_the_same_folder_gets_a_clear_error(kb_engine: SupportEngine) -> None:
    from knowledge.index import IndexLockedError

    with pytest.raises(IndexLockedError, match="QDRANT_URL"):
        SupportEngine.from_settings(kb_engine.settings)
