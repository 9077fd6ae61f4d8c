"""The feedback store: answers, one vote per person, withdrawals, comments, event dedup.

Runs against SQLite, and also against PostgreSQL when ``SUPPORTBOT_TEST_POSTGRES_URL`` is set
(``.ci/run`` starts a local PostgreSQL server and sets it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.feedback import FeedbackStore
from bot.models import Answer, Citation, RetrievedChunk, Timings, Turn
from tests.conftest import database_at

POSTGRES_URL = os.environ.get("SUPPORTBOT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeedbackStore]:
    if request.param == "sqlite":
        s = FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}")
    else:
        s = FeedbackStore(POSTGRES_URL or "")
    yield s
    s.close()


def make_answer(question: str = "q?") -> Answer:
    return Answer(
        question=question,
        text="Thirty days [1].",
        citations=(Citation(1, "c1", "d.md", "Doc", "file:///d.md", "snippet", 0.5, section="S"),),
        abstained=False,
        confidence=0.8,
        generator="extractive",
        audience="public",
        timings=Timings(total_ms=12.5),
        retrieved=(RetrievedChunk("c1", "d.md", 0.5),),
        support=0.7,
    )


async def test_answer_is_stored_with_what_it_was_built_from(store: FeedbackStore) -> None:
    answer_id = await store.record_answer(
        make_answer(), platform="slack", channel_id="C1", user_id="U1", thread_ref="C1:1.0"
    )
    ref = f"C1:{uuid.uuid4().hex}"  # unique: the PostgreSQL database outlives a test run
    await store.link_message(answer_id, ref)
    assert await store.answer_id_for_message("slack", ref) == answer_id
    assert await store.answer_id_for_message("discord", ref) is None
    rec = await store.get_answer(answer_id)
    assert rec is not None
    assert (rec.question, rec.answer_text, rec.generator, rec.audience) == (
        "q?",
        "Thirty days [1].",
        "extractive",
        "public",
    )
    assert rec.citations[0]["title"] == "Doc" and rec.retrieved[0]["chunk_id"] == "c1"
    assert rec.latency_ms == 12.5 and rec.channel_id == "C1" and rec.user_id == "U1"


async def test_changing_a_vote_leaves_one_vote(store: FeedbackStore) -> None:
    answer_id = await store.record_answer(make_answer())
    await store.vote(answer_id, "U1", 1, source="reaction")
    await store.vote(answer_id, "U1", -1, source="button")
    votes = await store.votes(answer_id)
    assert [(v.user_id, v.value, v.source) for v in votes] == [("U1", -1, "button")]


async def test_concurrent_votes_are_all_kept_and_never_duplicated(store: FeedbackStore) -> None:
    answer_id = await store.record_answer(make_answer())
    users = [f"U{i}" for i in range(20)]
    # 20 people vote at once, and each of them sends the same vote twice.
    await asyncio.gather(
        *[
            store.vote(answer_id, u, 1 if i % 2 else -1, source="reaction")
            for i, u in enumerate(users)
        ],
        *[
            store.vote(answer_id, u, 1 if i % 2 else -1, source="reaction")
            for i, u in enumerate(users)
        ],
    )
    votes = await store.votes(answer_id)
    assert sorted(v.user_id for v in votes) == sorted(users)
    assert sum(v.value for v in votes) == 0


async def test_withdrawing_only_matches_the_removed_reaction(store: FeedbackStore) -> None:
    answer_id = await store.record_answer(make_answer())
    await store.vote(answer_id, "U1", 1, source="reaction")
    assert not await store.withdraw_vote(answer_id, "U1", -1)  # removing 👎 keeps the 👍
    assert len(await store.votes(answer_id)) == 1
    assert await store.withdraw_vote(answer_id, "U1", 1)
    assert await store.votes(answer_id) == []
    assert not await store.withdraw_vote(answer_id, "U1")


async def test_comment_is_attached_to_the_vote(store: FeedbackStore) -> None:
    answer_id = await store.record_answer(make_answer())
    await store.vote(answer_id, "U1", -1, source="button")
    await store.comment(answer_id, "U1", "It cited the wrong plan")
    (vote,) = await store.votes(answer_id)
    assert (vote.value, vote.comment) == (-1, "It cited the wrong plan")


async def test_invalid_votes_are_rejected(store: FeedbackStore) -> None:
    answer_id = await store.record_answer(make_answer())
    with pytest.raises(ValueError):
        await store.vote(answer_id, "U1", 2, source="x")
    with pytest.raises(KeyError):
        await store.vote(str(uuid.uuid4()), "U1", 1, source="x")


async def test_event_ids_are_claimed_once_even_concurrently(store: FeedbackStore) -> None:
    event = f"Ev{uuid.uuid4().hex}"
    results = await asyncio.gather(*[store.claim_event("slack", event) for _ in range(8)])
    assert results.count(True) == 1
    assert await store.claim_event("discord", event)  # ids are per platform


async def test_generation_fields_are_stored(store: FeedbackStore) -> None:
    answer = dataclasses.replace(
        make_answer(),
        generator="openai:qwen",
        model="qwen",
        tokens_in=812,
        tokens_out=64,
        partially_supported=True,
        unsupported_claims=("A made-up sentence.",),
        degraded=True,
    )
    rec = await store.get_answer(await store.record_answer(answer))
    assert rec is not None
    assert (rec.model, rec.tokens_in, rec.tokens_out) == ("qwen", 812, 64)
    assert rec.partially_supported and rec.degraded and not rec.uncited
    assert rec.unsupported_claims == ("A made-up sentence.",)


async def test_a_database_from_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    """A feedback.db created by the first schema (no alembic_version) keeps its rows and gains
    the new columns when the store opens it."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE answers (id VARCHAR(36) PRIMARY KEY, created_at DATETIME, "
                "platform VARCHAR(32), channel_id VARCHAR(128), user_id VARCHAR(128), "
                "thread_ref VARCHAR(128), message_ref VARCHAR(128), audience VARCHAR(16), "
                "question TEXT, answer_text TEXT, citations JSON, retrieved JSON, "
                "generator VARCHAR(64), abstained BOOLEAN, degraded BOOLEAN, confidence FLOAT, "
                "latency_ms FLOAT)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO answers VALUES ('old-1', '2026-01-01 00:00:00', 'slack', NULL, "
                "NULL, NULL, NULL, 'public', 'q?', 'a [1].', '[]', '[]', 'extractive', 0, 0, "
                "0.5, 10.0)"
            )
        )
    engine.dispose()
    store = FeedbackStore(url)
    try:
        old = await store.get_answer("old-1")
        assert old is not None and old.question == "q?" and old.model is None
        assert not old.partially_supported
        new = await store.get_answer(await store.record_answer(make_answer()))
        assert new is not None and new.abstain_reason is None
        tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
        assert {"answers", "votes", "processed_events", "alembic_version"} <= tables
    finally:
        store.close()


async def test_answer_vote_totals_follow_every_vote(store: FeedbackStore) -> None:
    """``answers.up``/``down`` (what the overview and the 👎 filter read) follow votes, a
    changed vote, a withdrawal and a comment."""
    answer_id = await store.record_answer(make_answer())

    async def totals() -> tuple[int, int]:
        rec = await store.get_answer(answer_id)
        assert rec is not None
        return rec.up, rec.down

    assert await totals() == (0, 0)
    await store.vote(answer_id, "U1", 1, source="button")
    await store.vote(answer_id, "U2", 1, source="button")
    assert await totals() == (2, 0)
    await store.vote(answer_id, "U2", -1, source="reaction")  # changes their mind
    assert await totals() == (1, 1)
    await store.comment(answer_id, "U3", "wrong plan")  # a 👎 with a comment
    assert await totals() == (1, 2)
    assert await store.withdraw_vote(answer_id, "U1")
    assert await totals() == (0, 2)


async def test_concurrent_votes_on_one_answer_are_all_counted(store: FeedbackStore) -> None:
    """Forty people voting on one answer at once: forty votes, and totals that match them
    (on PostgreSQL the answer row is locked, so two recounts never miss each other)."""
    answer_id = await store.record_answer(make_answer())
    await asyncio.gather(
        *(store.vote(answer_id, f"U{i}", 1 if i % 4 else -1, source="button") for i in range(40))
    )
    rec = await store.get_answer(answer_id)
    assert rec is not None
    assert len(await store.votes(answer_id)) == 40
    assert (rec.up, rec.down) == (30, 10)


async def test_thread_history_is_stored_with_the_answer(store: FeedbackStore) -> None:
    """The earlier turns an answer was given with are kept (the last six, as the prompt uses)."""
    turns = [Turn("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(8)]
    rec = await store.get_answer(await store.record_answer(make_answer(), history=turns))
    assert rec is not None
    assert rec.history == tuple(turns[-6:])
    bare = await store.get_answer(await store.record_answer(make_answer()))
    assert bare is not None and bare.history == ()


async def test_revision_0005_backfills_day_and_vote_totals(fresh_database: str) -> None:
    """A database at revision 0004 with answers and votes gains each answer's UTC day and its
    👍/👎 totals when the store opens it."""
    database_at(
        fresh_database,
        "0004",
        created_at=datetime(2026, 3, 4, 23, 30, tzinfo=UTC),
        votes=[("U1", 1), ("U2", -1), ("U3", -1)],
    )
    store = FeedbackStore(fresh_database)
    try:
        rec = await store.get_answer("a1")
        assert rec is not None and (rec.up, rec.down) == (1, 2)
        day = await store.read(
            lambda s: s.execute(sa.text("SELECT day FROM answers WHERE id = 'a1'")).scalar_one()
        )
        assert day == "2026-03-04"
    finally:
        store.close()
