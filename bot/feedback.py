"""Feedback store: every answer the bot gives, and the 👍/👎 votes people leave on it.

SQLAlchemy 2 over SQLite by default (``<data_dir>/feedback.db``, WAL mode) or PostgreSQL via
``DATABASE_URL``; the schema is created and upgraded by Alembic migrations
(:mod:`bot.migrations`). Methods are ``async`` and run the blocking database work in a worker
thread so adapters never block the event loop.

Votes are one per (answer, user): a second vote by the same person replaces the first (an
``INSERT … ON CONFLICT DO UPDATE`` upsert, atomic in both SQLite and PostgreSQL, so two votes
arriving at once never produce two rows and never lose one). Slack/Discord event ids are
recorded in ``processed_events`` so several replicas sharing the database answer an event once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bot import migrations
from bot.citations import cited_chunk_ids
from bot.memory import LEAD_WEIGHT, VOTE_CAP, LinkedAnswer, VerifiedAnswer
from bot.models import Answer, Turn
from knowledge.sync import DocumentInfo, SyncReport

if TYPE_CHECKING:
    from bot.settings import Settings

T = TypeVar("T")

HISTORY_KEPT = 6
"""Earlier turns stored with an answer (as many as the prompt uses,
:func:`bot.prompt.build_messages`' ``max_history_turns``)."""


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the feedback tables."""


class AnswerRow(Base):
    """One answer given by the bot, with what it was built from."""

    __tablename__ = "answers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    platform: Mapped[str] = mapped_column(String(32), default="console")
    channel_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    thread_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    message_ref: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    audience: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(Text)
    answer_text: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    retrieved: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    generator: Mapped[str] = mapped_column(String(64))
    abstained: Mapped[bool] = mapped_column(Boolean)
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    tokens_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_out: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uncited: Mapped[bool] = mapped_column(Boolean, default=False)
    partially_supported: Mapped[bool] = mapped_column(Boolean, default=False)
    unsupported_claims: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    abstain_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The UTC day of created_at, and the current 👍/👎 totals of the votes table (kept in step
    # in each vote's transaction): what the overview reads, from ix_answers_overview alone.
    day: Mapped[str | None] = mapped_column(String(10), nullable=True)
    up: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    down: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    history: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, nullable=True)
    permalink: Mapped[str | None] = mapped_column(String(512), nullable=True)

    __table_args__ = (
        Index(
            "ix_answers_overview",
            "day",
            "created_at",
            "abstained",
            "degraded",
            "latency_ms",
            "up",
            "down",
        ),
    )


def utc_day(when: datetime) -> str:
    """``YYYY-MM-DD`` of ``when`` in UTC (a naive datetime is taken as UTC)."""
    when = when.astimezone(UTC) if when.tzinfo else when
    return when.strftime("%Y-%m-%d")


class VoteRow(Base):
    """A person's current vote on an answer: +1 (👍) or -1 (👎), with an optional comment."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("answer_id", "user_id", name="uq_vote_answer_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(128))
    value: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ProcessedEvent(Base):
    """A platform event id already handled (deduplication of retried deliveries)."""

    __tablename__ = "processed_events"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class SyncRunRow(Base):
    """One source's part of a sync run: when, what triggered it, what changed, what failed."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(128), index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class DocumentRow(Base):
    """One document a source holds in the index, as of that source's last applied sync."""

    __tablename__ = "documents"

    origin: Mapped[str] = mapped_column(String(128), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    uri: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16))
    chunks: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class MemoryStatusRow(Base):
    """Whether a verified answer is stale (its cited chunks changed or gone), as the serving
    bot's answer memory last found (:class:`bot.ops.MemoryRefresher`)."""

    __tablename__ = "memory_status"

    answer_id: Mapped[str] = mapped_column(
        ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True
    )
    stale: Mapped[bool] = mapped_column(Boolean)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


CURATION_ACTIONS = ("verified", "corrected", "wrong", "dismissed")


class CurationRow(Base):
    """A support lead's decision on an answer: ``verified``, ``corrected`` (with the corrected
    text and the citations chosen from the retrieved sources), ``wrong`` or ``dismissed``."""

    __tablename__ = "curations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def newest_curations(s: Session) -> dict[str, CurationRow]:
    """``answer_id → its newest curation`` (every decision is kept; the newest wins)."""
    newest: dict[str, CurationRow] = {}
    for c in s.scalars(select(CurationRow).order_by(CurationRow.created_at, CurationRow.id)):
        newest[c.answer_id] = c
    return newest


@dataclass(frozen=True)
class CurationRecord:
    """A stored curation (see :meth:`FeedbackStore.curate`)."""

    answer_id: str
    action: str
    text: str | None
    citations: list[dict[str, Any]]
    reviewer: str
    created_at: datetime


@dataclass(frozen=True)
class SyncRunRecord:
    """A stored sync run of one source (see :meth:`FeedbackStore.sync_runs`). ``error`` is the
    listing error or the mass-delete guard's message; ``details`` the full report
    (:meth:`knowledge.sync.SourceReport.as_dict`)."""

    source: str
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime
    added: int
    changed: int
    removed: int
    unchanged: int
    skipped: int
    error: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class VoteRecord:
    """A stored vote as returned by :meth:`FeedbackStore.votes`."""

    answer_id: str
    user_id: str
    value: int
    source: str
    comment: str | None


@dataclass(frozen=True)
class AnswerRecord:
    """A stored answer as returned by :meth:`FeedbackStore.get_answer`."""

    id: str
    platform: str
    channel_id: str | None
    user_id: str | None
    message_ref: str | None
    audience: str
    question: str
    answer_text: str
    citations: list[dict[str, Any]]
    retrieved: list[dict[str, Any]]
    generator: str
    abstained: bool
    latency_ms: float
    created_at: datetime
    degraded: bool = False
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    uncited: bool = False
    partially_supported: bool = False
    unsupported_claims: tuple[str, ...] = ()
    abstain_reason: str | None = None
    history: tuple[Turn, ...] = ()
    up: int = 0
    down: int = 0
    permalink: str | None = None


def _record(r: AnswerRow) -> AnswerRecord:
    return AnswerRecord(
        id=r.id,
        platform=r.platform,
        channel_id=r.channel_id,
        user_id=r.user_id,
        message_ref=r.message_ref,
        audience=r.audience,
        question=r.question,
        answer_text=r.answer_text,
        citations=r.citations,
        retrieved=r.retrieved,
        generator=r.generator,
        abstained=r.abstained,
        latency_ms=r.latency_ms,
        created_at=r.created_at,
        degraded=bool(r.degraded),
        model=r.model,
        tokens_in=r.tokens_in,
        tokens_out=r.tokens_out,
        uncited=bool(r.uncited),
        partially_supported=bool(r.partially_supported),
        unsupported_claims=tuple(r.unsupported_claims or ()),
        abstain_reason=r.abstain_reason,
        history=tuple(
            Turn("user" if t.get("role") == "user" else "assistant", str(t.get("text", "")))
            for t in r.history or ()
        ),
        up=int(r.up or 0),
        down=int(r.down or 0),
        permalink=r.permalink,
    )


def _recount(s: Session, answer_id: str | None) -> None:
    """Set ``answers.up``/``down`` from the votes of one answer (or of all, with ``None``)."""

    def total(value: int) -> Any:
        return (
            select(func.count())
            .select_from(VoteRow)
            .where(VoteRow.answer_id == AnswerRow.id, VoteRow.value == value)
            .scalar_subquery()
        )

    stmt = update(AnswerRow).values(up=total(1), down=total(-1))
    if answer_id is not None:
        stmt = stmt.where(AnswerRow.id == answer_id)
    s.execute(stmt.execution_options(synchronize_session=False))


def _sqlite_pragmas(busy_timeout_s: float) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets readers and one writer proceed together; busy_timeout makes concurrent
        # writers wait for the lock instead of failing (https://www.sqlite.org/wal.html).
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def make_engine(url: str, *, busy_timeout_s: float = 30.0) -> Engine:
    """Create the SQLAlchemy engine for ``url`` (SQLite gets WAL, a busy timeout of
    ``busy_timeout_s`` seconds and threads, and its file's folder is created)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s}
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
        return engine
    return create_engine(url, pool_pre_ping=True)


def database_error_reason(exc: BaseException) -> str:
    """The first line of what the database driver said (SQLAlchemy wraps it in ``orig``)."""
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["unknown error"])[0]


class FeedbackStore:
    """Answers, votes and processed event ids; see the module docstring.

    Args:
        url: a SQLAlchemy database URL (``sqlite:///path`` or ``postgresql+psycopg://…``).
        upgrade: create or upgrade the schema at open (Alembic, :mod:`bot.migrations`); when
            false the database must already be at the newest revision.
        busy_timeout_s: SQLite only: how long a write waits for another writer's lock before
            it fails as "database is locked" (then votes go to the outbox, :mod:`bot.outbox`).

    Raises:
        bot.migrations.SchemaOutdatedError: ``upgrade`` is false and the schema is not current.
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """

    def __init__(self, url: str, *, upgrade: bool = True, busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self._engine = make_engine(url, busy_timeout_s=busy_timeout_s)
        try:
            if upgrade:
                migrations.upgrade(self._engine)
            else:
                migrations.check(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedbackStore:
        """The store at ``settings.resolved_database_url``, upgraded at open unless
        ``database_auto_upgrade`` is off. Raises what the constructor raises."""
        return cls(settings.resolved_database_url, upgrade=settings.database_auto_upgrade)

    # -- plumbing -----------------------------------------------------------------------------
    async def _run(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with self._sessions.begin() as session:
                return fn(session)

        return await asyncio.to_thread(work)

    @property
    def dialect(self) -> str:
        """The database: ``sqlite`` or ``postgresql``."""
        return str(self._engine.dialect.name)

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` with a session in a worker thread (for reports over the tables, e.g.
        :mod:`bot.review.feedback_report`)."""
        return await self._run(fn)

    def _insert(self, table: Any) -> Any:
        dialect = self._engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table)
        if dialect == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"feedback store supports SQLite and PostgreSQL, not {dialect}")

    async def ping(self) -> None:
        """Check that the database answers (``SELECT 1`` in a worker thread).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or is locked.
        """

        def work() -> None:
            with self._engine.connect() as conn:
                conn.execute(sql_text("SELECT 1"))

        await asyncio.to_thread(work)

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()

    # -- answers ------------------------------------------------------------------------------
    async def record_answer(
        self,
        answer: Answer,
        *,
        platform: str = "console",
        channel_id: str | None = None,
        user_id: str | None = None,
        thread_ref: str | None = None,
        message_ref: str | None = None,
        history: Sequence[Turn] = (),
        created_at: datetime | None = None,
    ) -> str:
        """Store an answer and return its id (a UUID4 string). ``history``: the thread's
        earlier turns that the answer was given with (the last :data:`HISTORY_KEPT` are kept,
        for the review console); ``created_at``: when it was given (default now; an import or
        the demo sets it)."""
        answer_id = str(uuid.uuid4())
        now = created_at or _now()
        row = AnswerRow(
            id=answer_id,
            created_at=now,
            day=utc_day(now),
            history=[{"role": t.role, "text": t.text} for t in list(history)[-HISTORY_KEPT:]]
            or None,
            platform=platform,
            channel_id=channel_id,
            user_id=user_id,
            thread_ref=thread_ref,
            message_ref=message_ref,
            audience=answer.audience,
            question=answer.question,
            answer_text=answer.text,
            citations=[asdict(c) for c in answer.citations],
            retrieved=[asdict(r) for r in answer.retrieved],
            generator=answer.generator,
            abstained=answer.abstained,
            degraded=answer.degraded,
            confidence=answer.confidence,
            latency_ms=answer.timings.total_ms,
            model=answer.model,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            uncited=answer.uncited,
            partially_supported=answer.partially_supported,
            unsupported_claims=list(answer.unsupported_claims),
            abstain_reason=answer.abstain_reason,
        )
        await self._run(lambda s: s.add(row))
        return answer_id

    async def link_message(
        self, answer_id: str, message_ref: str, *, permalink: str | None = None
    ) -> None:
        """Record the platform message that shows the answer (e.g. ``"C123:1700000000.0001"``),
        and its web link when the platform gives one (Discord's ``Message.jump_url``)."""

        def work(s: Session) -> None:
            row = s.get(AnswerRow, answer_id)
            if row is None:
                raise KeyError(answer_id)
            row.message_ref = message_ref
            if permalink:
                row.permalink = permalink

        await self._run(work)

    async def answer_id_for_message(self, platform: str, message_ref: str) -> str | None:
        """The id of the answer shown by a platform message, or ``None`` if it is not ours."""
        stmt = select(AnswerRow.id).where(
            AnswerRow.platform == platform, AnswerRow.message_ref == message_ref
        )
        return await self._run(lambda s: s.scalars(stmt).first())

    async def get_answer(self, answer_id: str) -> AnswerRecord | None:
        """The stored answer, or ``None``."""

        def work(s: Session) -> AnswerRecord | None:
            row = s.get(AnswerRow, answer_id)
            return _record(row) if row is not None else None

        return await self._run(work)

    # -- votes --------------------------------------------------------------------------------
    async def vote(self, answer_id: str, user_id: str, value: int, *, source: str) -> None:
        """Set ``user_id``'s vote on the answer to ``value`` (+1 or -1), replacing any earlier one.

        Raises:
            ValueError: ``value`` is not +1 or -1.
            KeyError: no answer with that id.
        """
        if value not in (1, -1):
            raise ValueError(f"a vote is +1 or -1, not {value!r}")
        now = _now()
        stmt = self._insert(VoteRow).values(
            answer_id=answer_id,
            user_id=user_id,
            value=value,
            source=source,
            created_at=now,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["answer_id", "user_id"],
            set_={"value": value, "source": source, "updated_at": now},
        )

        def work(s: Session) -> None:
            self._lock_answer(s, answer_id)
            s.execute(stmt)
            _recount(s, answer_id)

        try:
            await self._run(work)
        except IntegrityError as exc:  # foreign key: the answer does not exist
            raise KeyError(answer_id) from exc

    async def withdraw_vote(self, answer_id: str, user_id: str, value: int | None = None) -> bool:
        """Delete ``user_id``'s vote; with ``value``, only if the vote has that value.

        Returns whether a vote was deleted. (Removing a 👎 reaction must not withdraw a 👍 that
        the same person cast afterwards.)
        """

        def work(s: Session) -> bool:
            stmt = select(VoteRow).where(VoteRow.answer_id == answer_id, VoteRow.user_id == user_id)
            row = s.scalars(stmt).first()
            if row is None or (value is not None and row.value != value):
                return False
            self._lock_answer(s, answer_id)
            s.delete(row)
            s.flush()
            _recount(s, answer_id)
            return True

        return await self._run(work)

    async def comment(self, answer_id: str, user_id: str, text: str) -> None:
        """Attach a free-text comment ("what was wrong?") to the person's vote, creating a 👎
        vote if they have none yet."""
        now = _now()
        stmt = self._insert(VoteRow).values(
            answer_id=answer_id,
            user_id=user_id,
            value=-1,
            source="comment",
            comment=text,
            created_at=now,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["answer_id", "user_id"], set_={"comment": text, "updated_at": now}
        )

        def work(s: Session) -> None:
            self._lock_answer(s, answer_id)
            s.execute(stmt)
            _recount(s, answer_id)

        await self._run(work)

    def _lock_answer(self, s: Session, answer_id: str) -> None:
        """On PostgreSQL, lock the answer's row first, so concurrent votes on one answer
        recount its totals one after another (SQLite has one writer at a time already, and a
        read before the first write would risk a busy snapshot there)."""
        if self.dialect == "postgresql":
            s.execute(select(AnswerRow.id).where(AnswerRow.id == answer_id).with_for_update())

    async def recount_votes(self) -> None:
        """Recompute every answer's 👍/👎 totals from the votes table (after a bulk load, or
        as a repair; votes cast through the store keep them in step already)."""
        await self._run(lambda s: _recount(s, None))

    async def votes(self, answer_id: str | None = None) -> list[VoteRecord]:
        """All current votes, or those on one answer."""
        stmt = select(VoteRow)
        if answer_id is not None:
            stmt = stmt.where(VoteRow.answer_id == answer_id)

        def work(s: Session) -> list[VoteRecord]:
            return [
                VoteRecord(r.answer_id, r.user_id, r.value, r.source, r.comment)
                for r in s.scalars(stmt)
            ]

        return await self._run(work)

    # -- event deduplication ------------------------------------------------------------------
    async def claim_event(self, platform: str, event_id: str) -> bool:
        """Mark an event as handled; ``True`` the first time, ``False`` for a repeat delivery."""
        stmt = (
            self._insert(ProcessedEvent)
            .values(platform=platform, event_id=event_id, created_at=_now())
            .on_conflict_do_nothing(index_elements=["platform", "event_id"])
            .returning(ProcessedEvent.event_id)
        )
        # RETURNING yields a row only when this call inserted it (rowcount is unreliable here).
        return await self._run(lambda s: s.execute(stmt).first() is not None)

    # -- curation -----------------------------------------------------------------------------
    async def curate(
        self,
        answer_id: str,
        action: str,
        *,
        reviewer: str,
        text: str | None = None,
        citations: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Record a lead's decision on an answer (every decision is kept, newest wins).

        Raises:
            ValueError: an unknown action, or ``corrected`` without a text.
            KeyError: no answer with that id.
        """
        if action not in CURATION_ACTIONS:
            raise ValueError(f"unknown curation action {action!r}")
        if action == "corrected" and not (text or "").strip():
            raise ValueError("a correction needs the corrected answer")
        row = CurationRow(
            answer_id=answer_id,
            action=action,
            text=(text or "").strip() or None,
            citations=list(citations),
            reviewer=reviewer,
            created_at=_now(),
        )

        def work(s: Session) -> None:
            if s.get(AnswerRow, answer_id) is None:
                raise KeyError(answer_id)
            s.add(row)

        await self._run(work)

    async def curations(self, answer_id: str) -> list[CurationRecord]:
        """Decisions on an answer, oldest first."""
        stmt = (
            select(CurationRow)
            .where(CurationRow.answer_id == answer_id)
            .order_by(CurationRow.created_at, CurationRow.id)
        )

        def work(s: Session) -> list[CurationRecord]:
            return [
                CurationRecord(
                    r.answer_id, r.action, r.text, list(r.citations or []), r.reviewer, r.created_at
                )
                for r in s.scalars(stmt)
            ]

        return await self._run(work)

    async def verified_answers(self, *, min_up_votes: int = 0) -> list[VerifiedAnswer]:
        """The verified answers (see :mod:`bot.memory`), oldest first: those whose newest
        curation is ``verified`` (the answer as given) or ``corrected`` (the lead's text and
        chosen citations), and, with ``min_up_votes`` > 0, answers with at least that many
        👍 from distinct people and no 👎 that no lead marked ``wrong`` or ``dismissed``.
        Abstentions count only when corrected; an answer must cite something to be served."""

        def work(s: Session) -> list[VerifiedAnswer]:
            newest = newest_curations(s)
            ids = [a for a, c in newest.items() if c.action in ("verified", "corrected")]
            by_votes: list[str] = []
            if min_up_votes > 0:
                stmt = select(AnswerRow.id).where(
                    AnswerRow.up >= min_up_votes,
                    AnswerRow.down == 0,
                    AnswerRow.abstained.is_(False),
                )
                by_votes = [a for a in s.scalars(stmt) if a not in newest]
            rows = {
                r.id: r
                for start in range(0, len(ids) + len(by_votes), 500)
                for r in s.scalars(
                    select(AnswerRow).where(AnswerRow.id.in_((ids + by_votes)[start : start + 500]))
                )
            }
            out = []
            for answer_id in ids + by_votes:
                row = rows.get(answer_id)
                if row is None:
                    continue
                cur = newest.get(answer_id)
                corrected = cur is not None and cur.action == "corrected"
                if not corrected and row.abstained:
                    continue
                # The answer's markers are [1]..[m] in citation-number order (the engine
                # renumbers); a correction's follow the order the lead chose them in.
                chunk_ids = cited_chunk_ids(
                    cur.citations if corrected and cur is not None else row.citations
                )
                if not chunk_ids:
                    continue
                out.append(
                    VerifiedAnswer(
                        answer_id=answer_id,
                        question=row.question,
                        text=(cur.text if corrected and cur is not None else None)
                        or row.answer_text,
                        chunk_ids=chunk_ids,
                        audience=row.audience,
                        by="lead" if cur is not None else "votes",
                        corrected=corrected,
                    )
                )
            out.sort(key=lambda v: rows[v.answer_id].created_at)
            return out

        return await self._run(work)

    async def feedback_links(self) -> list[LinkedAnswer]:
        """Question → chunk weights from feedback (:class:`bot.memory.FeedbackLinks`), one per
        answer that has any: its cited chunks get ``+min(👍, VOTE_CAP) − min(👎, VOTE_CAP)``;
        a lead's decision replaces the votes: ``verified`` gives them ``+LEAD_WEIGHT``,
        ``wrong`` ``−LEAD_WEIGHT``, ``corrected`` gives the chosen citations ``+LEAD_WEIGHT``
        and the answer's other cited chunks ``−LEAD_WEIGHT``; ``dismissed`` removes them."""

        def work(s: Session) -> list[LinkedAnswer]:
            newest = newest_curations(s)
            stmt = select(AnswerRow).where(
                or_(AnswerRow.up > 0, AnswerRow.down > 0, AnswerRow.id.in_(list(newest)))
            )
            out = []
            for row in s.scalars(stmt):
                cited = cited_chunk_ids(row.citations)
                decision = newest.get(row.id)
                weights: dict[str, float] = {}
                if decision is None:
                    w = float(min(row.up, VOTE_CAP) - min(row.down, VOTE_CAP))
                    weights = {c: w for c in cited} if w else {}
                elif decision.action in ("verified", "wrong"):
                    sign = 1.0 if decision.action == "verified" else -1.0
                    weights = {c: sign * LEAD_WEIGHT for c in cited}
                elif decision.action == "corrected":
                    chosen = cited_chunk_ids(decision.citations)
                    weights = {c: -LEAD_WEIGHT for c in cited if c not in chosen}
                    weights.update({c: LEAD_WEIGHT for c in chosen})
                if weights:
                    out.append(LinkedAnswer(row.id, row.question, row.audience, weights))
            return out

        return await self._run(work)

    async def set_stale(self, verified: Sequence[str], stale: Sequence[str]) -> None:
        """Record the memory's status of the ``verified`` answer ids: those in ``stale`` are
        stale, the others served; answers no longer verified lose their status."""
        now, stale_ids = _now(), set(stale)

        def work(s: Session) -> None:
            s.execute(delete(MemoryStatusRow))
            s.add_all(
                MemoryStatusRow(answer_id=a, stale=a in stale_ids, checked_at=now)
                for a in dict.fromkeys(verified)
            )

        await self._run(work)

    async def memory_status(self, answer_id: str | None = None) -> dict[str, tuple[bool, datetime]]:
        """``answer_id → (stale, checked_at)`` of the verified answers as last recorded (of
        one answer, when given)."""
        stmt = select(MemoryStatusRow)
        if answer_id is not None:
            stmt = stmt.where(MemoryStatusRow.answer_id == answer_id)

        def work(s: Session) -> dict[str, tuple[bool, datetime]]:
            return {r.answer_id: (bool(r.stale), r.checked_at) for r in s.scalars(stmt)}

        return await self._run(work)

    async def stale_answers(self) -> list[AnswerRecord]:
        """The verified answers the memory last found stale, newest first."""
        stmt = (
            select(AnswerRow)
            .join(MemoryStatusRow, MemoryStatusRow.answer_id == AnswerRow.id)
            .where(MemoryStatusRow.stale.is_(True))
            .order_by(AnswerRow.created_at.desc())
        )
        return await self._run(lambda s: [_record(r) for r in s.scalars(stmt)])

    # -- sync history -------------------------------------------------------------------------
    async def record_sync(
        self,
        report: dict[str, Any],
        *,
        trigger: str,
        dry_run: bool,
        started_at: datetime,
        finished_at: datetime,
    ) -> None:
        """Store one source's sync report (:meth:`knowledge.sync.SourceReport.as_dict`)."""
        row = SyncRunRow(
            source=str(report["source"]),
            trigger=trigger,
            dry_run=dry_run,
            started_at=started_at,
            finished_at=finished_at,
            added=len(report["added"]),
            changed=len(report["changed"]),
            removed=len(report["removed"]),
            unchanged=int(report["unchanged"]),
            skipped=len(report["skipped"]),
            error=report.get("error") or report.get("blocked"),
            details=report,
        )
        await self._run(lambda s: s.add(row))

    async def sync_runs(
        self, source: str | None = None, *, limit: int = 20, applied_only: bool = False
    ) -> list[SyncRunRecord]:
        """Sync runs, newest first (of one source, and without dry runs when asked)."""
        stmt = select(SyncRunRow).order_by(SyncRunRow.started_at.desc(), SyncRunRow.id.desc())
        if source is not None:
            stmt = stmt.where(SyncRunRow.source == source)
        if applied_only:
            stmt = stmt.where(SyncRunRow.dry_run.is_(False))
        stmt = stmt.limit(limit)

        def work(s: Session) -> list[SyncRunRecord]:
            return [
                SyncRunRecord(
                    r.source,
                    r.trigger,
                    bool(r.dry_run),
                    r.started_at,
                    r.finished_at,
                    r.added,
                    r.changed,
                    r.removed,
                    r.unchanged,
                    r.skipped,
                    r.error,
                    dict(r.details or {}),
                )
                for r in s.scalars(stmt)
            ]

        return await self._run(work)

    # -- document inventory -------------------------------------------------------------------
    async def set_documents(self, origin: str, documents: Sequence[DocumentInfo]) -> None:
        """Replace the inventory of source ``origin`` with ``documents`` (what it holds in the
        index after an applied sync; see :class:`knowledge.sync.SourceReport`)."""
        now = _now()

        def work(s: Session) -> None:
            s.execute(delete(DocumentRow).where(DocumentRow.origin == origin))
            s.add_all(
                DocumentRow(
                    origin=origin,
                    doc_id=d.doc_id,
                    title=d.title,
                    uri=d.uri,
                    audience=d.audience,
                    chunks=d.chunks,
                    synced_at=now,
                )
                for d in documents
            )

        await self._run(work)

    async def record_inventory(self, report: SyncReport) -> None:
        """Store the inventory of every source of an applied sync (sources of a dry run, or
        whose run applied nothing, keep theirs)."""
        for r in report.sources:
            if r.documents is not None:
                await self.set_documents(r.source, r.documents)

    async def documents(self) -> list[tuple[str, DocumentInfo]]:
        """The inventory: ``(origin, document)`` for every document of every source."""
        stmt = select(DocumentRow).order_by(DocumentRow.origin, DocumentRow.doc_id)

        def work(s: Session) -> list[tuple[str, DocumentInfo]]:
            return [
                (r.origin, DocumentInfo(r.doc_id, r.title, r.uri, r.audience, r.chunks))
                for r in s.scalars(stmt)
            ]

        return await self._run(work)

    async def answers(self, limit: int | None = None) -> Sequence[AnswerRecord]:
        """Stored answers, newest first."""
        stmt = select(AnswerRow).order_by(AnswerRow.created_at.desc())
        if limit:
            stmt = stmt.limit(limit)
        return await self._run(lambda s: [_record(r) for r in s.scalars(stmt)])
