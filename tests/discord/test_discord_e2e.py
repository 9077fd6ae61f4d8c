"""End to end: the real bot (discord.py) and the real engine against the local fake Discord.

Each test starts a fresh bot with its own feedback database; the fake Discord (module) and the
engine (session) are shared. Questions go through the real retrieval, so the audience checks
prove that a public channel cannot receive the internal document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from discord_harness import (
    FOLLOW_UP_FACT,
    FOLLOW_UP_Q,
    HUMAN,
    INTERNAL_FACT,
    INTERNAL_Q,
    INTERNAL_TITLE,
    OFF_TOPIC_Q,
    PUBLIC_FACT,
    PUBLIC_Q,
    PUBLIC_TITLE,
    BrokenEngine,
    EngineSpy,
    World,
    eventually,
    make_service,
    reply_to,
    running_bot,
)
from fake_discord import Call, thread_payload

from bot.engine import SupportEngine
from bot.feedback import VoteRecord
from bot.models import Turn
from bot.platforms.discord import formatting
from bot.platforms.discord.client import SupportBot
from bot.platforms.discord.feedback_ui import DOWN_ID, UP_ID, message_ref
from bot.service import FAILURE_MESSAGE, SupportService

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Env:
    """One running bot and what it talks to."""

    world: World
    bot: SupportBot
    service: SupportService
    spy: EngineSpy

    @property
    def fake(self) -> Any:
        return self.world.fake

    def mention(self) -> str:
        return f"<@{self.fake.app_id}>"

    async def ask_by_mention(self, channel: int, text: str, **kw: Any) -> tuple[dict, Call]:
        """Post ``@bot text`` in ``channel``; wait for the bot's reply."""
        msg = await self.fake.post(
            channel,
            self.world.alice,
            f"{self.mention()} {text}",
            mentions=[self.fake.bot_user],
            **kw,
        )
        return msg, await self.fake.wait_for(reply_to(msg))

    async def answer_id(self, sent: dict[str, Any]) -> str:
        """The stored answer shown by the bot's message ``sent`` (linked right after sending)."""
        ref = message_ref(int(sent["channel_id"]), int(sent["id"]))
        found: list[str] = []

        async def linked() -> bool:
            answer_id = await self.service.store.answer_id_for_message("discord", ref)
            found.extend([answer_id] if answer_id else [])
            return bool(found)

        await eventually(linked, what=f"answer linked to message {ref}")
        return found[0]

    async def votes(self, sent: dict[str, Any]) -> list[VoteRecord]:
        """Current votes on the answer shown by the bot's message ``sent``."""
        return await self.service.store.votes(await self.answer_id(sent))


@pytest.fixture
async def env(world: World, discord_engine: SupportEngine, tmp_path: Path) -> AsyncIterator[Env]:
    spy = EngineSpy(discord_engine)
    service = make_service(spy, tmp_path)
    async with running_bot(world.fake, service, world.settings(tmp_path)) as bot:
        yield Env(world, bot, service, spy)
    service.store.close()


def embed_of(call: Call) -> dict[str, Any]:
    embeds = call.json.get("embeds") or []
    assert len(embeds) == 1, call.json
    return embeds[0]


def embed_text(embed: dict[str, Any]) -> str:
    parts = [embed.get("title") or "", embed.get("description") or ""]
    parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
    parts.append((embed.get("footer") or {}).get("text", ""))
    return "\n".join(parts)


def sources_of(embed: dict[str, Any]) -> str:
    return "\n".join(f["value"] for f in embed.get("fields", []) if f["name"].startswith("Sources"))


def button_ids(call: Call) -> list[str]:
    return [b["custom_id"] for row in call.json.get("components", []) for b in row["components"]]


# -- answering ----------------------------------------------------------------------------------
async def test_mention_gets_a_reply_with_numbered_sources(env: Env) -> None:
    msg, call = await env.ask_by_mention(env.world.general, PUBLIC_Q)
    embed = embed_of(call)
    assert PUBLIC_FACT in embed["description"] and "[1]" in embed["description"]
    sources = sources_of(embed)
    # number, title and section; a local file is not linked (links: test_serve_…)
    assert sources.startswith(f"**[1]** {PUBLIC_TITLE}, Returns\n> Customers can return")
    assert "file://" not in sources
    assert button_ids(call) == [UP_ID, DOWN_ID]
    # Clicks go to the one registered persistent view; no view is kept per answer.
    assert len(env.bot.persistent_views) == 1
    assert call.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    # typing was shown first, and the engine got the question without the mention
    typing = env.fake.calls_to("POST", f"/channels/{env.world.general}/typing")
    assert typing and env.fake.calls.index(typing[-1]) < env.fake.calls.index(call)
    assert env.spy.asked[-1] == (PUBLIC_Q, (), "public")
    # the answer is stored and linked to the reply, for votes
    stored = await env.service.store.get_answer(await env.answer_id(call.response))
    assert (
        stored is not None and stored.question == PUBLIC_Q and stored.user_id == msg["author"]["id"]
    )


async def test_slash_ask_defers_with_thinking_then_follows_up(env: Env) -> None:
    interaction = await env.fake.slash(env.world.alice, env.world.general, "ask", question=PUBLIC_Q)
    follow_up = await env.fake.wait_for(
        lambda c: (
            c.method == "POST"
            and c.path.startswith(f"/webhooks/{env.fake.app_id}/")
            and interaction["token"] in c.path
        )
    )
    callback, *rest = env.fake.interaction_calls(interaction)
    # 5 = DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: "SupportBot is thinking…", visible to all
    assert callback.path.endswith("/callback") and callback.json["type"] == 5
    assert not (callback.json.get("data") or {}).get("flags", 0) & 64
    assert rest == [follow_up]
    embed = embed_of(follow_up)
    assert PUBLIC_FACT in embed["description"] and PUBLIC_TITLE in sources_of(embed)
    assert button_ids(follow_up) == [UP_ID, DOWN_ID]
    # The follow-up replaced the "thinking" message; that message is linked to the answer.
    assert follow_up.response["id"] == callback.response["interaction"]["response_message_id"]
    assert await env.votes(follow_up.response) == []


async def test_abstention_looks_different_and_names_a_human(env: Env) -> None:
    _, call = await env.ask_by_mention(env.world.general, OFF_TOPIC_Q)
    embed = embed_of(call)
    assert embed["title"] == formatting.ABSTAIN_TITLE
    assert embed["color"] == formatting.ABSTAIN_COLOUR.value != formatting.ANSWER_COLOUR.value
    assert {"name": formatting.HUMAN_FIELD, "value": HUMAN, "inline": False} in embed["fields"]
    assert sources_of(embed) == ""


async def test_forum_post_is_answered_in_its_thread(env: Env) -> None:
    fake, world = env.fake, env.world
    starter = await fake.forum_post(world.forum, world.alice, "Refund window?", PUBLIC_Q)
    call = await fake.wait_for(reply_to(starter))
    assert call.path == f"/channels/{starter['channel_id']}/messages"  # inside the post
    assert PUBLIC_TITLE in sources_of(embed_of(call))
    question, history, audience = env.spy.asked[-1]
    assert question == f"Refund window?\n{PUBLIC_Q}" and history == () and audience == "public"


async def test_new_thread_in_auto_channel_then_follow_up_with_history(env: Env) -> None:
    fake, world = env.fake, env.world
    thread = await fake.create_thread(world.help_text, world.alice, "Returns")
    first = await fake.post(int(thread["id"]), world.alice, PUBLIC_Q)  # no mention
    answer = await fake.wait_for(reply_to(first))
    answer_text = embed_of(answer)["description"]
    # A follow-up in the same thread, still without a mention, gets the thread as history.
    follow = await fake.post(int(thread["id"]), world.alice, FOLLOW_UP_Q)
    call = await fake.wait_for(reply_to(follow))
    question, history, _ = env.spy.asked[-1]
    assert question == FOLLOW_UP_Q
    assert env.spy.asked[-2][0] == f"Returns\n{PUBLIC_Q}"  # a new thread's title is context
    assert history == (Turn("user", PUBLIC_Q), Turn("assistant", answer_text))
    assert FOLLOW_UP_FACT in embed_of(call)["description"]
    # A message to someone else in that thread is left alone.
    aside = await fake.post(
        int(thread["id"]), world.alice, f"<@{world.bob['id']}> thanks!", mentions=[world.bob]
    )
    again = await fake.post(int(thread["id"]), world.alice, PUBLIC_Q)
    await fake.wait_for(reply_to(again))
    assert not [c for c in fake.calls if reply_to(aside)(c)] and len(env.spy.asked) == 3


async def test_plain_messages_elsewhere_are_not_answered(env: Env) -> None:
    fake, world = env.fake, env.world
    thread = await fake.create_thread(world.general, world.bob, "chit-chat")  # not auto-answer
    chatter = await fake.post(int(thread["id"]), world.bob, PUBLIC_Q)
    plain = await fake.post(world.general, world.bob, PUBLIC_Q)
    sentinel, _ = await env.ask_by_mention(world.general, PUBLIC_Q)
    assert not [c for c in fake.calls if reply_to(chatter)(c) or reply_to(plain)(c)]
    assert len(env.spy.asked) == 1 and sentinel


async def test_bots_are_ignored_including_itself(env: Env) -> None:
    fake, world = env.fake, env.world
    mention = f"{env.mention()} {PUBLIC_Q}"
    from_bot = await fake.post(world.general, world.other_bot, mention, mentions=[fake.bot_user])
    from_self = await fake.post(world.general, fake.bot_user, mention, mentions=[fake.bot_user])
    await env.ask_by_mention(world.general, PUBLIC_Q)  # processed after the two above
    assert not [c for c in fake.calls if reply_to(from_bot)(c) or reply_to(from_self)(c)]
    assert len(env.spy.asked) == 1


# -- audiences ----------------------------------------------------------------------------------
async def test_public_channels_never_get_the_internal_source(env: Env) -> None:
    fake, world = env.fake, env.world
    # The question retrieves the internal document where that is allowed…
    _, staff = await env.ask_by_mention(world.staff, INTERNAL_Q)
    assert INTERNAL_TITLE in sources_of(embed_of(staff)) and INTERNAL_FACT in embed_text(
        embed_of(staff)
    )
    staff_thread = await fake.create_thread(world.staff, world.alice, "override")
    _, in_thread = await env.ask_by_mention(int(staff_thread["id"]), INTERNAL_Q)
    assert INTERNAL_TITLE in sources_of(embed_of(in_thread))  # a thread inherits its parent
    # …but never in public places: mention, /ask, forum post, thread of a public channel.
    _, mention = await env.ask_by_mention(world.general, INTERNAL_Q)
    interaction = await fake.slash(world.alice, world.general, "ask", question=INTERNAL_Q)
    slash = await fake.wait_for(
        lambda c: c.path.startswith("/webhooks/") and interaction["token"] in c.path
    )
    post = await fake.forum_post(world.forum, world.alice, "Late refund", INTERNAL_Q)
    forum = await fake.wait_for(reply_to(post))
    public = [mention, slash, forum]
    for call in public:
        text = embed_text(embed_of(call))
        assert INTERNAL_TITLE not in text and INTERNAL_FACT not in text
    audiences = [audience for _, _, audience in env.spy.asked]
    assert audiences == ["internal", "internal", "public", "public", "public"]
    for answer in await env.service.store.answers():
        if answer.audience == "public":
            assert all(c["audience"] == "public" for c in answer.citations)


# -- feedback -----------------------------------------------------------------------------------
async def test_reactions_vote_replace_and_withdraw(env: Env) -> None:
    fake, world = env.fake, env.world
    _, call = await env.ask_by_mention(world.general, PUBLIC_Q)
    sent = call.response
    await env.answer_id(sent)  # linked (a few ms after sending)
    alice, bob = world.alice, world.bob

    async def votes() -> dict[str, tuple[int, str]]:
        return {v.user_id: (v.value, v.source) for v in await env.votes(sent)}

    async def until(expected: dict[str, tuple[int, str]]) -> None:
        async def check() -> bool:
            return await votes() == expected

        await eventually(check, what=f"votes {expected}")

    await fake.react(alice, sent, "👍")
    await fake.react(bob, sent, "👎🏽")  # any skin tone
    await until({alice["id"]: (1, "reaction"), bob["id"]: (-1, "reaction")})
    await fake.react(bob, sent, "👍")  # one vote per person: replaces the 👎
    await until({alice["id"]: (1, "reaction"), bob["id"]: (1, "reaction")})
    await fake.react(bob, sent, "👎🏽", add=False)  # removing the old 👎 keeps the 👍
    await fake.react(alice, sent, "👍", add=False)  # removing 👍 withdraws it
    await until({bob["id"]: (1, "reaction")})
    # Ignored: other emoji, the bot's own reactions, reactions on messages that are not answers.
    await fake.react(alice, sent, "🎉")
    await fake.react(fake.bot_user, sent, "👍")
    question = await fake.post(world.general, bob, "not an answer")
    await fake.react(alice, question, "👎")
    await fake.react(bob, sent, "👍", add=False)  # processed after the ignored ones
    await until({})


async def test_buttons_vote_toggle_and_answer_only_the_clicker(env: Env) -> None:
    fake, world = env.fake, env.world
    _, call = await env.ask_by_mention(world.general, PUBLIC_Q)
    sent = call.response
    await env.answer_id(sent)  # linked (a few ms after sending)

    async def click(user: dict[str, Any], custom_id: str) -> dict[str, Any]:
        interaction = await fake.click(user, sent, custom_id)
        response = await fake.wait_for(
            lambda c: c.path.endswith("/callback") and interaction["token"] in c.path
        )
        assert response.json["type"] == 4 and response.json["data"]["flags"] == 64  # ephemeral
        return response.json["data"]

    assert "Thanks" in (await click(world.alice, UP_ID))["content"]
    assert "Thanks" in (await click(world.bob, DOWN_ID))["content"]
    assert {(v.user_id, v.value, v.source) for v in await env.votes(sent)} == {
        (world.alice["id"], 1, "button"),
        (world.bob["id"], -1, "button"),
    }
    assert "removed" in (await click(world.alice, UP_ID))["content"]  # same button: withdraw
    assert "Thanks" in (await click(world.bob, UP_ID))["content"]  # other button: change
    assert [(v.user_id, v.value) for v in await env.votes(sent)] == [(world.bob["id"], 1)]


# -- failures -----------------------------------------------------------------------------------
async def test_core_failure_reaches_the_user_as_a_short_message(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = world.fake
    service = make_service(BrokenEngine(), tmp_path)
    expected = FAILURE_MESSAGE.format(human=HUMAN)
    async with running_bot(fake, service, world.settings(tmp_path)):
        msg = await fake.post(
            world.general, world.alice, f"<@{fake.app_id}> {PUBLIC_Q}", mentions=[fake.bot_user]
        )
        call = await fake.wait_for(reply_to(msg))
        assert call.json["content"] == expected and not call.json.get("embeds")
        interaction = await fake.slash(world.alice, world.general, "ask", question=PUBLIC_Q)
        slash = await fake.wait_for(
            lambda c: c.path.startswith("/webhooks/") and interaction["token"] in c.path
        )
        assert slash.json["content"] == expected
    service.store.close()
    assert "qdrant unreachable (simulated)" in caplog.text  # the details went to the log
    assert "qdrant" not in expected


async def test_bare_mention_asks_for_a_question_and_skips_the_engine(env: Env) -> None:
    fake, world = env.fake, env.world
    msg = await fake.post(world.general, world.alice, env.mention(), mentions=[fake.bot_user])
    call = await fake.wait_for(reply_to(msg))
    assert "/ask" in call.json["content"] and env.spy.asked == []


async def test_bare_mention_replying_to_a_question_answers_it(env: Env) -> None:
    fake, world = env.fake, env.world
    question = await fake.post(world.general, world.bob, PUBLIC_Q)
    msg = await fake.post(
        world.general, world.alice, env.mention(), mentions=[fake.bot_user], reply_to=question
    )
    call = await fake.wait_for(reply_to(msg))
    assert PUBLIC_FACT in embed_of(call)["description"]
    assert env.spy.asked == [(PUBLIC_Q, (), "public")]


async def test_uncached_thread_takes_its_parents_audience_not_the_servers(
    world: World, discord_engine: SupportEngine, tmp_path: Path
) -> None:
    # The server is internal, but #general is explicitly public. A thread of #general the bot
    # has never seen (no THREAD_CREATE, not in GUILD_CREATE) must resolve to #general.
    fake = world.fake
    spy = EngineSpy(discord_engine)
    service = make_service(spy, tmp_path)
    audiences = {str(fake.guild.id): "internal", str(world.general): "public"}
    settings = world.settings(tmp_path, discord_audiences=audiences)
    async with running_bot(fake, service, settings):
        thread = thread_payload(fake.guild.id, world.general, int(world.bob["id"]), "old thread")
        fake.guild.threads.append(thread)  # exists for REST only
        msg = await fake.post(
            int(thread["id"]),
            world.alice,
            f"<@{fake.app_id}> {INTERNAL_Q}",
            mentions=[fake.bot_user],
        )
        call = await fake.wait_for(reply_to(msg))
        assert fake.calls_to("GET", f"/channels/{thread['id']}")  # looked up over REST
        text = embed_text(embed_of(call))
        assert INTERNAL_TITLE not in text and INTERNAL_FACT not in text
        assert spy.asked[-1][2] == "public"
        # …while the rest of the server is internal.
        staff = await fake.post(
            world.staff, world.alice, f"<@{fake.app_id}> {INTERNAL_Q}", mentions=[fake.bot_user]
        )
        assert INTERNAL_TITLE in sources_of(embed_of(await fake.wait_for(reply_to(staff))))
    service.store.close()


async def test_a_streamed_answer_edits_the_reply_then_shows_the_final_answer(env: Env) -> None:
    words = [
        "Unused",
        "items",
        "can",
        "be",
        "returned",
        "within",
        "thirty",
        "days",
        "of",
        "delivery",
    ]
    env.spy.stream = [" ".join(words[: i + 1]) for i in range(len(words))]
    env.spy.stream_delay_s = 0.25  # ~2.5 s of streaming: at most one write a second
    msg, first = await env.ask_by_mention(env.world.general, PUBLIC_Q)
    assert first.json["content"] == "Unused …", "the first words are shown at once"
    sent = first.response
    path = f"/channels/{env.world.general}/messages/{sent['id']}"
    final = await env.fake.wait_for(
        lambda c: c.method == "PATCH" and c.path == path and bool(c.json.get("embeds"))
    )
    edits = env.fake.calls_to("PATCH", path)
    partial = edits[: edits.index(final)]
    assert 1 <= len(partial) <= 4, "streamed edits are throttled to about one a second"
    assert all(e.json["content"].endswith(" …") for e in partial)
    assert PUBLIC_FACT in embed_of(final)["description"] and final.json["content"] is None
    assert button_ids(final) == [UP_ID, DOWN_ID]
    assert len([c for c in env.fake.calls if reply_to(msg)(c)]) == 1, "one reply, edited"
    assert await env.answer_id(sent)
