"""Fixtures of the Slack end-to-end tests: the fake Slack and a running bot.

Every test gets a fresh fake Slack (random port on 127.0.0.1) and a fresh feedback database;
the answer engine is shared (``slack_engine``) because building it is the slow part.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import pytest
from fake_slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack
from pydantic import SecretStr
from slack_harness import HUMAN_CONTACT, EngineSpy, Harness, MakeHarness

from bot.feedback import FeedbackStore
from bot.ops import AdminCommands
from bot.platforms.slack import SlackBot
from bot.service import AnswerEngine, SupportService
from bot.settings import Settings


@pytest.fixture(scope="session")
def slack_engine(kb_engine: AnswerEngine) -> AnswerEngine:
    """The real answer engine over the test knowledge base (shared: building it is slow)."""
    return kb_engine


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A fresh fake Slack on 127.0.0.1, closed after the test."""
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def make_harness(
    fake_slack: FakeSlack, slack_engine: AnswerEngine, tmp_path: Path
) -> AsyncIterator[MakeHarness]:
    """``await make_harness(mode, **settings)`` starts a bot (``socket`` or ``http``) against
    the fake Slack, with its own feedback database unless ``database_url`` names one (replicas
    sharing a database); everything is stopped after the test."""
    started: list[Harness] = []

    async def make(
        mode: Literal["socket", "http"],
        *,
        database_url: str | None = None,
        admin: AdminCommands | None = None,
        **overrides: Any,
    ) -> Harness:
        options: dict[str, Any] = {
            "slack_audiences": {},
            "slack_default_audience": "internal",
            "human_contact": HUMAN_CONTACT,
            **overrides,
        }
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]  # isolated from a developer's .env
            data_dir=tmp_path,
            slack_mode=mode,
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_app_token=SecretStr(APP_TOKEN),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_http_host="127.0.0.1",
            slack_http_port=0,
            slack_api_url=fake_slack.api_url,
            **options,
        )
        store = FeedbackStore(
            database_url or f"sqlite:///{tmp_path / f'feedback-{len(started)}.db'}"
        )
        spy = EngineSpy(slack_engine)
        service = SupportService(spy, store, human_contact=settings.human_contact)
        bot = SlackBot(settings, service, admin=admin)
        harness = Harness(mode, fake_slack, bot, store, spy)
        started.append(harness)
        await bot.start()
        if mode == "socket":
            await fake_slack.wait_connected()
        return harness

    yield make
    for harness in started:
        if harness.engine.gate is not None:
            harness.engine.gate.set()
        await harness.bot.stop()
        harness.store.close()
