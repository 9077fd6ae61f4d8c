"""End to end through the fake Discord: pings in a question, in the documents or in a streamed
draft are never amplified, and invisible characters get a clear answer, never a traceback.

Discord parses ``@everyone``, ``@here``, ``<@id>`` and ``<@&role>`` in any message content the
API receives unless ``allowed_mentions`` says otherwise, so every message the bot sends or edits
(channel messages, interaction callbacks, follow-ups) must carry ``{"parse": []}``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from discord_harness import EngineSpy, World, make_service, reply_to, running_bot
from fake_discord import CONTENT_MAX, Call, message_limit_errors
from hypothesis import example, given

from bot.engine import SupportEngine
from tests.conftest import engine_over, fuzz_run, hostile_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")
ANNOUNCEMENTS = """# Office announcements

## Reaching everyone
To notify the whole office about an outage, post in the general channel and start the message
with @everyone or @here. Urgent pages go to <@1234567890> and the <@&9876543210> role.

## Fire drills
Fire drills happen on the first Monday of each quarter at ten in the morning. Leave by the
nearest stairs and gather in the north car park.
"""
SENDS = ("messages", "callback", "webhooks")  # path parts of calls that carry message content


@pytest.fixture(scope="module")
def hostile_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupportEngine]:
    """An engine over the announcements document only."""
    engine = engine_over(tmp_path_factory, {"announcements.md": ANNOUNCEMENTS})
    yield engine
    engine.close()


@pytest.fixture
async def bot_env(
    world: World, hostile_engine: SupportEngine, tmp_path: Path
) -> AsyncIterator[tuple[World, EngineSpy]]:
    spy = EngineSpy(hostile_engine)
    service = make_service(spy, tmp_path)
    async with running_bot(world.fake, service, world.settings(tmp_path)):
        yield world, spy
    service.store.close()


def message_bodies(calls: list[Call]) -> list[dict[str, Any]]:
    """The message payloads of the bot's sends and edits (callbacks wrap theirs in ``data``)."""
    bodies = []
    for call in calls:
        if call.method not in ("POST", "PATCH") or not isinstance(call.json, dict):
            continue
        if not any(part in call.path for part in SENDS):
            continue
        body = call.json.get("data") if call.path.endswith("/callback") else call.json
        if isinstance(body, dict) and ("content" in body or "embeds" in body):
            bodies.append(body)
    return bodies


def shown(body: dict[str, Any]) -> str:
    parts = [str(body.get("content") or "")]
    for embed in body.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


async def test_no_message_the_bot_sends_or_edits_can_ping(
    bot_env: tuple[World, EngineSpy],
) -> None:
    world, spy = bot_env
    fake = world.fake
    start = len(fake.calls)
    # A streamed draft that quotes pings (as an LLM might), then the real answer.
    spy.stream = ("Post with @everyone", "Post with @everyone or <@&9876543210>")
    question = "@everyone how do I notify the whole office about an outage? <@1234567890>"
    msg = await fake.post(
        world.general, world.alice, f"<@{fake.app_id}> {question}", mentions=[fake.bot_user]
    )
    draft = await fake.wait_for(reply_to(msg))
    path = f"{draft.path}/{draft.response['id']}"
    final = await fake.wait_for(
        lambda c: c.method == "PATCH" and c.path == path and bool(c.json.get("embeds"))
    )
    assert "@everyone" in shown(final.json)  # the document's sentence is quoted as it is …
    interaction = await fake.slash(world.alice, world.general, "ask", question=question)
    await fake.wait_for(
        lambda c: c.method == "POST" and interaction["token"] in c.path and "webhooks" in c.path,
        within=30,
    )
    bodies = message_bodies(fake.calls[start:])
    assert len(bodies) >= 3, bodies  # streamed draft, its edit or the answer, the follow-up
    for body in bodies:  # … and nothing the bot sent can ping
        mentions = body.get("allowed_mentions") or {}
        assert mentions.get("parse") == [] and not mentions.get("replied_user"), body
        assert not mentions.get("users") and not mentions.get("roles"), body


async def test_invisible_characters_get_a_clear_answer(
    bot_env: tuple[World, EngineSpy],
) -> None:
    world, spy = bot_env
    fake = world.fake
    text = "\u202ewhen\u200b are \x07fire drills?\ufeff"
    msg = await fake.post(
        world.general, world.alice, f"<@{fake.app_id}> {text}", mentions=[fake.bot_user]
    )
    answer = await fake.wait_for(reply_to(msg))
    assert "first Monday" in shown(answer.json)
    assert spy.asked[-1][0] == "when are fire drills?"


async def test_the_fake_refuses_what_discord_refuses() -> None:
    """The fuzz run below relies on the fake answering 400 where Discord would."""
    assert message_limit_errors({"content": "ok"}) == []
    assert message_limit_errors({"content": "x" * (CONTENT_MAX + 1)})
    assert message_limit_errors({"content": "  "}) == ["empty message (50006)"]
    assert message_limit_errors({"embeds": [{"description": "x" * 4097}]})
    assert message_limit_errors({"embeds": [{"fields": [{"name": "Sources", "value": ""}]}]})
    big = {"title": "t" * 256, "description": "d" * 4096}
    assert message_limit_errors({"embeds": [big, big]})  # 8,704 > 6,000 in all
    assert message_limit_errors({"content": ""}, partial=True) == []


PIECES = (
    "@everyone",
    "@here",
    "<@1234567890>",
    "<@&9876543210>",
    "<#1200000000000000001>",
    "fire drills",
    "how do I notify the whole office?",
    "\x00\x07\x1b[31m",
    "\u200b\u202e\u2066\ufeff",
    "Что такое",
    "火災訓練",
    "مرحبا",
    "```py\nprint(1)\n```",
    "||spoiler|| **bold** > quote",
    "outage " * 400,  # echoed back, it would pass Discord's 2,000-character content limit
    "refund " * 6_000,  # over the bot's own question limit
)
hostile_text = hostile_messages(PIECES, 8)


@fuzz_run
@given(text=hostile_text)
@example(text="\u200b\u202e\u2066\ufeff")  # nothing left once cleaned
@example(text="@everyone " + "outage " * 400)
async def test_fuzzed_messages_get_a_valid_reply_that_pings_nobody(
    bot_env: tuple[World, EngineSpy], caplog: pytest.LogCaptureFixture, text: str
) -> None:
    """Hypothesis over the message handler: whatever follows the mention, sent through the
    gateway, the bot replies once without an error, Discord accepts the reply (its length and
    embed limits), and the reply pings nobody. One running bot serves all the examples."""
    world, _spy = bot_env
    fake = world.fake
    caplog.clear()
    start = len(fake.calls)
    msg = await fake.post(
        world.general, world.alice, f"<@{fake.app_id}> {text}", mentions=[fake.bot_user]
    )
    reply = await fake.wait_for(reply_to(msg), within=30)
    assert reply.status == 200, (reply.response, text[:200])
    assert shown(reply.json).strip()
    for call in fake.calls[start:]:
        assert call.status < 400, (call.method, call.path, call.response)
    for body in message_bodies(fake.calls[start:]):
        mentions = body.get("allowed_mentions") or {}
        assert mentions.get("parse") == [] and not mentions.get("replied_user"), body
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
