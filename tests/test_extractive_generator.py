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
