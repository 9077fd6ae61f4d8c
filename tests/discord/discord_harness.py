"""Helpers of the Discord tests: the scenario world and running the real bot against the fake."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fake_discord import Call, FakeDiscord

from bot.feedback import FeedbackStore
from bot.generators.openai_compat import OnText
from bot.models import Answer, Turn
from bot.ops import AdminCommands
from bot.platforms.discord.client import SupportBot
from bot.service import AnswerEngine, SupportService
from bot.settings import Settings

TOKEN = "fake-discord-bot-token"
HUMAN = "#help-desk"
KB = Path(__file__).resolve().parents[1] / "data" / "kb"  # the kb_engine's documents
DOCS_SITE = "https://docs.acme.example"  # for Settings.source_base_url

# What the knowledge base in KB answers (public) and keeps for staff (internal).
PUBLIC_Q = "How many days do I have to return an item for a refund?"
PUBLIC_FACT = "30 days"
PUBLIC_TITLE = "Returns and Shipping Policy"
FOLLOW_UP_Q = "And how fast is express shipping?"
FOLLOW_UP_FACT = "1 business day"
INTERNAL_Q = "What is the salary band for a senior support engineer?"
INTERNAL_TITLE = "Internal Compensation and Escalation Guide"
INTERNAL_FACT = "95,000"
OFF_TOPIC_Q = "Which football club won the 1998 world cup final?"


@dataclass
class World:
    """The fake Discord with its channels and people."""

    fake: FakeDiscord
    general: int  # public text channel (guild default)
    staff: int  # text channel mapped to the internal audience
    forum: int  # forum channel with auto answers
    help_text: int  # text channel whose new threads are answered
    alice: dict[str, Any]
    bob: dict[str, Any]
    other_bot: dict[str, Any]

    def settings(self, data_dir: Path, **overrides: Any) -> Settings:
        """Settings mapping ``staff`` to internal and auto-answering ``forum`` and ``help_text``,
        with local storage and the extractive generator (no network)."""
        values: dict[str, Any] = {
            "data_dir": data_dir,
            # Local and offline whatever the developer's environment says:
            "qdrant_url": None,
            "database_url": None,
            "generator": "extractive",
            "rerank_model": None,
            "source_base_url": None,
            "discord_default_audience": "public",
            "discord_audiences": {str(self.staff): "internal"},
            "discord_auto_answer_channels": [str(self.forum), str(self.help_text)],
            "human_contact": HUMAN,
        }
        values.update(overrides)
        return Settings(**values)


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    service: SupportService,
    settings: Settings,
    *,
    admin: AdminCommands | None = None,
    **options: Any,
) -> AsyncIterator[SupportBot]:
    """Start the real bot against ``fake``; yield it once READY; close it afterwards.

    A failure of the bot's task (e.g. a gateway payload it could not parse) fails the waits of
    :class:`FakeDiscord` and is raised here at the latest.
    """
    bot = SupportBot(service, settings, guild_ready_timeout=0.05, admin=admin, **options)
    task = asyncio.create_task(bot.start(TOKEN), name="discord-bot")
    fake.watched.append(task)
    try:
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({task, ready}, timeout=30, return_when="FIRST_COMPLETED")
        if ready not in done:
            ready.cancel()
            if task.done():
                raise AssertionError(f"the bot stopped before READY: {task.exception()!r}")
            raise AssertionError("the bot did not become ready in 30 s")
        yield bot
    finally:
        fake.watched.remove(task)
        await bot.close()
        await asyncio.wait_for(task, 10)  # re-raises a failure of the bot task


def make_service(engine: AnswerEngine, data_dir: Path) -> SupportService:
    """A service with its own SQLite feedback store in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = FeedbackStore(f"sqlite:///{data_dir / 'feedback.db'}")
    return SupportService(engine, store, human_contact=HUMAN)


class EngineSpy:
    """Delegates to a real engine and records what it was asked (question, history, audience)."""

    def __init__(self, engine: AnswerEngine) -> None:
        self.engine = engine
        self.asked: list[tuple[str, tuple[Turn, ...], str]] = []
        self.stream: Sequence[str] = ()  # texts fed to on_text first, as an LLM streams
        self.stream_delay_s = 0.05

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        audience: str = "public",
        on_text: OnText | None = None,
    ) -> Answer:
        """Record the call, stream ``stream`` to ``on_text``, then answer with the real
        engine."""
        self.asked.append((question, tuple(history), audience))
        for text in self.stream if on_text is not None else ():
            await on_text(text)
            await asyncio.sleep(self.stream_delay_s)
        return await self.engine.answer(question, history=history, audience=audience)


class BrokenEngine:
    """An engine whose every answer fails, as when the index is unreachable."""

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        audience: str = "public",
        on_text: OnText | None = None,
    ) -> Answer:
        """Always raise."""
        raise ConnectionError("qdrant unreachable (simulated)")


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it is true; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def reply_to(message: dict[str, Any]) -> Callable[[Call], bool]:
    """Predicate: the bot posts a reply to ``message`` in its channel."""
    path = f"/channels/{message['channel_id']}/messages"

    def check(call: Call) -> bool:
        if call.method != "POST" or call.path != path or not isinstance(call.json, dict):
            return False
        ref = call.json.get("message_reference") or {}
        return str(ref.get("message_id")) == message["id"]

    return check
