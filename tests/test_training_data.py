"""Fine-tuning exports (``supportbot feedback export --format sft|dpo|raft``): rows built from
verified answers, loaded back with Hugging Face ``datasets`` as TRL's trainers would."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from tests.conftest import INTERNAL_QUESTION, KB, PUBLIC_QUESTION, make_settings


async def _feedback(data_dir: Path) -> dict[str, str]:
    """Answers with decisions: one verified, one corrected, and a 👎 answer to the verified
    question asked again. Returns their ids."""
    engine = SupportEngine.from_settings(make_settings(data_dir))
    store = FeedbackStore(f"sqlite:///{data_dir / 'feedback.db'}")
    try:
        engine.kb.ingest([KB / "public"], audience="public", progress=False)
        engine.kb.ingest([KB / "internal"], audience="internal", progress=False)
        verified = await store.record_answer(await engine.answer(PUBLIC_QUESTION))
        await store.curate(verified, "verified", reviewer="lead")
        wrong = await store.record_answer(
            await engine.answer(INTERNAL_QUESTION, audience="internal")
        )
        record = await store.get_answer(wrong)
        assert record is not None and record.retrieved
        await store.curate(
            wrong,
            "corrected",
            reviewer="lead",
            text="See the compensation guide [1].",
            citations=[record.retrieved[0]],
        )
        # The same question asked again (as an older, worse build answered it), voted 👎.
        worse = dataclasses.replace(
            await engine.answer(PUBLIC_QUESTION.upper()), text="Please ask support.", citations=()
        )
        again = await store.record_answer(worse)
        await store.vote(again, "U1", -1, source="button")
        return {"verified": verified, "corrected": wrong, "down": again}
    finally:
        store.close()
        await engine.aclose()


@pytest.fixture
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    data_dir = tmp_path / "data"
    asyncio.run(_feedback(data_dir))
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(tmp_path / "none.toml"))
    out = {}
    for fmt in ("sft", "dpo", "raft"):
        path = tmp_path / f"{fmt}.jsonl"
        result = CliRunner().invoke(
            app, ["feedback", "export", "--format", fmt, "-o", str(path)], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 0, result.output
        out[fmt] = path
    return out


def test_exports_load_with_datasets_in_trls_formats(exported: dict[str, Path]) -> None:
    os.environ["HF_DATASETS_OFFLINE"] = "1"  # local files only; nothing from the hub
    from datasets import load_dataset

    sft = load_dataset("json", data_files=str(exported["sft"]), split="train")
    assert sft.column_names == ["messages"] and len(sft) == 2  # verified + corrected
    for messages in sft["messages"]:
        assert [m["role"] for m in messages] == ["system", "user", "assistant"]
        assert "[1]" in messages[2]["content"] or "[" in messages[2]["content"]
    corrected = next(m for m in sft["messages"] if m[2]["content"].startswith("See the"))
    assert INTERNAL_QUESTION in corrected[1]["content"]

    dpo = load_dataset("json", data_files=str(exported["dpo"]), split="train")
    assert set(dpo.column_names) == {"prompt", "chosen", "rejected"}
    assert len(dpo) == 2  # the correction vs the original; the verified vs the 👎 repeat
    for row in dpo:
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        assert row["chosen"][0]["content"] != row["rejected"][0]["content"]
    assert "Please ask support." in [r["rejected"][0]["content"] for r in dpo]

    raft = load_dataset("json", data_files=str(exported["raft"]), split="train")
    assert {"messages", "oracle_ids", "distractor_ids", "oracle_included"} <= set(raft.column_names)
    for row in raft:
        assert len(row["distractor_ids"]) == 3
        assert not set(row["distractor_ids"]) & set(row["oracle_ids"])
        user = row["messages"][1]["content"]
        assert user.count("[") >= len(row["distractor_ids"])  # every source is numbered


def test_answer_markers_follow_the_sources_order_in_the_prompt(
    exported: dict[str, Path],
) -> None:
    """The verified answer's ``[n]`` point at the prompt's source holding the chunk it cites."""
    rows = [json.loads(line) for line in exported["raft"].read_text().splitlines()]
    for row in rows:
        if not row["oracle_included"]:
            assert "[" not in row["messages"][2]["content"]  # no oracle, no marker


def test_markers_are_renumbered_to_the_prompts_sources() -> None:
    from bot.training_data import _renumber

    cited = ("chunk-a", "chunk-b")  # [1] is chunk-a, [2] chunk-b
    position = {"chunk-x": 1, "chunk-b": 2, "chunk-a": 3}  # the prompt's order
    assert _renumber("A [1]. B [2]. Both [1, 2].", cited, position) == "A [3]. B [2]. Both [3][2]."
    assert _renumber("Gone [2].", cited, {"chunk-a": 1}) == "Gone."
