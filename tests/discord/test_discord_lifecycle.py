"""Restarts and start-up: command sync only on change, persistent buttons, ``serve``."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest
from discord_harness import (
    DOCS_SITE,
    KB,
    PUBLIC_FACT,
    PUBLIC_Q,
    PUBLIC_TITLE,
    TOKEN,
    BrokenEngine,
    EngineSpy,
    World,
    eventually,
    make_service,
    reply_to,
    running_bot,
)

from bot.engine import SupportEngine
from bot.platforms.discord import serve
from bot.platforms.discord.command_sync import hash_file
from bot.platforms.discord.feedback_ui import UP_ID, message_ref
from tests.conftest import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_slash_commands_are_synced_only_when_they_changed(
    world: World, tmp_path: Path
) -> None:
    fake = world.fake
    service = make_service(BrokenEngine(), tmp_path)  # never asked anything here
    settings = world.settings(tmp_path)

    def puts() -> int:
        return len(fake.calls_to("PUT", f"/applications/{fake.app_id}/commands"))

    before = puts()
    async with running_bot(fake, service, settings) as bot:
        assert bot.synced_commands is True
    assert puts() == before + 1
    ask, sync, status = sorted(fake.commands, key=lambda c: c["name"] != "ask")
    assert {sync["name"], status["name"]} == {"supportbot-sync", "supportbot-status"}
    assert ask["name"] == "ask" and ask["options"][0]["name"] == "question"
    assert ask["options"][0]["required"] is True and ask["options"][0]["max_length"] == 2000
    stored_hash = hash_file(tmp_path, fake.app_id).read_text()

    async with running_bot(fake, service, settings) as bot:  # a plain restart: no sync
        assert bot.synced_commands is False
    assert puts() == before + 1

    async with running_bot(fake, service, settings, sync_commands=True) as bot:  # forced
        assert bot.synced_commands is True
    assert puts() == before + 2

    hash_file(tmp_path, fake.app_id).write_text("0" * 64)  # the commands changed since
    fake.reject_command_sync = True
    try:
        async with running_bot(fake, service, settings) as bot:  # Discord refuses: bot runs on
            assert bot.synced_commands is False
    finally:
        fake.reject_command_sync = False
    assert puts() == before + 3
    assert hash_file(tmp_path, fake.app_id).read_text() == "0" * 64  # not marked as synced
    async with running_bot(fake, service, settings) as bot:  # so the next start retries
        assert bot.synced_commands is True
    assert puts() == before + 4
    assert hash_file(tmp_path, fake.app_id).read_text() == stored_hash
    service.store.close()


async def test_buttons_and_thread_follow_ups_survive_a_restart(
    world: World, discord_engine: SupportEngine, tmp_path: Path
) -> None:
    fake = world.fake
    spy = EngineSpy(discord_engine)
    service = make_service(spy, tmp_path)
    settings = world.settings(tmp_path)
    async with running_bot(fake, service, settings):
        starter = await fake.forum_post(world.forum, world.alice, "Refunds", PUBLIC_Q)
        answer = (await fake.wait_for(reply_to(starter))).response
        ref = message_ref(int(answer["channel_id"]), int(answer["id"]))

        async def linked() -> bool:
            return await service.store.answer_id_for_message("discord", ref) is not None

        await eventually(linked, what="the answer linked to its message")
    # A new bot object (as after a process restart) with the same database.
    async with running_bot(fake, service, settings):
        click = await fake.click(world.bob, answer, UP_ID)
        callback = await fake.wait_for(
            lambda c: c.path.endswith("/callback") and click["token"] in c.path
        )
        assert "Thanks" in callback.json["data"]["content"]
        answer_id = await service.store.answer_id_for_message("discord", ref)
        assert answer_id is not None
        votes = await service.store.votes(answer_id)
        assert [(v.user_id, v.value, v.source) for v in votes] == [(world.bob["id"], 1, "button")]
        # A reaction on the old answer (not in the new bot's message cache) counts too.
        await fake.react(world.alice, answer, "👎")

        async def alice_voted() -> bool:
            return any(v.user_id == world.alice["id"] for v in await service.store.votes(answer_id))

        await eventually(alice_voted, what="alice's reaction vote")
        # The bot remembers the thread it answered in from Discord (its thread membership).
        follow = await fake.post(int(starter["channel_id"]), world.alice, "And for express?")
        await fake.wait_for(reply_to(follow))
        question, history, _ = spy.asked[-1]
        assert question == "And for express?"
        assert [turn.role for turn in history] == ["user", "assistant"]
        assert history[0].text == f"Refunds\n{PUBLIC_Q}"
    service.store.close()


async def test_serve_reports_configuration_errors_as_value_errors(
    world: World, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="DISCORD_TOKEN"):
        await serve(world.settings(tmp_path, discord_token=None))
    with pytest.raises(ValueError, match="rejected the bot token"):
        await serve(world.settings(tmp_path, discord_token="not-the-token"))
    world.fake.refuse_privileged_intents = True
    try:
        with pytest.raises(ValueError, match="Message Content intent"):
            await asyncio.wait_for(serve(world.settings(tmp_path, discord_token=TOKEN)), 60)
    finally:
        world.fake.refuse_privileged_intents = False


async def test_serve_runs_the_bot_until_cancelled(world: World, tmp_path: Path) -> None:
    fake = world.fake
    identified = len(fake.identifies)
    port = free_port()
    settings = world.settings(
        tmp_path, discord_token=TOKEN, source_base_url=DOCS_SITE, health_port=port
    )
    indexer = SupportEngine.from_settings(settings)  # what `supportbot ingest` does first
    await indexer.ingest([KB / "public"], audience="public")
    indexer.close()
    task = asyncio.create_task(serve(settings, guild_ready_timeout=0.05))
    fake.watched.append(task)
    try:
        msg = await fake.post(
            world.general, world.alice, f"<@{fake.app_id}> {PUBLIC_Q}", mentions=[fake.bot_user]
        )
        call = await fake.wait_for(reply_to(msg), within=60)  # includes loading the engine
        (embed,) = call.json["embeds"]
        assert PUBLIC_FACT in embed["description"]
        assert f"**[1]** [{PUBLIC_TITLE}, " in embed["fields"][0]["value"]
        assert f"]({DOCS_SITE}/" in embed["fields"][0]["value"]  # linked to the docs site
        assert len(fake.identifies) == identified + 1
        assert fake.identifies[-1]["intents"] & (1 << 15)  # MESSAGE_CONTENT was requested
        # The runner serves the probes and the metrics beside the gateway connection.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as ready:
                assert ready.status == 200, await ready.text()
            async with http.get(f"http://127.0.0.1:{port}/metrics") as page:
                assert 'supportbot_questions_total{outcome="answered",platform="discord"}' in (
                    await page.text()
                )
    finally:
        fake.watched.remove(task)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
    assert task.cancelled()
    # serve closed the engine, releasing the index folder: it can be opened again.
    SupportEngine.from_settings(settings).close()


async def test_two_replicas_sharing_the_database_answer_once(
    world: World, discord_engine: SupportEngine, tmp_path: Path
) -> None:
    fake = world.fake
    spy = EngineSpy(discord_engine)
    first, second = make_service(spy, tmp_path), make_service(spy, tmp_path)  # same SQLite file
    settings = world.settings(tmp_path)
    async with running_bot(fake, first, settings), running_bot(fake, second, settings):
        mention = f"<@{fake.app_id}> {PUBLIC_Q}"
        one = await fake.post(world.general, world.alice, mention, mentions=[fake.bot_user])
        await fake.wait_for(reply_to(one))
        two = await fake.post(world.general, world.bob, mention, mentions=[fake.bot_user])
        await fake.wait_for(reply_to(two))
        interaction = await fake.slash(world.alice, world.general, "ask", question=PUBLIC_Q)
        await fake.wait_for(
            lambda c: c.path.startswith("/webhooks/") and interaction["token"] in c.path
        )
        for msg in (one, two):
            assert len([c for c in fake.calls if reply_to(msg)(c)]) == 1
        assert len(fake.interaction_calls(interaction)) == 2  # one defer, one follow-up
        assert len(spy.asked) == 3
    first.store.close()
    second.store.close()
