"""/supportbot-sync and /supportbot-status through the fake Discord: refused privately (and
logged) for anyone but the configured admin users or roles, run for them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from discord_harness import EngineSpy, World, make_service, running_bot

from bot.engine import SupportEngine
from bot.ops import AdminCommands, SyncService

EPHEMERAL = 64


async def _reply(world: World, interaction: dict[str, Any]) -> tuple[int, str, int]:
    """(callback type, text, flags) of the bot's answer to an interaction: the callback's own
    message, or its follow-up after a deferral."""
    fake = world.fake
    callback = await fake.wait_for(
        lambda c: c.path.endswith("/callback") and interaction["token"] in c.path
    )
    if callback.json["type"] == 4:
        data = callback.json["data"]
        return 4, data["content"], data.get("flags", 0)
    follow = await fake.wait_for(
        lambda c: (
            c.method == "POST"
            and c.path.startswith(f"/webhooks/{fake.app_id}/")
            and interaction["token"] in c.path
        ),
        within=60,
    )
    flags = (callback.json.get("data") or {}).get("flags", 0)
    return callback.json["type"], follow.json["content"], flags


async def test_admin_commands_on_discord(
    world: World,
    discord_engine: SupportEngine,
    office_sync: SyncService,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = office_sync.engine
    assert isinstance(engine, SupportEngine)
    admin_role = world.fake.guild.bot_role  # a role the guild has
    admin = AdminCommands(
        office_sync,
        admins={"discord": [world.bob["id"]]},
        admin_roles={"discord": [str(admin_role)]},
    )
    service = make_service(EngineSpy(discord_engine), tmp_path)
    try:
        async with running_bot(world.fake, service, world.settings(tmp_path), admin=admin):
            names = {c["name"] for c in world.fake.commands}
            assert {"ask", "supportbot-sync", "supportbot-status"} <= names
            with caplog.at_level(logging.WARNING, logger="bot.ops"):
                refused = await world.fake.slash(
                    world.alice, world.general, "supportbot-sync", source="office"
                )
                kind, text, flags = await _reply(world, refused)
            assert kind == 4 and flags & EPHEMERAL and "only the bot's admins" in text
            assert f"to discord user {world.alice['id']}" in caplog.text
            kind, text, flags = await _reply(
                world, await world.fake.slash(world.alice, world.general, "supportbot-status")
            )
            assert flags & EPHEMERAL and "only the bot's admins" in text
            assert engine.kb.index.count() == 0

            ran = await world.fake.slash(
                world.bob, world.general, "supportbot-sync", source="office"
            )
            kind, text, flags = await _reply(world, ran)
            assert kind == 5 and flags & EPHEMERAL and "office: 5 added" in text
            status = await world.fake.slash(
                world.alice, world.general, "supportbot-status", roles=[admin_role]
            )
            kind, text, flags = await _reply(world, status)
            assert flags & EPHEMERAL and "office (folder, manual): last" in text
            await office_sync.settled()
    finally:
        service.store.close()
