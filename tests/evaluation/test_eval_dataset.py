"""Loading labelled questions and matching source ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.evaluation.dataset import (
    EvalQuestion,
    load_questions,
    normalize_source_id,
    source_matches,
    split_trailing_citations,
)

CONTOSO = Path(__file__).resolve().parents[2].parent / "shared/data/contoso_hr_benefits"

LINES = [
    {"question": "Q1", "truth": "Answer one.[a.pdf#page=7]"},
    {"question": "Q2", "answer": "Two. [x/b.pdf] [c.docx#page=2]", "answerable": True},
    {"question": " Q3 ", "answer": "Three [1].", "gold": ["./docs\\d.md", "docs/d.md"]},
    {"question": "Q4", "answerable": False, "truth": "made up"},
    {"question": "Q5"},
    {"question": "Q6", "answer": "See [a.pdf] for details."},
    {"question": "Q7", "answer": "Text [a.pdf]", "gold": "b.pdf"},
]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    rows = [json.dumps(obj) for obj in LINES]
    rows.insert(3, "   ")  # blank lines are skipped
    return _write(tmp_path, rows)


def test_load_questions(qa_file: Path) -> None:
    assert load_questions(qa_file) == [
        EvalQuestion("Q1", "Answer one.", ("a.pdf#page=7",), True),
        EvalQuestion("Q2", "Two.", ("x/b.pdf", "c.docx#page=2"), True),
        EvalQuestion("Q3", "Three [1].", ("docs/d.md",), True),
        EvalQuestion("Q4", None, (), False),
        EvalQuestion("Q5", None, (), True),
        EvalQuestion("Q6", "See [a.pdf] for details.", (), True),
        EvalQuestion("Q7", "Text", ("b.pdf",), True),  # explicit gold wins, citation still cut
    ]


def test_answerable_false_override_drops_answers_and_derived_gold(qa_file: Path) -> None:
    qs = load_questions(qa_file, answerable=False)
    assert all(not q.answerable and q.answer is None for q in qs)
    assert [q.gold for q in qs] == [(), (), ("docs/d.md",), (), (), (), ("b.pdf",)]


def test_answerable_true_override(qa_file: Path) -> None:
    q4 = load_questions(qa_file, answerable=True)[3]
    assert q4 == EvalQuestion("Q4", "made up", (), True)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"question": "x"', "Expecting"),  # truncated JSON
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"answer": "x"}', "'question' must be a non-empty string"),
        ('{"question": "x", "truth": 3}', "'truth' must be a string or null"),
        ('{"question": "x", "gold": [1]}', "'gold' must be a list of non-empty strings"),
        ('{"question": "x", "answerable": "no"}', "'answerable' must be true or false"),
    ],
)
def test_malformed_line_reports_line_number(tmp_path: Path, bad: str, message: str) -> None:
    path = _write(tmp_path, ['{"question": "fine"}', "", bad])
    with pytest.raises(ValueError, match=re.escape(f"qa.jsonl:3: {message}")):
        load_questions(path)


def test_split_trailing_citations() -> None:
    assert split_trailing_citations("Text.[a.pdf#page=7] [ b/c.md ][a.pdf#page=7] ") == (
        "Text.",
        ("a.pdf#page=7", "b/c.md"),
    )
    assert split_trailing_citations("Ends with [1]") == ("Ends with [1]", ())
    assert split_trailing_citations("No citation. ") == ("No citation.", ())


def test_normalize_source_id() -> None:
    assert normalize_source_id(" ./pdf\\a.pdf#page=2 ") == "pdf/a.pdf#page=2"
    assert normalize_source_id("././a.md") == "a.md"
    assert normalize_source_id("Docs/A.pdf") == "Docs/A.pdf"  # case kept


@pytest.mark.parametrize(
    ("retrieved", "gold", "expected"),
    [
        ("pdf/x.pdf#page=3", "pdf/x.pdf#page=3", True),
        ("pdf/x.pdf#page=3", "pdf/x.pdf", True),  # page-less gold: any page
        ("pdf/x.pdf", "pdf/x.pdf", True),
        ("pdf/x.pdf#page=3", "pdf/x.pdf#page=4", False),
        ("pdf/x.pdf", "pdf/x.pdf#page=4", False),  # gold page requires a page
        ("pdf/x.pdf#page=3", "x.pdf#page=3", True),  # bare gold name: basename match
        ("pdf/x.pdf#page=3", "x.pdf", True),
        ("a/x.pdf", "b/x.pdf", False),  # gold with a folder: full path must match
        ("pdf/xx.pdf", "x.pdf", False),
        ("pdf\\x.pdf#page=3", "./pdf/x.pdf#page=3", True),  # normalised first
        ("x.pdf", "", False),
        ("docs/faq.md#billing", "docs/faq.md", True),  # file-level gold: any section
        ("section_1.md#part=2", "section_1.md", True),
        ("docs/faq.md#billing", "docs/faq.md#billing", True),
        ("docs/faq.md#refunds", "docs/faq.md#billing", False),  # section gold: that section
        ("x.pdf#page=03", "x.pdf#page=3", True),
    ],
)
def test_source_matches(retrieved: str, gold: str, expected: bool) -> None:
    assert source_matches(retrieved, gold) is expected


def _contoso(name: str) -> Path:
    path = CONTOSO / name
    if not path.exists():
        pytest.skip(f"Contoso HR benefits set not found at {path} (shared data not checked out)")
    return path


def test_real_contoso_qa() -> None:
    qs = load_questions(_contoso("qa.jsonl"))
    assert len(qs) == 201
    page_id = re.compile(r"^[^/#\[\]]+\.pdf#page=\d+$")
    for q in qs:
        assert q.answerable and q.answer and q.question
        assert len(q.gold) == 1 and page_id.match(q.gold[0]), q.gold
        assert not q.answer.endswith("]"), q.answer[-60:]
    first = qs[0]
    assert first.gold == ("Northwind_Standard_Benefits_Details.pdf#page=7",)
    assert first.answer is not None
    assert first.answer.endswith("ensuring you are not responsible for these unexpected costs.")


def test_real_contoso_dontknows() -> None:
    qs = load_questions(_contoso("qa_dontknows.jsonl"), answerable=False)
    assert len(qs) == 45
    assert all(not q.answerable and q.answer is None and q.gold == () for q in qs)
    assert qs[0].question == "What are the key benefits of the Northwind Platinum plan?"
