"""Integration: ingest the real Contoso PDFs and check labelled questions find their gold page.

Needs ``../shared/data/contoso_hr_benefits`` (skipped with a message when absent). Ingesting the
263 pages takes about 40 s on 2 cores; the full measurement is ``supportbot eval``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine import SupportEngine
from bot.evaluation.dataset import load_questions, source_matches
from tests.conftest import make_settings

SAMPLE_KB = Path(__file__).parent.parent / "samples" / "contoso"
SAMPLE = 30  # evenly spaced questions of the 201


@pytest.fixture(scope="module")
def contoso_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupportEngine]:
    engine = SupportEngine.from_settings(make_settings(tmp_path_factory.mktemp("contoso")))
    report = engine.kb.ingest([SAMPLE_KB], audience="internal", progress=False)
    assert (report.documents, report.skipped) == (6, [])
    yield engine
    engine.close()


def test_sample_questions_retrieve_their_gold_page(contoso: Path, contoso_engine) -> None:
    questions = load_questions(contoso / "qa.jsonl")
    sample = questions[:: len(questions) // SAMPLE][:SAMPLE]

    async def ranks() -> list[int | None]:
        out = []
        for q in sample:
            answer = await contoso_engine.answer(q.question, audience="internal")
            ids = list(dict.fromkeys(r.source_id for r in answer.retrieved))
            out.append(
                next((i + 1 for i, s in enumerate(ids) if source_matches(s, q.gold[0])), None)
            )
        return out

    found = asyncio.run(ranks())
    hit5 = sum(1 for r in found if r is not None and r <= 5) / len(found)
    assert hit5 >= 0.75, f"gold page in the top 5 for only {hit5:.0%} of {len(found)} questions"


async def test_answers_cite_pdf_pages_and_abstain_on_unanswerable(
    contoso: Path, contoso_engine
) -> None:
    answer = await contoso_engine.answer(
        "What is balance billing and how does the Northwind Standard plan protect against it?",
        audience="internal",
    )
    assert not answer.abstained and "balance billing" in answer.text.lower()
    assert answer.citations and all(c.page and c.doc_id.endswith(".pdf") for c in answer.citations)
    assert answer.citations[0].uri.endswith(f"#page={answer.citations[0].page}")
    dont_know = load_questions(contoso / "qa_dontknows.jsonl", answerable=False)
    abstained = [
        (await contoso_engine.answer(q.question, audience="internal")).abstained for q in dont_know
    ]
    assert sum(abstained) / len(abstained) >= 0.5
