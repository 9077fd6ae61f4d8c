"""A fast smoke run of ``supportbot eval`` on the tiny knowledge base, gates included."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import KB

QA = Path(__file__).parent / "data" / "kb_qa.jsonl"


def run_eval(tmp_path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--docs",
            str(KB / "public"),
            "--questions",
            str(QA),
            "--configs",
            "default,bm25s,same-chunks-vector,llamaindex-starter",
            "--out",
            str(tmp_path / "out"),
            *extra,
        ],
        env={"COLUMNS": "200"},
    )
    return result.exit_code, result.output


def test_eval_writes_reports_with_every_metric(tmp_path: Path) -> None:
    code, output = run_eval(tmp_path, "--fail-under", "hit@1=0.5")
    assert code == 0, output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    names = [c["name"] for c in report["configs"]]
    assert names == ["default", "bm25s", "same-chunks-vector", "llamaindex-starter"]
    assert report["generator"] == "extractive" and report["calibration"]["n_null"] == 120
    default = report["configs"][0]["metrics"]
    assert default["hit@1"] == 1.0 and default["mrr@10"] == 1.0  # one document: always first
    assert default["abstention_recall"] == 1.0 and default["answerable_abstain_rate"] == 0.0
    assert default["citation_hit"] == 1.0 and default["f1"] > 0.3
    assert default["total_p50_ms"] > 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2
    assert "Every question had its gold source at rank 1" in html


def test_eval_gate_fails_with_a_clear_line(tmp_path: Path) -> None:
    code, output = run_eval(tmp_path, "--fail-under", "f1=0.99")
    assert code == 2
    assert "FAIL f1" in output


def test_several_datasets_in_one_run_with_per_dataset_and_macro_gates(tmp_path: Path) -> None:
    # The tiny KB twice under two names: a table for each, a macro average, gates by prefix.
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--dataset",
            f"one={KB / 'public'},{QA}",
            "--dataset",
            f"two={KB / 'public'},{QA}",
            "--out",
            str(tmp_path / "out"),
            "--fail-under",
            "one:hit@1=0.5",
            "--fail-under",
            "macro:answerable_abstain_rate=0.0",
            "--fail-under",
            "two:f1=0.99",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "macro average over 2 datasets (one, two)" in result.output
    assert "FAIL f1" in result.output and "(config: two/default)" in result.output
    assert "one/default" not in result.output  # its gate passed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [d["dataset_name"] for d in report["datasets"]] == ["one", "two"]
    macro = report["macro"]["default"]
    assert macro["n_questions"] == 8 and macro["hit@1"] == 1.0
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Macro average over 2 datasets" in html and "Refusals by rule" in html


def test_a_misspelt_gate_fails_before_the_run(tmp_path: Path) -> None:
    code, output = run_eval(tmp_path, "--fail-under", "hit5=0.9")
    assert code == 1
    assert "unknown metric 'hit5'" in output
    assert not (tmp_path / "out").exists()  # nothing was ingested or written
