"""The vote outbox (``bot.outbox``): 1,000 concurrent votes while the feedback database is made
unavailable and brought back are all written, none twice; votes kept before a restart are
written after it; a torn line of the file is skipped and reported.

"Unavailable" is real: on PostgreSQL the database stops taking connections and its sessions are
terminated; on SQLite another connection holds the write lock (``BEGIN EXCLUSIVE``), so writes
fail as "database is locked" after the busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.feedback import FeedbackStore
from bot.outbox import PendingVote, VoteOutbox, is_unavailable
from bot.service import SupportService
from tests.test_feedback import make_answer

ANSWERS = 4
VOTES = 1_000  # distinct people, spread over the answers
BUSY_TIMEOUT_S = 0.05


@contextlib.contextmanager
def unavailable(url: str) -> Iterator[None]:
    """The database at ``url`` cannot be written while the block runs."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(sa.engine.make_url(url).database or "", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    target = sa.engine.make_url(url)
    name = target.database
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()


def _service(store: FeedbackStore, path: Path) -> SupportService:
    return SupportService(
        engine=None,  # type: ignore[arg-type]  # votes never reach the engine
        store=store,
        outbox=VoteOutbox(path, store, retry_max_s=0.2),
    )


async def test_a_thousand_votes_across_an_outage_are_all_written_once(
    fresh_database: str, tmp_path: Path
) -> None:
    store = FeedbackStore(fresh_database, busy_timeout_s=BUSY_TIMEOUT_S)
    service = _service(store, tmp_path / "outbox.jsonl")
    assert service.outbox is not None
    try:
        answer_ids = []
        for n in range(ANSWERS):
            answer_id = await store.record_answer(make_answer(f"q{n}?"), platform="slack")
            await store.link_message(answer_id, f"msg-{n}")
            answer_ids.append(answer_id)
        expected = {a: [0, 0] for a in answer_ids}

        async def cast(i: int) -> None:
            n, value = i % ANSWERS, 1 if i % 3 else -1
            expected[answer_ids[n]][0 if value == 1 else 1] += 1
            if i % 2:  # half by button (answer id), half by reaction (the message)
                await service.vote(answer_ids[n], f"U{i}", value, source="button")
            else:
                assert await service.vote_on_message(
                    "slack", f"msg-{n}", f"U{i}", value, source="reaction"
                )

        third = VOTES // 3
        await asyncio.gather(*(cast(i) for i in range(third)))  # the database is up
        # (With a 50 ms busy timeout, SQLite's concurrent writers can lock each other out for
        # a moment: those votes are kept and written too.)
        assert await service.outbox.settled(60)
        with unavailable(fresh_database):
            await asyncio.gather(*(cast(i) for i in range(third, 2 * third)))
            assert service.outbox.pending > 0  # kept, not lost
            # Votes arriving as it comes back queue behind the kept ones.
            back = asyncio.gather(*(cast(i) for i in range(2 * third, VOTES)))
            await asyncio.sleep(0)
        await back
        assert await service.outbox.settled(60), f"{service.outbox.pending} votes still waiting"

        votes = await store.votes()
        assert len(votes) == VOTES  # every vote written …
        assert len({(v.answer_id, v.user_id) for v in votes}) == VOTES  # … once
        for answer_id, (up, down) in expected.items():
            record = await store.get_answer(answer_id)
            assert record is not None and (record.up, record.down) == (up, down)
        assert service.outbox.written >= third and service.outbox.rejected == 0
        assert (tmp_path / "outbox.jsonl").read_text() == ""  # emptied once all were written
    finally:
        await service.outbox.aclose()
        store.close()


async def test_votes_kept_before_a_restart_are_written_after_it(
    fresh_database: str, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.jsonl"
    store = FeedbackStore(fresh_database, busy_timeout_s=BUSY_TIMEOUT_S)
    answer_id = await store.record_answer(make_answer(), platform="discord")
    await store.link_message(answer_id, "m1")
    first = _service(store, path)
    assert first.outbox is not None
    with unavailable(fresh_database):
        await first.vote(answer_id, "U1", 1, source="button")
        await first.vote_on_message("discord", "m1", "U2", -1, source="reaction")
        await first.comment(answer_id, "U2", "the wrong plan")
        # U3 votes then withdraws: the two stay in order.
        await first.vote(answer_id, "U3", 1, source="button")
        await first.withdraw_on_message("discord", "m1", "U3", 1)
        await first.outbox.aclose()  # the process stops before the database returns
    store.close()
    with path.open("a") as f:
        f.write('{"op": "vote", "user_id": "U9", "answ')  # torn by the crash

    store = FeedbackStore(fresh_database)
    second = _service(store, path)
    assert second.outbox is not None
    try:
        assert second.outbox.pending == 5
        second.outbox.resume()
        assert await second.outbox.settled(30)
        votes = {v.user_id: v for v in await store.votes(answer_id)}
        assert set(votes) == {"U1", "U2"}
        assert votes["U1"].value == 1
        assert votes["U2"].value == -1 and votes["U2"].comment == "the wrong plan"
        assert "U9" in path.with_suffix(".rejected").read_text()
    finally:
        await second.outbox.aclose()
        store.close()


async def test_a_vote_on_a_missing_answer_is_refused_not_retried(
    fresh_database: str, tmp_path: Path
) -> None:
    store = FeedbackStore(fresh_database)
    outbox = VoteOutbox(tmp_path / "outbox.jsonl", store, retry_max_s=0.2)
    try:
        await outbox.put(PendingVote("vote", "U1", answer_id="nope", value=1, source="button"))
        assert await outbox.settled(10)
        assert (outbox.written, outbox.rejected) == (0, 1)
    finally:
        await outbox.aclose()
        store.close()


def test_only_an_unavailable_database_counts_as_unavailable() -> None:
    assert is_unavailable(sa.exc.OperationalError("INSERT", {}, Exception("database is locked")))
    assert not is_unavailable(sa.exc.IntegrityError("INSERT", {}, Exception("FOREIGN KEY")))
    assert not is_unavailable(KeyError("a1"))
    with pytest.raises(ValueError, match="not a pending vote"):
        PendingVote.from_line('{"op": "vote"')
