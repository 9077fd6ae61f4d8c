"""Fixtures of the Discord tests: a local fake Discord that discord.py is pointed at."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord_harness import TOKEN, World
from fake_discord import FakeDiscord, FakeGuild, snowflake, user_payload

from bot.engine import SupportEngine


@pytest.fixture(scope="session")
def discord_engine(kb_engine: SupportEngine) -> SupportEngine:
    """The real engine over ``tests/data/kb`` (public and internal documents), shared by all
    test modules (see ``tests/conftest.py``)."""
    return kb_engine


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    """A fake Discord on a free local port, with discord.py pointed at it for the module."""
    guild = FakeGuild()
    general = guild.text_channel("general")
    staff = guild.text_channel("staff-only")
    forum = guild.forum_channel("help-forum")
    help_text = guild.text_channel("help")
    fake = FakeDiscord(TOKEN, guild)
    await fake.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(discord.http.Route, "BASE", fake.rest_base)
        mp.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
        yield World(
            fake=fake,
            general=general,
            staff=staff,
            forum=forum,
            help_text=help_text,
            alice=user_payload(snowflake(), "alice"),
            bob=user_payload(snowflake(), "bob"),
            other_bot=user_payload(snowflake(), "otherbot", bot=True),
        )
    await fake.close()
    assert not fake.errors, fake.errors
    assert not fake.unknown, f"the bot called routes the fake does not know: {fake.unknown}"
