"""The extractive generator: sentences that answer, each cited, no repeats, several sources."""

from __future__ import annotations

import re

from bot.generators.base import SourceText
from bot.generators.extractive import ExtractiveGenerator
from knowledge.sparse import SparseEncoder

QUESTION = "How much does PerksPlus reimburse for gym memberships?"
ANSWER = "PerksPlus reimburses up to $1000 a year for gym memberships and fitness classes."


def generator() -> ExtractiveGenerator:
    return ExtractiveGenerator(SparseEncoder())


def test_a_sentence_repeated_by_overlapping_sources_is_quoted_once_citing_both() -> None:
    # Overlapping chunks: source 2 repeats source 1's answer sentence.
    sources = [
        SourceText(1, "PerksPlus, p. 1", f"Welcome to the program. {ANSWER}"),
        SourceText(2, "PerksPlus, p. 2", f"{ANSWER} Claims are paid within 30 days."),
    ]
    text = generator().generate(QUESTION, sources).text
    assert text.count("up to $1000") == 1
    assert f"{ANSWER[:-1]} [1][2]." in text


def test_answers_draw_on_more_than_one_source_and_cite_each() -> None:
    sources = [
        SourceText(1, "PerksPlus, p. 1", f"{ANSWER} Gym memberships count once a year."),
        SourceText(2, "Handbook, p. 4", "Gym memberships bought for PerksPlus need a receipt."),
    ]
    text = generator().generate(QUESTION, sources).text
    assert set(re.findall(r"\[(\d+)\]", text)) == {"1", "2"}
    assert "up to $1000" in text


def test_no_usable_sentence_gives_an_empty_answer() -> None:
    sources = [SourceText(1, "Index", "Benefits. Index.")]  # headings only, too short to quote
    assert generator().generate(QUESTION, sources).text == ""


def test_a_list_lead_in_is_quoted_with_its_items() -> None:
    text = (
        "PerksPlus covers a wide range of fitness activities, including but not limited to:\n"
        "• Gym memberships\n• Yoga classes\n• Personal training sessions.\n"
        "Claims are paid within 30 days of the receipt."
    )
    answer = (
        generator()
        .generate(
            "Which fitness activities does PerksPlus cover?", [SourceText(1, "PerksPlus", text)]
        )
        .text
    )
    assert (
        "not limited to: Gym memberships; Yoga classes; Personal training sessions [1]." in answer
    )
    assert ": [1]" not in answer


def test_a_further_source_is_quoted_only_when_it_supports_the_question() -> None:
    parking = SourceText(
        1, "Parking", "Employees park in the staff car park behind building B.", 0.8
    )
    lunch = SourceText(2, "Lunch", "Employees get a 50 percent discount on all meals.", 0.35)
    visitors = SourceText(3, "Visitors", "Employees may also park visitors in bay C.", 0.7)
    gen = generator()
    assert [s.number for s in gen.quotable([parking, lunch, visitors], threshold=0.3)] == [1, 3]
    answer = gen.generate("Where can employees park?", [parking, lunch, visitors], threshold=0.3)
    assert "discount" not in answer.text and "[1]" in answer.text
    # Without a threshold (no calibration known) every top source may be quoted.
    assert len(gen.quotable([parking, lunch, visitors], threshold=None)) == 3


def test_boilerplate_is_never_quoted() -> None:
    gen = ExtractiveGenerator(SparseEncoder(), skip=lambda s: "does not reflect" in s)
    text = "This text does not reflect the opinions of anyone at all. Gym memberships are covered."
    answer = gen.generate("Are gym memberships covered?", [SourceText(1, "P", text)]).text
    assert "reflect" not in answer and "Gym memberships are covered [1]." in answer
