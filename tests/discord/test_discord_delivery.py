"""Posting through the fake Discord when its API fails: a rate limit (429) is waited out and
retried, and a 5xx that came after Discord stored the reply never shows the answer twice.

discord.py retries 429 (after ``retry_after``) and 500/502/504 itself; every message it sends
carries a ``nonce`` with ``enforce_nonce``, so Discord returns the message it already created
instead of a second one (https://discord.com/developers/docs/resources/message#create-message).
The fake implements both sides.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord_harness import (
    PUBLIC_FACT,
    PUBLIC_Q,
    EngineSpy,
    World,
    make_service,
    reply_to,
    running_bot,
)

from bot.engine import SupportEngine

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def bot_world(
    world: World, discord_engine: SupportEngine, tmp_path: Path
) -> AsyncIterator[World]:
    service = make_service(EngineSpy(discord_engine), tmp_path)
    async with running_bot(world.fake, service, world.settings(tmp_path)):
        yield world
    service.store.close()


def replies_to(world: World, msg: dict[str, Any]) -> list[dict[str, Any]]:
    """The bot's messages in the channel that reply to ``msg``, as Discord stored them."""
    return [
        m
        for m in world.fake.messages.get(world.general, [])
        if m["author"] is world.fake.bot_user
        and (m.get("message_reference") or {}).get("message_id") == msg["id"]
    ]


@pytest.mark.parametrize(
    ("status", "processed"),
    [(429, False), (500, True), (502, True), (504, True), (500, False), (503, True)],
)
async def test_a_failed_post_is_retried_and_shown_once(
    bot_world: World, status: int, processed: bool
) -> None:
    world = bot_world
    fake = world.fake
    path = f"/channels/{world.general}/messages"
    fake.fail_next("POST", path, status=status, processed=processed)
    msg = await fake.post(
        world.general, world.alice, f"<@{fake.app_id}> {PUBLIC_Q}", mentions=[fake.bot_user]
    )

    replying = reply_to(msg)
    posted = await fake.wait_for(lambda c: replying(c) and c.status == 200, within=30)
    shown = replies_to(world, msg)
    assert len(shown) == 1, shown
    assert PUBLIC_FACT in shown[0]["embeds"][0]["description"]
    attempts = [c for c in fake.calls if replying(c)]
    assert [c.status for c in attempts] == [status, 200]
    assert attempts[0].json["nonce"] == attempts[1].json["nonce"]  # the same message, retried
    assert posted.response["id"] == shown[0]["id"]
