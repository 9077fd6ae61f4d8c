"""Grounding of LLM answers: the check itself, and each failure seen with a small local model
reproduced by the local chat-completions server with scripted replies, through the engine."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.citations import cited_numbers
from bot.compression import SourceCompressor
from bot.engine import ABSTAIN_TEXT, MOSTLY_UNGROUNDED_NOTICE, UNGROUNDED_NOTICE, SupportEngine
from bot.generators.base import SourceText
from bot.generators.openai_compat import DEFAULT_MAX_TOKENS, OpenAICompatibleGenerator
from bot.grounding import (
    ClaimCheck,
    GroundingChecker,
    GroundingResult,
    named_sources,
    numbers,
    parse_claims,
)
from knowledge.sentences import split_sentences
from tests.conftest import PUBLIC_QUESTION, engine_over

RETURNS = SourceText(
    1,
    "Returns and Shipping Policy, Returns",
    "Customers can return any unused item within 30 days of delivery for a full refund. "
    "Refunds are issued to the original payment method within 5 business days after the "
    "returned item arrives at our warehouse. Items marked as final sale cannot be returned.",
)
SHIPPING = SourceText(
    2,
    "Returns and Shipping Policy, Shipping",
    "Standard shipping takes 3 to 5 business days and is free for orders over 50 dollars. "
    "Express shipping delivers within 1 business day and costs 15 dollars.",
)
WARRANTY = SourceText(
    3,
    "Returns and Shipping Policy, Warranty",
    "Every Acme blender comes with a two-year limited warranty that covers motor failure and "
    "manufacturing defects.",
)
SOURCES = [RETURNS, SHIPPING, WARRANTY]


@pytest.fixture(scope="module")
def checker(kb_engine: SupportEngine) -> GroundingChecker:
    return GroundingChecker(kb_engine.kb.embedder.embed, kb_engine.kb.sparse)


def test_parse_claims_moves_trailing_and_wholesale_markers_to_their_sentence() -> None:
    lines = parse_claims("Returns take 30 days. [1] Refunds take 5 days.\n[1], [2], [3]")
    assert [c for line in lines for c in line.claims] == [
        ("Returns take 30 days.", (1,)),
        ("Refunds take 5 days.", (1, 2, 3)),
    ]
    items = parse_claims("You can:\n- return items [1]\n- ship express [2]")
    assert [line.prefix for line in items] == ["", "- ", "- "]


def test_unsupported_share_counts_the_words_of_factual_claims() -> None:
    def claim(text: str, supported: bool, factual: bool = True) -> ClaimCheck:
        by = (1,) if supported else ()
        action = "not_factual" if not factual else "kept" if supported else "unsupported"
        return ClaimCheck(text, (1,), by, by, factual, 0.9 if supported else 0.0, action)

    result = GroundingResult(
        "",
        (
            claim("Returns take 30 days.", True),  # 4 words
            claim("Partners are not eligible for the plan at all.", False),  # 9 words
            claim("I hope this helps you today!", False, factual=False),  # not counted
        ),
    )
    assert result.unsupported_share == pytest.approx(9 / 13)
    assert GroundingResult("", ()).unsupported_share == 0.0
    assert GroundingResult("", (claim("Returns take 30 days.", True),)).unsupported_share == 0


def test_numbers_are_normalised() -> None:
    assert numbers("It costs 1,000 dollars, or 20 % off, within 30 days.") == {"1000", "20%", "30"}


def test_sentences_without_markers_are_attributed_to_the_source_that_supports_them(
    checker: GroundingChecker,
) -> None:
    result = checker.check(
        "You can return unused items within 30 days of delivery. "
        "Express shipping costs 15 dollars.",
        SOURCES,
    )
    assert result.text == (
        "You can return unused items within 30 days of delivery [1]. "
        "Express shipping costs 15 dollars [2]."
    )
    assert [c.action for c in result.claims] == ["reattributed", "reattributed"]
    assert not result.partially_supported


def test_wholesale_markers_become_per_sentence_attribution(checker: GroundingChecker) -> None:
    result = checker.check(
        "Unused items can be returned within 30 days for a full refund. The blender has a "
        "two-year limited warranty covering motor failure. [1], [2], [3]",
        SOURCES,
    )
    assert result.text == (
        "Unused items can be returned within 30 days for a full refund [1]. The blender has "
        "a two-year limited warranty covering motor failure [3]."
    )


def test_a_marker_to_a_source_that_does_not_support_the_sentence_is_moved(
    checker: GroundingChecker,
) -> None:
    result = checker.check("Standard shipping is free for orders over 50 dollars [3].", SOURCES)
    assert result.text == "Standard shipping is free for orders over 50 dollars [2]."
    assert result.claims[0].cited == (3,) and result.claims[0].action == "reattributed"


def test_a_sentence_two_sources_support_cites_both_the_models_marker_first(
    checker: GroundingChecker,
) -> None:
    # The same policy stated in two documents (an FAQ repeating the returns page).
    faq = SourceText(
        4,
        "Help centre FAQ",
        "Can I send something back? Customers can return any unused item within 30 days of "
        "delivery for a full refund.",
    )
    sources = [*SOURCES, faq]
    claim = "Customers can return any unused item within 30 days of delivery for a full refund"
    marked = checker.check(f"{claim} [4].", sources)
    assert marked.text == f"{claim} [4][1]."
    assert marked.claims[0].action == "kept" and marked.claims[0].supported_by[:2] in (
        (1, 4),
        (4, 1),
    )
    unmarked = checker.check(f"{claim}.", sources)
    assert unmarked.claims[0].action == "reattributed"
    assert set(cited_numbers(unmarked.text)) == {1, 4}
    # Wholesale markers still keep only supporting sources, at most two of them.
    wholesale = checker.check(f"{claim}. [1], [2], [3], [4]", sources)
    assert set(cited_numbers(wholesale.text)) == {1, 4}


def test_a_rule_given_under_another_plans_name_is_not_supported(
    checker: GroundingChecker,
) -> None:
    basic = SourceText(
        1,
        "Basic plan, Vision",
        "Under the Basic plan, one routine eye exam is covered each year. Eyeglasses and contact "
        "lenses are not covered.",
    )
    premium = SourceText(
        2,
        "Premium plan, Vision",
        "Under the Premium plan, eyeglasses or contact lenses are covered once every 12 months, "
        "up to 200 dollars.",
    )
    question = "What eye care does the Premium plan cover?"
    mixed = "Under the Premium plan, one routine eye exam is covered each year."
    right = "Under the Premium plan, contact lenses are covered once every 12 months."
    result = checker.check(f"{mixed} [1] {right} [2]", [basic, premium], question=question)
    # The Basic plan's page says the words, but not of the plan asked about.
    assert [c.action for c in result.claims] == ["unsupported", "kept"]
    assert (
        result.text
        == "Under the Premium plan, contact lenses are covered once every 12 months [2]."
    )
    # Without the question (nothing to compare names with), the copy with "Premium" swapped in
    # for "Basic" is still refused (GroundingChecker.swap); without that too, words decide.
    assert checker.check(mixed, [basic, premium]).claims[0].supported_by == ()
    lenient = GroundingChecker(checker.embed, checker.sparse, swaps=False)
    assert lenient.check(mixed, [basic, premium]).claims[0].supported_by[:1] == (1,)


def test_a_made_up_sentence_is_removed_and_the_answer_marked_partial(
    checker: GroundingChecker,
) -> None:
    made_up = "Domestic partners are not eligible for the premium membership plan [1]."
    result = checker.check(f"Unused items can be returned within 30 days [1]. {made_up}", SOURCES)
    assert result.text == "Unused items can be returned within 30 days [1]."
    assert result.partially_supported and result.unsupported == 1
    kept = checker.check(
        f"Unused items can be returned within 30 days [1]. {made_up}",
        SOURCES,
        keep_unsupported=True,
    )
    assert "Domestic partners are not eligible for the premium membership plan." in kept.text


def test_a_wrong_number_is_not_supported(checker: GroundingChecker) -> None:
    result = checker.check("Unused items can be returned within 45 days of delivery [1].", SOURCES)
    assert result.nothing_supported and result.text == ""


def test_advice_and_statements_of_silence_are_kept_uncited(checker: GroundingChecker) -> None:
    result = checker.check(
        "Items can be returned within 30 days of delivery [1]. The documents do not say "
        "whether gift cards can be returned. Please ask the support team to confirm.",
        SOURCES,
    )
    assert [c.action for c in result.claims] == ["kept", "not_factual", "not_factual"]
    assert result.text.endswith("Please ask the support team to confirm.")


# -- through the engine, against the local chat-completions server -------------------------


def use_llm(engine: SupportEngine, url: str, *, timeout_s: float = 5.0) -> None:
    engine.llm = OpenAICompatibleGenerator(
        base_url=url, model="fake-model", timeout_s=timeout_s, max_retries=0, examples=[]
    )
    engine.grounder = GroundingChecker(engine.kb.embedder.embed, engine.kb.sparse)


@pytest.fixture
def llm_engine(kb_engine: SupportEngine):  # type: ignore[no-untyped-def]
    yield kb_engine
    kb_engine.llm = None
    kb_engine.grounder = None


async def test_no_markers(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: "Unused items can be returned within 30 days of delivery."
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert answer.text == "Unused items can be returned within 30 days of delivery [1]."
    assert answer.citations[0].doc_id == "returns-and-shipping.md"
    assert not answer.uncited and not answer.partially_supported
    assert answer.model == "fake-model" and answer.tokens_out == 10 and answer.tokens_in


async def test_wholesale_markers(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: (
        "You can return any unused item within 30 days of delivery for a full refund. "
        "Refunds go to the original payment method within 5 business days. [1], [2], [3], [4]"
    )
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert "[2]" not in answer.text and len(answer.citations) == 1
    assert answer.text.count("[1]") == 2


async def test_marker_on_an_unsupported_sentence_and_a_made_up_sentence(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: (
        "Unused items can be returned within 30 days of delivery [1]. "
        "Domestic partners are not eligible for the premium membership plan [1]. "
        "Refunds go to the original payment method within 5 business days [1]."
    )
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert answer.text == (
        "Unused items can be returned within 30 days of delivery [1]. "
        "Refunds go to the original payment method within 5 business days [1]."
    )
    assert answer.partially_supported and not answer.degraded
    assert answer.unsupported_claims == (
        "Domestic partners are not eligible for the premium membership plan.",
    )


async def test_a_mostly_unsupported_answer_falls_back_to_quotes(fake, llm_engine) -> None:
    """More than grounding_max_unsupported (0.5) of the factual words unsupported: the few
    supported words left are not shown as the model's answer; the sources are quoted."""
    server, url = fake
    reply = (
        "Unused items can be returned within 30 days [1]. "
        "Domestic partners and their children are not eligible for the premium membership plan "
        "unless they enrolled during the annual open enrollment period [1]."
    )
    server.reply = lambda body: reply
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert answer.degraded and answer.notice == MOSTLY_UNGROUNDED_NOTICE
    assert answer.generator == "extractive" and "30 days" in answer.text and answer.citations
    assert "Domestic" not in answer.text and answer.model == "fake-model"
    # With the bound at 1, only an answer with nothing supported is replaced.
    settings = llm_engine.settings
    llm_engine.settings = settings.model_copy(update={"grounding_max_unsupported": 1.0})
    try:
        answer = await llm_engine.answer(PUBLIC_QUESTION)
    finally:
        llm_engine.settings = settings
    assert not answer.degraded and answer.partially_supported
    assert answer.text == "Unused items can be returned within 30 days [1]."


async def test_an_answer_with_nothing_supported_falls_back_to_quotes(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: "Refunds are paid in gold coins by the store manager [1]."
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert answer.degraded and answer.notice == UNGROUNDED_NOTICE
    assert answer.generator == "extractive" and "30 days" in answer.text and answer.citations
    assert answer.model == "fake-model"


async def test_a_runaway_reply_is_bounded(fake, llm_engine) -> None:
    server, url = fake
    loop = "Customers can return any unused item within 30 days of delivery [1]. " + (
        "Items marked as final sale cannot be returned [1]. " * 60
    )
    server.reply = lambda body: loop
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert server.requests[0]["max_tokens"] == DEFAULT_MAX_TOKENS
    assert server.requests[0]["stream"] is True
    assert answer.text.count("final sale cannot be returned") == 2


async def test_a_not_covered_reply_is_an_abstention(fake, llm_engine) -> None:
    server, url = fake
    server.reply = lambda body: (
        "The provided sources do not cover this. Please ask a member of the support team."
    )
    use_llm(llm_engine, url)
    answer = await llm_engine.answer(PUBLIC_QUESTION)
    assert answer.abstained and answer.abstain_reason == "not_covered"
    assert answer.text == ABSTAIN_TEXT.format(human=llm_engine.settings.human_contact)


async def test_a_slow_stream_shows_text_early_and_ends_grounded(fake, llm_engine) -> None:
    server, url = fake
    server.stream_delay_s = 0.15
    server.reply = lambda body: (
        "Unused items can be returned within 30 days of delivery. [1], [2] "
        "Express shipping costs 15 dollars and store credit never expires."
    )
    use_llm(llm_engine, url)
    seen: list[tuple[float, str]] = []
    t0 = time.perf_counter()

    async def on_text(text: str) -> None:
        seen.append((time.perf_counter() - t0, text))

    answer = await llm_engine.answer(PUBLIC_QUESTION, on_text=on_text)
    assert server.requests[0]["stream"] is True
    # Partial text arrived word by word, the first well before the whole reply (~3 s).
    assert len(seen) > 10 and seen[0][0] < 1.0
    assert all(b[1].startswith(a[1]) for a, b in zip(seen, seen[1:], strict=False))
    assert seen[-1][1].endswith("store credit never expires.")
    # The final answer is the grounded text, not the raw stream.
    assert answer.text.startswith("Unused items can be returned within 30 days of delivery [1].")
    assert answer.tokens_out is not None and answer.model == "fake-model"


async def test_a_stream_that_times_out_falls_back(fake, llm_engine) -> None:
    server, url = fake
    server.stream_delay_s = 0.2
    server.reply = lambda body: "word " * 50
    use_llm(llm_engine, url, timeout_s=0.5)

    async def on_text(text: str) -> None:
        await asyncio.sleep(0)

    answer = await llm_engine.answer(PUBLIC_QUESTION, on_text=on_text)
    assert answer.degraded and "30 days" in answer.text


def test_marker_runs_leave_no_dangling_separators(checker: GroundingChecker) -> None:
    result = checker.check(
        "Unused items can be returned within 30 days of delivery [1], [2], and [3].", SOURCES
    )
    assert result.text == "Unused items can be returned within 30 days of delivery [1]."


def test_sentences_that_point_at_the_sources_are_not_facts(checker: GroundingChecker) -> None:
    assert not checker.is_factual("The refund process is described in the sources.")
    assert not checker.is_factual("You can find more information in the documents.")
    assert checker.is_factual("Refunds are issued within 5 business days.")


def test_compression_keeps_the_sentences_nearest_the_question(kb_engine: SupportEngine) -> None:
    long = SourceText(
        1,
        "Policy",
        "Our warehouse is in Ohio. Customers can return any unused item within 30 days of "
        "delivery for a full refund. The blender comes in red, blue and green. Gift wrapping "
        "costs 3 dollars per item. Refunds go to the original payment method.",
    )
    short = SourceText(2, "Short", "Express shipping costs 15 dollars.")
    compressor = SourceCompressor(kb_engine.kb.embedder.embed, max_words=22)
    out = compressor.compress("How many days do I have to return an item for a refund?",
                              [long, short])  # fmt: skip
    assert out[1] == short  # already short: unchanged
    assert (out[0].number, out[0].label) == (1, "Policy")
    assert "within 30 days of delivery" in out[0].text
    assert "Ohio" not in out[0].text and "blue and green" not in out[0].text
    assert len(out[0].text.split()) <= 22


# -- sources for the LLM: those that name what the question names ----------------------------

PLAN_DOCS = {
    "basic-plan.md": "# Basic plan dental cover\n\nUnder the Basic plan, dental cover pays for "
    "one cleaning a year. Fillings and crowns are not covered by the Basic plan.\n",
    "premium-plan.md": "# Premium plan dental cover\n\nUnder the Premium plan, dental cover pays "
    "for two cleanings a year, and fillings and crowns at 80 percent.\n",
}


def test_named_sources_keeps_the_sources_that_name_what_the_question_asks_about(
    checker: GroundingChecker,
) -> None:
    premium, basic = PLAN_DOCS["premium-plan.md"], PLAN_DOCS["basic-plan.md"]
    sparse = checker.sparse
    assert named_sources(
        "What dental cover does the Premium plan give?", [premium, basic], sparse
    ) == [0]
    # A name the best source does not use filters nothing; no name, nothing either.
    assert named_sources("Is Zorblax dental cover in the plan?", [premium, basic], sparse) == [0, 1]
    assert named_sources("What dental cover is there?", [premium, basic], sparse) == [0, 1]
    assert named_sources("Does the Premium plan cover crowns?", [], sparse) == []


async def test_the_llm_reads_only_sources_about_the_plan_asked_about(
    fake, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server, url = fake
    engine = engine_over(tmp_path_factory, PLAN_DOCS)
    try:
        use_llm(engine, url)
        engine.settings = engine.settings.model_copy(update={"llm_named_sources": True})
        server.reply = lambda body: "Two cleanings a year are covered [1]."
        question = "How many dental cleanings does the Premium plan cover?"
        answer = await engine.answer(question)
        prompt = server.requests[-1]["messages"][-1]["content"]
        assert "Under the Premium plan" in prompt and "Under the Basic plan" not in prompt
        assert [c.doc_id for c in answer.citations] == ["premium-plan.md"]
        # Both pages are retrieved; the Basic one only stays out of the LLM's prompt.
        assert {r.doc_id for r in answer.retrieved} == set(PLAN_DOCS)
        engine.settings = engine.settings.model_copy(update={"llm_named_sources": False})
        await engine.answer(question)
        assert "Under the Basic plan" in server.requests[-1]["messages"][-1]["content"]
    finally:
        engine.close()


def test_a_copied_step_with_a_swapped_word_is_not_supported(checker: GroundingChecker) -> None:
    remove = SourceText(
        1,
        "Email, Remove email accounts",
        "Should you need to remove an email account from your device, you can do so through "
        "the Settings menu. From Email, tap Navigation drawer > Settings. Tap the account you "
        "want to remove. Tap Remove, and confirm when prompted.",
    )
    question = "How can I open email on my device?"
    swapped = "From the Settings menu, tap the account you want to use."
    copied = "From Email, tap Navigation drawer > Settings."
    result = checker.check(f"{copied} [1] {swapped} [1]", [remove], question=question)
    assert [c.action for c in result.claims] == ["kept", "unsupported"]
    assert result.text == "From Email, tap Navigation drawer > Settings [1]."
    sentences, terms = split_sentences(remove.text), set(checker.sparse.tokens(remove.text))
    assert checker.swap(swapped, sentences, terms) == ("use", "remove")
    # The same sentence in the source's own words is supported; without the swap check the
    # swapped one was too (one new term in six passes coverage).
    assert checker.check("Tap the account you want to remove [1].", [remove]).claims[0].kept == (1,)
    lenient = GroundingChecker(checker.embed, checker.sparse, swaps=False)
    assert lenient.check(swapped, [remove], question=question).claims[0].action != "unsupported"
