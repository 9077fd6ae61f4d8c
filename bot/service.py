"""The platform-neutral service the chat adapters call: ask, store, vote, deduplicate.

Everything that is not Slack- or Discord-specific lives here so both platforms get it: the
answer is produced by the engine, stored in the feedback store (so votes can be linked to it),
and failures become a short user-facing message while the details go to the log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot import metrics
from bot.feedback import FeedbackStore, database_error_reason
from bot.generators.openai_compat import OnText
from bot.logs import request_context
from bot.models import Answer, Turn
from bot.outbox import PendingVote, VoteOutbox, is_unavailable, now_iso
from bot.ratelimit import QuestionLimiter
from knowledge.index import index_unreachable

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

EMPTY_QUESTION_MESSAGE = (
    "I didn't catch a question in that message. Please type your question in words."
)
TOO_LONG_MESSAGE = (
    "That message is too long for me ({length:,} characters; I read questions of up to "
    "{limit:,}). Please ask it in a few sentences, or ask {human}."
)
# Characters that hide or reorder text: zero-width space, LRM/RLM, bidirectional embeddings and
# overrides (the "Trojan Source" trick, CVE-2021-42574), word joiner, isolates, BOM. ZWJ and
# ZWNJ (U+200C/D) stay: emoji sequences and Persian or Indic words need them.
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def clean_question(text: str) -> str:
    """``text`` as the core reads a question: lone surrogates (a JSON ``\\ud800`` escape)
    replaced by ``?``, control characters other than tab and newline and the invisible ones
    of ``_INVISIBLE`` removed, surrounding whitespace stripped."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch for ch in text if ch in "\t\n" or unicodedata.category(ch) != "Cc")
    return _INVISIBLE.sub("", text).strip()


INDEX_UNAVAILABLE_MESSAGE = (
    "I can't reach the knowledge base right now, so I can't look that up. Please try again in "
    "a few minutes, or ask {human}."
)
THROTTLED_MESSAGES = {
    "user": "You're asking faster than I can keep up. Please wait {seconds} s and ask again.",
    "channel": "This channel is asking me a lot right now. Please wait {seconds} s and ask "
    "again, or ask {human}.",
}
FAILURE_MESSAGE = (
    "Sorry, something went wrong while I was looking that up. Please try again in a minute, "
    "or ask {human}."
)


class AnswerEngine(Protocol):
    """What the service needs from the core (implemented by :class:`bot.engine.SupportEngine`)."""

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        audience: str = "public",
        on_text: OnText | None = None,
    ) -> Answer: ...


@dataclass(frozen=True)
class ChatContext:
    """Where a question came from. ``thread_ref`` and ids are platform-specific strings."""

    platform: str
    audience: str
    channel_id: str | None = None
    user_id: str | None = None
    thread_ref: str | None = None


@dataclass(frozen=True)
class Reply:
    """What to show: the answer and its stored id, or ``error`` (a user-facing sentence)."""

    answer: Answer | None
    answer_id: str | None
    error: str | None = None


def _outcome(answer: Answer) -> str:
    if answer.abstained:
        return f"abstained ({answer.abstain_reason or 'unknown'})"
    return "verified answer" if answer.generator == "verified" else "answer"


class SupportService:
    """Ask the engine, store the answer, record votes.

    Args:
        engine: the async answer engine.
        store: the feedback store.
        human_contact: who to point people to when something fails.
        log_text: also log the question's text at INFO (personal data; setting
            ``log_message_text``). At DEBUG it is logged regardless.
        outbox: where votes wait while the database is unavailable (:mod:`bot.outbox`);
            ``None``: a vote the database cannot take raises.
        max_question_chars: longer questions (after :func:`clean_question`) get
            :data:`TOO_LONG_MESSAGE` instead of an answer.
        limiter: per-user and per-channel question limits (:mod:`bot.ratelimit`); a question
            past one gets :data:`THROTTLED_MESSAGES` before any retrieval. ``None``: no limits.
    """

    def __init__(
        self,
        engine: AnswerEngine,
        store: FeedbackStore,
        *,
        human_contact: str = "a human",
        log_text: bool = False,
        outbox: VoteOutbox | None = None,
        max_question_chars: int = 4_000,
        limiter: QuestionLimiter | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.human_contact = human_contact
        self.log_text = log_text
        self.outbox = outbox
        self.max_question_chars = max_question_chars
        self.limiter = limiter

    @classmethod
    def from_settings(
        cls, engine: AnswerEngine, store: FeedbackStore, settings: Settings
    ) -> SupportService:
        """The service with ``human_contact`` and ``log_message_text`` from ``settings``, and
        the vote outbox at ``settings.vote_outbox_path``; votes left there by an earlier run
        start being written when a loop runs (call from async code)."""
        outbox = VoteOutbox(settings.vote_outbox_path, store)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no running loop: the first vote kept starts the writer
        else:
            outbox.resume()
        return cls(
            engine,
            store,
            human_contact=settings.human_contact,
            log_text=settings.log_message_text,
            outbox=outbox,
            max_question_chars=settings.max_question_chars,
            limiter=QuestionLimiter(settings.rate_limit_user, settings.rate_limit_channel)
            if settings.rate_limit_user or settings.rate_limit_channel
            else None,
        )

    async def ask(
        self,
        question: str,
        ctx: ChatContext,
        history: Sequence[Turn] = (),
        *,
        on_text: OnText | None = None,
    ) -> Reply:
        """Answer ``question`` for ``ctx``; never raises: failures come back as ``Reply.error``.

        ``on_text`` receives the text so far while an LLM answer streams (see
        :class:`bot.streaming.StreamedReply`); the returned answer is the final one. Every log
        line written meanwhile carries a new ``request_id`` (see :mod:`bot.logs`).
        """
        with request_context(platform=ctx.platform):
            return await self._ask(question, ctx, history, on_text)

    async def _ask(
        self, question: str, ctx: ChatContext, history: Sequence[Turn], on_text: OnText | None
    ) -> Reply:
        question = clean_question(question)
        if not question:  # only control or invisible characters were sent
            metrics.record_refusal(ctx.platform)
            return Reply(None, None, EMPTY_QUESTION_MESSAGE)
        if len(question) > self.max_question_chars:
            log.info("declined a %d-character message in %s", len(question), ctx.channel_id)
            metrics.record_refusal(ctx.platform)
            message = TOO_LONG_MESSAGE.format(
                length=len(question), limit=self.max_question_chars, human=self.human_contact
            )
            return Reply(None, None, message)
        throttled = (
            self.limiter.allow(ctx.platform, ctx.user_id, ctx.channel_id)
            if (self.limiter is not None)
            else None
        )
        if throttled is not None:
            log.info("throttled a question in %s (%s limit)", ctx.channel_id, throttled.scope)
            metrics.record_refusal(ctx.platform, outcome="throttled")
            message = THROTTLED_MESSAGES[throttled.scope].format(
                seconds=throttled.retry_after_s, human=self.human_contact
            )
            return Reply(None, None, message)
        log.debug("question in %s: %s", ctx.channel_id, question)
        try:
            answer = await self.engine.answer(
                question, history=history, audience=ctx.audience, on_text=on_text
            )
        except Exception as exc:
            if index_unreachable(exc):
                log.warning("the index is unavailable: %s", exc, exc_info=exc)
                metrics.record_failure(ctx.platform, outcome="unavailable")
                return Reply(None, None, INDEX_UNAVAILABLE_MESSAGE.format(human=self.human_contact))
            log.exception("answer failed for %s question in %s", ctx.platform, ctx.channel_id)
            metrics.record_failure(ctx.platform)
            return Reply(None, None, FAILURE_MESSAGE.format(human=self.human_contact))
        metrics.record_answer(answer, ctx.platform)
        answer_id: str | None = None
        try:
            answer_id = await self.store.record_answer(
                answer,
                platform=ctx.platform,
                channel_id=ctx.channel_id,
                user_id=ctx.user_id,
                thread_ref=ctx.thread_ref,
                history=history,
            )
        except Exception:
            # The person still gets the answer; only the feedback link is missing.
            log.exception("could not store the answer; votes on it cannot be linked")
        log.info(
            "answered: %s%s",
            _outcome(answer),
            f" to {question!r}" if self.log_text else "",
            extra={
                "answer_id": answer_id,
                "generator": answer.generator,
                "ms": round(answer.timings.total_ms),
                "citations": len(answer.citations),
            },
        )
        return Reply(answer, answer_id)

    async def link_message(
        self, answer_id: str, message_ref: str, *, permalink: str | None = None
    ) -> None:
        """Remember which platform message shows the answer (for reactions on it), and its
        web link when the platform gives one (for the review console)."""
        await self.store.link_message(answer_id, message_ref, permalink=permalink)

    async def _keep(self, vote: PendingVote, write: Callable[[], Awaitable[T]], kept: T) -> T:
        """``write()`` the vote, or keep it in the outbox when the database is unavailable (or
        votes already wait there: this one queues behind them) and return ``kept``.

        Raises:
            Exception: what ``write`` raises when there is no outbox or the database refused
                the vote itself (e.g. ``KeyError``: no such answer).
        """
        if self.outbox is not None and self.outbox.pending:
            await self.outbox.put(vote)
            return kept
        try:
            return await write()
        except Exception as exc:
            if self.outbox is None or not is_unavailable(exc):
                raise
            if not self.outbox.pending:  # once per outage, not once per vote
                log.warning(
                    "feedback database unavailable (%s): votes are kept in the outbox",
                    database_error_reason(exc),
                )
            await self.outbox.put(vote)
            return kept

    async def vote(self, answer_id: str, user_id: str, value: int, *, source: str) -> None:
        """Record a 👍 (+1) or 👎 (-1); one vote per person per answer. Kept in the outbox
        while the database is unavailable.

        Raises:
            ValueError: ``value`` is not +1 or -1.
            KeyError: no answer with that id.
        """
        if value not in (1, -1):
            raise ValueError(f"a vote is +1 or -1, not {value!r}")
        pending = PendingVote(
            "vote", user_id, answer_id=answer_id, value=value, source=source, at=now_iso()
        )
        await self._keep(
            pending, lambda: self.store.vote(answer_id, user_id, value, source=source), None
        )
        metrics.record_vote(source, value)

    async def vote_on_message(
        self, platform: str, message_ref: str, user_id: str, value: int, *, source: str
    ) -> bool:
        """Vote on the answer shown by a message; ``False`` if the message is not an answer.
        While the database is unavailable the vote is kept (``True``) and its message resolved
        when it is written."""
        if value not in (1, -1):
            raise ValueError(f"a vote is +1 or -1, not {value!r}")

        async def write() -> bool:
            answer_id = await self.store.answer_id_for_message(platform, message_ref)
            if answer_id is None:
                return False
            await self.store.vote(answer_id, user_id, value, source=source)
            return True

        pending = PendingVote(
            "vote",
            user_id,
            platform=platform,
            message_ref=message_ref,
            value=value,
            source=source,
            at=now_iso(),
        )
        voted = await self._keep(pending, write, True)
        if voted:
            metrics.record_vote(source, value)
        return voted

    async def withdraw_on_message(
        self, platform: str, message_ref: str, user_id: str, value: int | None = None
    ) -> bool:
        """Withdraw a vote given by a reaction that was removed; see FeedbackStore.withdraw_vote.

        While the database is unavailable the withdrawal is kept and ``False`` returned: whether
        a vote existed is unknown, and an adapter that toggles (withdraw, else vote) then
        records the vote, so a vote is never lost (an intended withdrawal may be)."""

        async def write() -> bool:
            answer_id = await self.store.answer_id_for_message(platform, message_ref)
            if answer_id is None:
                return False
            return await self.store.withdraw_vote(answer_id, user_id, value)

        pending = PendingVote(
            "withdraw",
            user_id,
            platform=platform,
            message_ref=message_ref,
            value=value,
            source="reaction",
            at=now_iso(),
        )
        withdrawn = await self._keep(pending, write, False)
        if withdrawn:
            metrics.record_vote("reaction", None)
        return withdrawn

    async def comment(self, answer_id: str, user_id: str, text: str) -> None:
        """Store a "what was wrong?" comment on the person's vote (kept in the outbox while the
        database is unavailable)."""
        pending = PendingVote("comment", user_id, answer_id=answer_id, text=text, at=now_iso())
        await self._keep(pending, lambda: self.store.comment(answer_id, user_id, text), None)

    async def aclose(self) -> None:
        """Stop writing kept votes; those not written yet stay in the outbox file for the next
        start."""
        if self.outbox is not None:
            await self.outbox.aclose()

    async def claim_event(self, platform: str, event_id: str) -> bool:
        """``True`` the first time an event id is seen (shared across replicas via the DB)."""
        return await self.store.claim_event(platform, event_id)
