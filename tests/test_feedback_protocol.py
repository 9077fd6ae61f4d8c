"""A small run of the feedback protocol (bot.evaluation.feedback_protocol) on the office
documents: the split, simulated votes and corrections, the test half before and after (the
memory, the feedback links, a tuned embedding model), and repeats served from the answer
memory; and ``supportbot eval --feedback-protocol``, the full protocol's command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.evaluation.dataset import EvalQuestion
from bot.evaluation.feedback_protocol import METRICS, run_set
from tests.conftest import OFFICE_QUESTIONS as QUESTIONS
from tests.conftest import TESTS


async def test_a_small_feedback_protocol_run() -> None:
    questions = [EvalQuestion(q, None, (gold,), True) for q, gold in QUESTIONS]
    r = await run_set(
        "office",
        TESTS / "data" / "office",
        questions,
        seed=3,
        boosts=(0.0, 0.5),
        bootstrap=200,
        tune_epochs=1,
        progress=False,
    )
    assert (r.feedback, r.test) == (5, 5)
    assert r.up + r.down == 5 and r.verified >= r.up  # every 👍 answer verified (one vote)
    assert set(r.test_after) == {"0", "0.5", "tuned"}
    assert r.tune_rows is not None and r.tune_rows >= r.verified
    for strength, figures in r.test_after.items():
        for m in METRICS:
            assert 0.0 <= figures[m] <= 1.0 and 0.0 <= r.test_before[m] <= 1.0
            d, lo, hi = r.test_diff[strength][m]
            assert lo <= d <= hi
    assert r.test_served == 0  # no test question repeats a feedback one
    # Exact repeats: every verified answer comes back, citing a gold source.
    assert r.repeats_served == r.verified / r.feedback
    assert r.repeats_served_citation_hit == 1.0


def test_the_eval_command_runs_the_protocol_and_writes_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "".join(
            json.dumps({"question": q, "answer": "", "gold": [gold]}) + "\n"
            for q, gold in QUESTIONS
        )
    )
    spec = f"office={TESTS / 'data' / 'office'},{qa}"
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        app, ["eval", "--feedback-protocol", "-d", spec, "--out", str(out), "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "office: test half, before → after feedback" in result.output
    (figures,) = json.loads((out / "feedback_protocol.json").read_text())
    assert (figures["name"], figures["feedback"], figures["test"]) == ("office", 5, 5)
    assert figures["tune_seconds"] is None  # no --tune-epochs

    refused = CliRunner().invoke(app, ["eval", "-d", spec, "--tune-epochs", "1"])
    assert refused.exit_code == 1 and "--tune-epochs needs --feedback-protocol" in refused.output
