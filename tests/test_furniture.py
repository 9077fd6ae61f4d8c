"""Page furniture: running headers and footers, and boilerplate repeated across documents."""

from __future__ import annotations

from pathlib import Path

from bot.engine import SupportEngine
from knowledge.furniture import boilerplate_sentences, repeated_lines, strip_furniture
from tests.conftest import make_settings

DISCLAIMER = (
    "This document contains information generated using a language model and does not reflect "
    "the opinions of anyone."
)


def page(n: int, body: str) -> str:
    return f"Acme Handbook\n{body}\nResponsibilities:\nPage {n} of 12\nAll rights reserved to Acme"


def test_running_headers_and_footers_repeat_on_most_pages() -> None:
    topics = "leave pay travel parking lunch laptops security badges visitors dress pets gym"
    pages = [page(n, f"The {t} policy is explained here.") for n, t in enumerate(topics.split(), 1)]
    lines = repeated_lines(pages)
    assert {"acme handbook", "page # of #", "all rights reserved to acme"} <= lines
    assert "responsibilities:" not in lines  # a label that introduces content stays
    assert not any("policy" in line for line in lines)
    clean = strip_furniture(pages[3], lines, set())
    assert clean.splitlines() == ["The parking policy is explained here.", "Responsibilities:"]


def test_a_heading_on_a_few_pages_of_a_long_document_is_not_furniture() -> None:
    words = [f"{a} {b}" for a in ("red", "blue", "green", "gold") for b in "abcdefghijklmno"]
    pages = [f"Exceptions\nRule {w}." if n % 6 == 0 else f"Rule {w}." for n, w in enumerate(words)]
    assert repeated_lines(pages) == set()
    assert repeated_lines(["Same", "Same"]) == set()  # too few pages to tell


def test_a_disclaimer_in_most_documents_is_boilerplate_however_it_is_wrapped() -> None:
    docs = {
        f"doc{i}.pdf": [DISCLAIMER.replace(" the ", "\nthe ", i % 2 + 1), f"Fact {i} is true."]
        for i in range(4)
    }
    keys = boilerplate_sentences(docs)
    assert keys
    for texts in docs.values():
        clean = strip_furniture(texts[0] + "\n" + texts[1], set(), keys)
        assert "language model" not in clean and "is true" in clean


def test_instructions_a_manual_repeats_in_a_few_sections_are_content() -> None:
    step = "From Settings, tap Connections and then tap to turn on Bluetooth for your device."
    docs = {f"section_{i}.md": [f"Section {i} text here."] for i in range(40)}
    for i in range(5):
        docs[f"section_{i}.md"].append(step)
    assert boilerplate_sentences(docs) == set()
    # Short sentences are exempt even when everywhere.
    assert boilerplate_sentences({f"d{i}": ["Tap Settings."] for i in range(10)}) == set()


def test_ingestion_strips_boilerplate_also_from_documents_added_later(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    topics = {
        "parking": "Staff park behind building B.",
        "lunch": "The canteen opens at noon.",
        "leave": "Employees get 25 days of leave.",
        "badges": "Wear your badge at all times.",
    }

    def write(name: str) -> None:
        (docs / f"{name}.md").write_text(f"# {name.title()}\n\n{DISCLAIMER}\n\n{topics[name]}\n")

    for name in ("parking", "lunch", "leave"):
        write(name)
    engine = SupportEngine.from_settings(make_settings(tmp_path / "data"))
    try:
        engine.kb.ingest([docs], audience="public", progress=False)
        texts = [c.text for c in engine.kb.index.all_chunks()]
        assert texts and not any("language model" in t for t in texts)
        assert any("building B" in t for t in texts)
        # A fourth copy arrives alone: the three indexed ones were stripped, yet it is stripped.
        write("badges")
        engine.kb.ingest([docs], audience="public", progress=False)
        badges = [c.text for c in engine.kb.index.all_chunks() if c.doc_id == "badges.md"]
        assert badges and not any("language model" in t for t in badges)
        assert engine.kb.is_boilerplate(DISCLAIMER)
    finally:
        engine.close()
