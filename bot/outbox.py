"""The vote outbox: no vote is lost while the feedback database is unavailable.

A vote (👍/👎, its withdrawal, or a "what was wrong?" comment) that cannot be written because
the database is down, locked or unreachable (:func:`is_unavailable`) is appended to a JSON Lines
file in the data directory and flushed to disk (``fsync``) before the person is told it counted.
A background task writes the kept votes to the database in their order as soon as it answers
again, retrying with exponential backoff (0.2 s doubling to ``retry_max_s``). While any vote is
waiting, new votes queue behind it, so one person's later vote is never overtaken by their
earlier one (the transactional-outbox pattern, kept on the bot's side of the outage).

Nothing is counted twice: a vote is an upsert keyed by (answer, person), a withdrawal deletes
only a vote of the given value and a comment is an upsert too, so replaying the file from the
start (after a crash between writing a vote and emptying the file) gives the same result as
writing it once. The file is emptied only when every vote in it has been written. A vote the
database refuses for good (its answer does not exist) is logged and counted
(``supportbot_votes_rejected_total``), not retried forever. A line of the file that cannot be
read (a torn write at a crash) is logged, copied to ``<file>.rejected`` and skipped.

Limits: each bot replica has its own outbox, so two votes by one person on one answer through
two replicas during an outage are written in the order the replicas recover. A vote given by
message (a reaction) is resolved to its answer when it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bot import metrics
from bot.feedback import FeedbackStore, database_error_reason

log = logging.getLogger(__name__)

Operation = Literal["vote", "withdraw", "comment"]


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be used right now (down, unreachable, locked,
    connection pool exhausted, connection dropped), as opposed to refusing this write."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass(frozen=True)
class PendingVote:
    """A vote kept for later: the operation, who, on which answer (or on which platform
    message, resolved when written), the value (+1/-1; for a withdrawal, only a vote of this
    value is withdrawn, ``None`` any), how it came (``button``, ``reaction``…), a comment's
    text, and when it arrived (ISO 8601, UTC)."""

    op: Operation
    user_id: str
    answer_id: str | None = None
    platform: str | None = None
    message_ref: str | None = None
    value: int | None = None
    source: str = ""
    text: str | None = None
    at: str = ""

    def line(self) -> str:
        """The vote as one JSON line (with its newline)."""
        return json.dumps(asdict(self), ensure_ascii=False) + "\n"

    @classmethod
    def from_line(cls, line: str) -> PendingVote:
        """Parse :meth:`line`'s output.

        Raises:
            ValueError: not a pending vote (JSON, keys or operation wrong).
        """
        try:
            data = json.loads(line)
            vote = cls(**data)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"not a pending vote: {line[:80]!r}") from exc
        if vote.op not in ("vote", "withdraw", "comment"):
            raise ValueError(f"unknown operation {vote.op!r}")
        return vote


def now_iso() -> str:
    """The current time, ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat()


class VoteOutbox:
    """Votes kept on disk while the database is unavailable; see the module docstring.

    Args:
        path: the JSON Lines file (created when the first vote is kept). Votes already in it,
            from before a restart, are written once :meth:`resume` runs (or the next vote is
            kept).
        store: the feedback store the votes go to.
        retry_max_s: the longest wait between two attempts while the database stays away.
    """

    def __init__(self, path: Path, store: FeedbackStore, *, retry_max_s: float = 30.0) -> None:
        self.path = path
        self.store = store
        self.retry_max_s = retry_max_s
        self._pending: deque[PendingVote] = deque(self._read())
        self._lock = asyncio.Lock()
        self._empty = asyncio.Event()  # set while no vote waits
        if not self._pending:
            self._empty.set()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        """Votes from the outbox written to the database (since this process started)."""
        self.rejected = 0
        """Votes from the outbox the database refused for good."""
        metrics.VOTES_PENDING.set(len(self._pending))

    def _read(self) -> list[PendingVote]:
        if not self.path.exists():
            return []
        out = []
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    out.append(PendingVote.from_line(line))
                except ValueError as exc:
                    log.error("vote outbox %s line %d skipped: %s", self.path, n, exc)
                    with self.path.with_suffix(".rejected").open("a", encoding="utf-8") as bad:
                        bad.write(line if line.endswith("\n") else line + "\n")
        if out:
            log.warning("vote outbox: %d votes from before a restart wait to be written", len(out))
        return out

    @property
    def pending(self) -> int:
        """Votes kept and not yet written."""
        return len(self._pending)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _truncate(self) -> None:
        with self.path.open("w", encoding="utf-8") as f:
            f.flush()
            os.fsync(f.fileno())

    async def put(self, vote: PendingVote) -> None:
        """Keep ``vote`` (on disk before this returns; in a worker thread) and make sure the
        background writer runs.

        Raises:
            OSError: the file cannot be written (the disk is full or read-only).
        """
        async with self._lock:
            await asyncio.to_thread(self._append, vote.line())
            self._pending.append(vote)
            self._empty.clear()
            metrics.VOTES_PENDING.set(len(self._pending))
        self.resume()

    def resume(self) -> None:
        """Start the background writer if votes wait and it is not running (needs a running
        event loop)."""
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._drain(), name="vote-outbox")

    async def _apply(self, vote: PendingVote) -> None:
        """Write one kept vote.

        Raises:
            KeyError: its answer does not exist (or its message shows no answer).
            Exception: what the store raises (see :func:`is_unavailable`).
        """
        answer_id = vote.answer_id
        if answer_id is None:
            assert vote.platform is not None and vote.message_ref is not None
            answer_id = await self.store.answer_id_for_message(vote.platform, vote.message_ref)
            if answer_id is None:
                raise KeyError(f"{vote.platform} message {vote.message_ref}")
        if vote.op == "vote":
            assert vote.value is not None
            await self.store.vote(answer_id, vote.user_id, vote.value, source=vote.source)
        elif vote.op == "withdraw":
            await self.store.withdraw_vote(answer_id, vote.user_id, vote.value)
        else:
            await self.store.comment(answer_id, vote.user_id, vote.text or "")

    async def _drain(self) -> None:
        delay = 0.2
        announced = False
        while self._pending:
            vote = self._pending[0]
            try:
                await self._apply(vote)
            except Exception as exc:
                if is_unavailable(exc):
                    if not announced:
                        log.warning(
                            "feedback database unavailable (%s); %d votes kept, retrying",
                            database_error_reason(exc),
                            len(self._pending),
                        )
                        announced = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_max_s)
                    continue
                log.error("vote outbox: %s on %s refused for good: %r", vote.op, vote, exc)
                self.rejected += 1
                metrics.VOTES_REJECTED.inc()
            else:
                self.written += 1
            self._pending.popleft()
            metrics.VOTES_PENDING.set(len(self._pending))
            delay = 0.2
            if not self._pending:
                async with self._lock:  # no vote is appended between the check and the truncate
                    if not self._pending:
                        await asyncio.to_thread(self._truncate)
                        self._empty.set()
                        log.info("vote outbox: every kept vote is written")

    async def settled(self, timeout_s: float) -> bool:
        """Wait until no vote waits (at most ``timeout_s`` seconds); whether none does."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout_s)
        return not self._pending

    async def aclose(self) -> None:
        """Stop the background writer; votes not yet written stay in the file for the next
        start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
