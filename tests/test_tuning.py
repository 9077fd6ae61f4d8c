"""Retriever adaptation (bot.tuning, ``supportbot tune``): the training questions come from the
verified answers, hard negatives are never from a cited source, and a tuned model pulls its
questions towards their cited chunks, loads as an embedding_model, and is measured on
held-out questions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.tuning import TrainingQuestion, TuningError, hard_negatives, training_questions, tune
from knowledge.chunking import Chunk
from knowledge.embedding import Embedder
from tests.conftest import OFFICE_QUESTIONS as QUESTIONS
from tests.conftest import TESTS, make_settings


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SupportEngine, Path]]:
    """An engine over tests/data/office (internal), and its data folder."""
    data = tmp_path_factory.mktemp("tune-data")
    engine = SupportEngine.from_settings(make_settings(data))
    engine.kb.ingest([TESTS / "data" / "office"], audience="internal", progress=False)
    yield engine, data
    engine.close()


def labelled(chunks: list[Chunk]) -> list[TrainingQuestion]:
    return [
        TrainingQuestion(q, tuple(c.chunk_id for c in chunks if c.doc_id.endswith(doc)))
        for q, doc in QUESTIONS
    ]


async def test_training_questions_are_the_verified_answers_with_their_citations(
    office: tuple[SupportEngine, Path], tmp_path: Path
) -> None:
    engine, _ = office
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}")
    try:
        ids = []
        for q in (
            "When is the canteen open?",
            "when is the  CANTEEN open?",
            "Where do visitors park?",
        ):
            answer = await engine.answer(q, audience="internal")
            ids.append(await store.record_answer(answer))
        unverified = await engine.answer("Where is the fire assembly point?", audience="internal")
        await store.record_answer(unverified)
        chunks = engine.kb.index.all_chunks()
        lead_choice = next(c for c in chunks if c.doc_id.endswith("lunch.md")).chunk_id
        await store.curate(ids[0], "verified", reviewer="lead")
        await store.curate(
            ids[1],
            "corrected",
            reviewer="lead",
            text="9 to 3 [1].",
            citations=[{"chunk_id": lead_choice}],
        )
        await store.vote(ids[2], "U1", 1, source="reaction")
        await store.vote(ids[2], "U2", 1, source="reaction")

        lead_only = await training_questions(store)
        # One row per distinct question: the newer correction replaced the verification.
        assert [(q.question, q.chunk_ids) for q in lead_only] == [
            ("when is the  CANTEEN open?", (lead_choice,))
        ]
        with_votes = await training_questions(store, min_up_votes=2)
        assert {q.question for q in with_votes} == {
            "when is the  CANTEEN open?",
            "Where do visitors park?",
        }
    finally:
        store.close()


def test_hard_negatives_never_come_from_a_cited_source(
    office: tuple[SupportEngine, Path],
) -> None:
    engine, _ = office
    chunks = engine.kb.index.all_chunks()
    by_text = {c.embedding_text: c for c in chunks}
    questions = labelled(chunks)
    triples = hard_negatives(questions, chunks)
    assert len(triples) == sum(len(q.chunk_ids) for q in questions)
    for q, t in ((q, t) for q in questions for t in triples if t.anchor == q.question):
        cited = {c.source_id for c in chunks if c.chunk_id in q.chunk_ids}
        assert by_text[t.positive].source_id in cited
        assert by_text[t.negative].source_id not in cited


def test_a_tuned_model_pulls_questions_towards_their_cited_chunks(
    office: tuple[SupportEngine, Path], tmp_path: Path
) -> None:
    engine, _ = office
    chunks = engine.kb.index.all_chunks()
    questions = labelled(chunks)
    triples = hard_negatives(questions, chunks)
    base = engine.kb.embedder

    def margin(embedder: Embedder) -> float:
        a = embedder.embed([t.anchor for t in triples])
        p = embedder.embed([t.positive for t in triples])
        n = embedder.embed([t.negative for t in triples])
        return float(np.mean((a * p).sum(axis=1) - (a * n).sum(axis=1)))

    report = tune(
        questions,
        chunks,
        base_model=engine.kb.settings.embedding_model,
        out=tmp_path / "tuned",
        epochs=4,
        learning_rate=1e-4,
        holdout=0.0,
        progress=False,
    )
    assert report.triples == len(triples) and report.held_out == 0 and report.before == {}
    tuned = Embedder(str(tmp_path / "tuned"))  # loads as an embedding_model folder
    assert tuned.dim == base.dim
    assert margin(tuned) > margin(base) + 0.02


def test_tune_reports_held_out_questions_before_and_after(
    office: tuple[SupportEngine, Path], tmp_path: Path
) -> None:
    engine, _ = office
    chunks = engine.kb.index.all_chunks()
    report = tune(
        labelled(chunks),
        chunks,
        base_model=engine.kb.settings.embedding_model,
        out=tmp_path / "tuned",
        epochs=1,
        holdout=0.5,
        progress=False,
    )
    assert report.held_out == 5 and report.questions == 5
    assert set(report.before) == set(report.after) == {"hit@5", "mrr@10"}
    assert all(0.0 <= v <= 1.0 for v in [*report.before.values(), *report.after.values()])


def test_tune_without_verified_answers_says_what_to_do(
    office: tuple[SupportEngine, Path], tmp_path: Path
) -> None:
    engine, _ = office
    chunks = engine.kb.index.all_chunks()
    with pytest.raises(TuningError, match="verify or correct answers"):
        tune([TrainingQuestion("q?", ("gone",))], chunks, base_model="x", out=tmp_path / "m")


def test_the_tune_command_without_verified_answers_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    result = CliRunner().invoke(app, ["tune"])
    assert result.exit_code == 1
    assert "No verified answer cites a chunk" in result.output
    assert "Traceback" not in result.output


def test_the_tune_command_writes_a_model_from_the_verified_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command as a lead would run it: verified answers in the configured database, the
    index in data_dir, a model folder written and named in the output."""
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path)
    engine = SupportEngine.from_settings(settings)
    store = FeedbackStore.from_settings(settings)

    async def verify() -> None:
        for q, _ in QUESTIONS[:6]:
            answer_id = await store.record_answer(await engine.answer(q, audience="internal"))
            await store.curate(answer_id, "verified", reviewer="lead")

    try:
        engine.kb.ingest([TESTS / "data" / "office"], audience="internal", progress=False)
        asyncio.run(verify())
    finally:
        store.close()
        engine.close()
    out = tmp_path / "tuned"
    args = ["tune", "--epochs", "1", "--holdout", "0", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "6 verified questions" in result.output
    assert "no before/after report" in result.output  # nothing held out
    assert f"SUPPORTBOT_EMBEDDING_MODEL={out}" in result.output.replace("\n", "")
    assert Embedder(str(out)).dim == 384
