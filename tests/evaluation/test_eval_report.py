"""Report writers: JSON round trip, self-contained HTML, Rich table."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from bot.evaluation.metrics import QuestionResult, summarize
from bot.evaluation.report import (
    ConfigRun,
    EvalRun,
    abstention_tradeoff,
    generation_line,
    rank_histogram,
    read_json,
    read_runs,
    refusal_counts,
    render_table,
    worst_questions,
    write_html,
    write_json,
)

NASTY = '<script>alert("x")</script> & co'


def _result(
    question: str, gold: tuple[str, ...], ranked: tuple[str, ...], **kw: Any
) -> QuestionResult:
    """A result that is answerable exactly when it has gold ids."""
    return QuestionResult(question=question, answerable=bool(gold), gold=gold, ranked=ranked, **kw)


def _results() -> list[QuestionResult]:
    return [
        _result("rank one", ("a.pdf",), ("d/a.pdf#page=1", "d/b.pdf"), support_score=0.9,
                answer_text="A.", gold_answer="A.", cited=("d/a.pdf#page=1",), abstained=False,
                stage_ms={"search": 12.0, "generate": 250.0}),
        _result("rank three", ("c.pdf",), ("d/a.pdf", "d/b.pdf", "d/c.pdf"), support_score=0.6,
                abstained=False, stage_ms={"search": 15.0}),
        _result(NASTY, ("z.pdf#page=2",), ("d/a.pdf", "d/z.pdf#page=3"), support_score=0.2,
                abstained=True, stage_ms={"search": 9.0}),
        _result("rank twelve", ("l.pdf",), tuple(f"d/{i}.pdf" for i in range(11)) + ("d/l.pdf",),
                support_score=0.5, abstained=False),
        _result("unanswerable", (), ("d/a.pdf",), support_score=0.1, abstained=True),
    ]  # fmt: skip


def _run() -> EvalRun:
    results = _results()
    dense = results[:2] + [_result("dense only", ("a.pdf",), ("d/a.pdf",))]
    return EvalRun(
        dataset_name="tiny & <set>",
        dataset_path="data/qa.jsonl",
        docs_path="docs",
        created="2025-01-31T12:00:00+00:00",
        ingest_seconds=3.25,
        n_chunks=42,
        threshold=0.3,
        configs=[
            ConfigRun("hybrid", "dense + BM25, RRF", results, summarize(results)),
            ConfigRun("dense", "dense only", dense, summarize(dense)),
        ],
    )


def test_rank_histogram_and_worst_questions() -> None:
    results = _results()
    # ranks 1, 3, none, 12 (counted as not found); the unanswerable one is skipped
    assert rank_histogram(results) == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    worst = [r.question for r in worst_questions(results)]
    assert worst == [NASTY, "rank twelve", "rank three"]  # rank 1 is not "worst"
    assert [r.question for r in worst_questions(results, n=1)] == [NASTY]


def test_json_round_trip(tmp_path: Path) -> None:
    run = _run()
    path = tmp_path / "out" / "run.json"
    write_json(run, path)
    again = read_json(path)
    assert again == run
    assert again.configs[0].results[2].question == NASTY
    assert again.configs[0].metrics["hit@1"] == 0.25


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    path = tmp_path / "run.html"
    write_html(_run(), path)
    page = path.read_text(encoding="utf-8")
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3  # metrics bars, rank distribution, support-score histograms
    assert all(base64.b64decode(img).startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
    assert "<script" not in page
    assert "tiny &amp; &lt;set&gt;" in page
    assert not re.search(r"(href|src)=\"(https?:)?//", page)  # nothing external
    worst = page.split("Worst questions (hybrid)")[1]
    assert "not found" in worst and "rank twelve" in worst and "rank one" not in worst
    assert '<code class="hit">d/c.pdf</code>' in worst  # gold hit highlighted among top 5


def test_html_without_support_scores(tmp_path: Path) -> None:
    run = _run()
    for c in run.configs:
        for r in c.results:
            r.support_score = None
    write_html(run, tmp_path / "run.html")
    page = (tmp_path / "run.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2
    assert "No support scores were recorded." in page


def test_render_table() -> None:
    console = Console(record=True, width=220, file=io.StringIO())
    render_table(_run(), console)
    text = console.export_text()
    assert "abstention threshold 0.3" in text
    rows = {
        cells[0]: cells[1:]
        for line in text.splitlines()
        if (cells := [c.strip() for c in line.strip("│ ").split("│")]) and len(cells) == 13
    }
    # hybrid: gold ranks 1, 3, none, 12 -> hit@1 0.25, hit@5 0.5, MRR@10 (1 + 1/3) / 4
    assert rows["hybrid"][:3] == ["0.250", "0.500", "0.333"]
    # hybrid: citation hit and F1 from the one answered question; abstention recall 1/1
    assert rows["hybrid"][5:9] == ["1.000", "1.000", "1.000", "1.000"]
    # hybrid totals [262, 15, 9]: p50 15, p95 15 + 0.9 * 247 = 237.3
    assert rows["hybrid"][10:] == ["15", "237"]
    assert rows["dense"][0] == "0.667"  # gold ranks 1, 3, 1
    assert rows["dense"][8:10] == ["–", "0.000"]  # no unanswerable question; none abstained


def test_render_table_off_a_terminal_is_not_squeezed_to_80_columns() -> None:
    # A file console (a CI log) that Rich would otherwise limit to 80 columns.
    console = Console(record=True, width=80, file=io.StringIO(), force_terminal=False)
    render_table(_run(), console)
    lines = console.export_text().splitlines()
    row = next(line for line in lines if line.strip("│ ").startswith("hybrid"))
    # The whole row sits on one line: every one of the 13 cells, numbers unwrapped.
    assert len([c for c in row.strip("│ ").split("│")]) == 13
    assert "0.250" in row and "237" in row
    assert max(len(line) for line in lines) > 80


def test_abstention_tradeoff_follows_the_calibration() -> None:
    run = _run()
    assert abstention_tradeoff(run) == []  # no calibration recorded
    run.calibration = {"null_high": 0.4, "null_median": 0.2}  # spread 0.2
    curve = dict((m, (a, u)) for m, a, u in abstention_tradeoff(run, margins=(0.0, 0.25, 1.5)))
    # Supports of the 4 answerable questions: 0.9, 0.6, 0.2, 0.5; of the don't-know one: 0.1.
    assert curve[0.0] == (0.25, 1.0)  # bar 0.40: only the 0.2 question
    assert curve[0.25] == (0.25, 1.0)  # bar 0.45
    assert curve[1.5] == (0.75, 1.0)  # bar 0.70: 0.6, 0.2 and 0.5
    run.configs[0].results[1].unknown_terms = ("x",)  # its bar rises by one spread
    assert abstention_tradeoff(run, margins=(0.0,))[0][1] == 0.5  # 0.6 < 0.4 + 1·0.2


def test_several_runs_give_a_macro_section_and_round_trip(tmp_path: Path) -> None:
    a, b = _run(), _run()
    b.dataset_name = "other"
    write_json([a, b], tmp_path / "r.json")
    assert [r.dataset_name for r in read_runs(tmp_path / "r.json")] == [a.dataset_name, "other"]
    write_html([a, b], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "Macro average over 2 datasets" in page and "<h2>other</h2>" in page
    assert refusal_counts(a.configs[0].results) == {"unknown": (1, 1)}


def test_generation_line_reports_the_llm_answers() -> None:
    llm = [
        _result("q1", ("a.pdf",), ("d/a.pdf",), answer_text="A [1].", abstained=False,
                cited=("d/a.pdf",), generator="openai:qwen", model="qwen", tokens_in=800,
                tokens_out=40,
                stage_ms={"total": 4000.0}),
        _result("q2", ("a.pdf",), ("d/a.pdf",), answer_text="B.", abstained=False, cited=(),
                generator="openai:qwen", model="qwen", tokens_in=1000, tokens_out=60, uncited=True,
                partially_supported=True, unsupported_claims=("B.",),
                stage_ms={"total": 9000.0}),
    ]  # fmt: skip
    run = _run()
    run.generator = "openai:qwen"
    run.configs = [ConfigRun("default", "full", llm, summarize(llm))]
    m = run.configs[0].metrics
    assert (m["uncited_rate"], m["partial_rate"]) == (0.5, 0.5)
    assert (m["tokens_in_mean"], m["tokens_out_mean"]) == (900.0, 50.0)
    line = generation_line(run)
    assert line is not None and line.startswith("generation (openai:qwen): uncited 0.500")
    assert "partial 0.500" in line and "tokens out 50" in line
    # No LLM answered (extractive run): no line.
    assert generation_line(_run()) is None
