"""A small run of the feedback protocol (bot.evaluation.feedback_protocol) on the office
documents: the split, simulated votes and corrections, the test half before and after (the
memory, the feedback links, a tuned embedding model), and repeats served from the answer
memory, and the feedback half asked again in other words; and ``supportbot eval
--feedback-protocol``, the full protocol's command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.evaluation.dataset import EvalQuestion
from bot.evaluation.feedback_protocol import (
    ANSWER_METRICS,
    METRICS,
    load_paraphrases,
    run_set,
)
from tests.conftest import OFFICE_QUESTIONS as QUESTIONS
from tests.conftest import TESTS
from tests.fake_openai import FakeOpenAI

# A light rewording of every question.
REWORDED = {q: "Quick question: " + q[0].lower() + q[1:] for q, _ in QUESTIONS}


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
        paraphrases=REWORDED,
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
    # The feedback half in other words: scored before and after like the test half.
    assert r.paraphrases == r.feedback
    assert r.para_before is not None and r.para_after is not None and r.para_diff is not None
    assert set(r.para_after) == {"0", "0.5", "tuned"}
    for strength, figures in r.para_after.items():
        for m in METRICS:
            d, lo, hi = r.para_diff[strength][m]
            assert abs(figures[m] - r.para_before[m] - d) < 1e-9 and lo <= d <= hi
    assert r.para_served is not None and 0.0 <= r.para_served <= r.verified / r.feedback
    assert r.para_links_diff is not None and set(r.para_links_diff) == {"0.5"}
    d, lo, hi = r.para_links_diff["0.5"]["mrr@10"]
    assert abs(r.para_after["0.5"]["mrr@10"] - r.para_after["0"]["mrr@10"] - d) < 1e-9
    assert r.para_similarity is not None
    p10, p50, p90 = r.para_similarity
    assert 0.5 < p10 <= p50 <= p90 < 1.0  # a light rewording: close, never identical
    if r.para_served:
        assert r.para_served_citation_hit == 1.0


async def test_the_few_shot_step_sends_verified_answers_as_the_llms_examples(
    fake: tuple[FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the LLM generator (a local chat-completions server), the few-shot step answers the
    test half again with the verified feedback-half answers as the prompt's examples."""
    server, url = fake
    monkeypatch.setenv("SUPPORTBOT_OPENAI_BASE_URL", url)
    questions = [EvalQuestion(q, f"See {gold}.", (gold,), True) for q, gold in QUESTIONS]
    office = TESTS / "data" / "office"
    with pytest.raises(ValueError, match="needs the LLM generator"):
        await run_set("office", office, questions, few_shot=True, generator="extractive")
    r = await run_set(
        "office",
        office,
        questions,
        seed=3,
        boosts=(0.0,),
        bootstrap=200,
        generator="openai",
        few_shot=True,
        progress=False,
    )
    assert r.verified > 0 and r.few_shot_n == r.test == 5
    assert r.few_shot_before and r.few_shot_after and r.few_shot_diff and r.few_shot_tokens_in
    before_tokens, after_tokens = r.few_shot_tokens_in
    assert before_tokens and after_tokens  # the fake server reports usage
    for m in ANSWER_METRICS:
        d, lo, hi = r.few_shot_diff[m]
        assert abs(r.few_shot_after[m] - r.few_shot_before[m] - d) < 1e-9 and lo <= d <= hi

    def examples(body: dict[str, object]) -> list[str]:
        """The labelled questions shown as earlier exchanges (not the one being asked)."""
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]  # type: ignore[attr-defined]
        return [q for q, _ in QUESTIONS if any(f"Question: {q}" in u for u in users[:-1])]

    shown = [examples(body) for body in server.requests]
    # Only the five few-shot answers carry verified examples; every other prompt has the
    # curated ones.
    assert sum(bool(e) for e in shown) == 5


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
    paras = tmp_path / "paraphrases"
    paras.mkdir()
    (paras / "office.jsonl").write_text(
        "".join(json.dumps({"question": q, "paraphrase": p}) + "\n" for q, p in REWORDED.items())
    )
    assert load_paraphrases(paras / "office.jsonl") == REWORDED
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        app,
        ["eval", "--feedback-protocol", "-d", spec, "--out", str(out), "--seed", "3"]
        + ["--paraphrases", str(paras)],
    )
    assert result.exit_code == 0, result.output
    assert "office: test half, before → after feedback" in result.output
    assert "office: 5 feedback-half questions in other words" in result.output
    (figures,) = json.loads((out / "feedback_protocol.json").read_text())
    assert (figures["name"], figures["feedback"], figures["test"]) == ("office", 5, 5)
    assert figures["tune_seconds"] is None  # no --tune-epochs
    assert figures["paraphrases"] == 5 and set(figures["para_after"]) == {"0", "0.25", "0.5", "1"}

    refused = CliRunner().invoke(app, ["eval", "-d", spec, "--tune-epochs", "1"])
    assert refused.exit_code == 1 and "need --feedback-protocol" in refused.output
    (paras / "bad.jsonl").write_text('{"question": "q"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: not a question/paraphrase object"):
        load_paraphrases(paras / "bad.jsonl")
