"""Per-corpus abstention calibration, the cleaner extractive answers and LLM refusals, over a
real index of a small synthetic office knowledge base (tests/data/office)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine import ABSTAIN_TEXT, SupportEngine
from bot.generators.openai_compat import OpenAICompatibleGenerator
from knowledge.calibration import off_topic_questions, thresholds_from_null
from knowledge.index import CALIBRATION_KEY
from tests.conftest import TESTS, make_settings
from tests.fake_openai import FakeOpenAI

OFFICE = TESTS / "data" / "office"
IN_CORPUS = (
    "Where can employees park?",
    "How many days of annual leave do I get?",
    "What should I do if my laptop is stolen?",
    "What discount do employees get in the canteen?",
    "What happens if I lose my access badge?",
)
# Off-topic, and none of them is in the bundled off-topic list the calibration uses.
OFF_TOPIC = (
    "Who discovered the law of gravity?",
    "What is the recipe for pancakes?",
    "How many strings does a cello have?",
    "Which ocean is the deepest?",
)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupportEngine]:
    engine = SupportEngine.from_settings(make_settings(tmp_path_factory.mktemp("office")))
    engine.kb.ingest([OFFICE], audience="public", progress=False)
    yield engine
    engine.close()


def test_thresholds_come_from_the_null_distribution() -> None:
    t, t_unknown, med, hi = thresholds_from_null([0.1, 0.2, 0.2, 0.3, 0.5])
    assert med == 0.2 and hi == pytest.approx(0.46)
    assert t == pytest.approx(hi + 0.25 * (hi - med))
    assert t_unknown == pytest.approx(hi + 1.25 * (hi - med))
    with pytest.raises(ValueError):
        thresholds_from_null([])
    assert len(off_topic_questions()) == 120


def test_calibration_is_stored_with_the_collection(office: SupportEngine) -> None:
    cal = office.kb.calibration
    assert cal is not None and cal.n_null == 120 and cal.n_chunks == office.kb.index.count()
    assert cal.null_median < cal.null_high < cal.threshold < cal.unknown_term_threshold
    stored = office.kb.index.metadata()[CALIBRATION_KEY]
    assert list(stored) == ["internal"]  # every chunk is public: one view, one calibration
    assert stored["internal"]["threshold"] == cal.threshold
    assert stored["internal"]["model"] == cal.model
    assert office.threshold == cal.threshold  # nothing configured: the calibration rules


async def test_in_corpus_questions_are_answered_and_off_topic_ones_refused(
    office: SupportEngine,
) -> None:
    for q in IN_CORPUS:
        a = await office.answer(q)
        assert not a.abstained, (q, a.support, office.threshold)
        assert a.citations
    for q in OFF_TOPIC:
        a = await office.answer(q)
        assert a.abstained, (q, a.support, office.threshold)
        assert a.abstain_reason in ("low_support", "unknown_terms")
        assert a.text == ABSTAIN_TEXT.format(human=office.settings.human_contact)


async def test_a_misspelt_word_is_not_an_unknown_topic(office: SupportEngine) -> None:
    a = await office.answer("Where can employes prak their car?")
    assert a.unknown_terms == ()
    assert not a.abstained and a.citations[0].doc_id == "parking.md"
    dental = await office.answer("Does the company pay for dental implants?")
    assert "dental" in dental.unknown_terms and "implants" in dental.unknown_terms


async def test_the_calibration_follows_the_documents(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("parking.md", "lunch.md"):
        (docs / name).write_text((OFFICE / name).read_text())
    settings = make_settings(tmp_path / "data")
    engine = SupportEngine.from_settings(settings)
    try:
        engine.kb.ingest([docs], audience="public", progress=False)
        first = engine.kb.calibration
        assert first is not None and first.n_chunks == engine.kb.index.count()
        assert engine.kb.unknown_terms("annual leave") == ["annual", "leave"]
        (docs / "leave.md").write_text((OFFICE / "leave.md").read_text())
        engine.kb.ingest([docs], audience="public", progress=False)
        second = engine.kb.calibration
        assert second is not None and second.n_chunks > first.n_chunks
        assert engine.kb.unknown_terms("annual leave") == []
    finally:
        engine.close()
    # Reopened, the collection brings its calibration and vocabulary back without recomputing.
    again = SupportEngine.from_settings(settings)
    try:
        assert again.kb.calibration == second
        assert again.kb.unknown_terms("annual leave") == []
    finally:
        again.close()


async def test_a_second_source_is_quoted_only_when_it_answers(office: SupportEngine) -> None:
    a = await office.answer("Where can employees park?")
    assert "staff car park" in a.text
    assert "discount" not in a.text and "canteen" not in a.text
    assert {c.doc_id for c in a.citations} <= {"parking.md", "security.md"}
    assert "https://" not in a.text  # the "Source: https://…" line is never quoted
    # A Markdown file's H1 is its title: the label does not repeat it.
    assert a.citations[0].label == "Parking policy"


async def test_an_llm_that_says_the_sources_do_not_cover_it_abstains(
    fake: tuple[FakeOpenAI, str], office: SupportEngine
) -> None:
    server, url = fake
    server.reply = lambda body: (
        "The provided sources do not contain information about visitor parking fees. "
        "Please ask reception."
    )
    office.llm = OpenAICompatibleGenerator(base_url=url, model="fake-model", examples=[])
    try:
        a = await office.answer("How much do visitors pay for parking?")
    finally:
        await office.llm.aclose()
        office.llm = None
    assert len(server.requests) == 1  # the model was asked: retrieval found parking sources
    assert a.abstained and a.abstain_reason == "not_covered"
    assert a.text == ABSTAIN_TEXT.format(human=office.settings.human_contact)
    assert a.citations == () and not a.uncited and a.generator == "openai:fake-model"


def test_each_audience_is_calibrated_on_what_it_can_see(kb_engine: SupportEngine) -> None:
    # tests/data/kb holds one public and one internal document: a public channel searches the
    # public chunks only, so its bars come from the null distribution over those.
    kb = kb_engine.kb
    public, everything = kb.calibration_for("public"), kb.calibration_for("internal")
    assert public is not None and everything is not None
    assert (public.audience, everything.audience) == ("public", "internal")
    assert public.n_chunks < everything.n_chunks == kb.index.count()
    assert kb_engine.bars("public") == (public.threshold, public.unknown_term_threshold)
    assert kb_engine.bars("internal") == (everything.threshold, everything.unknown_term_threshold)
