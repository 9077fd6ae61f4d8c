"""``supportbot serve discord``: build the engine, the feedback store and the bot, and run."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from bot.feedback import FeedbackStore
from bot.health import Readiness, running_health
from bot.ops import running_ops
from bot.platforms.discord.client import SupportBot
from bot.service import SupportService
from bot.settings import Settings


async def serve(settings: Settings, *, sync_commands: bool = False, **options: Any) -> None:
    """Run the Discord bot until it is cancelled or Discord closes the connection for good.

    Args:
        settings: needs ``discord_token`` (``SUPPORTBOT_DISCORD_TOKEN`` or ``DISCORD_TOKEN``);
            uses the ``discord_*`` settings, ``human_contact``, the index settings and the
            feedback database (``resolved_database_url``).
        sync_commands: sync the slash commands even if they did not change since the last sync.
        **options: passed to :class:`discord.ext.commands.Bot`.

    Raises:
        ValueError: a configuration error, with a message saying what to fix: no token, a token
            Discord rejects, or the Message Content intent not enabled in the Developer Portal.
    """
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise ValueError("no Discord bot token: set SUPPORTBOT_DISCORD_TOKEN (or DISCORD_TOKEN)")
    from bot.engine import SupportEngine  # heavy (models, index); only needed when serving

    engine = await asyncio.to_thread(SupportEngine.from_settings, settings)
    try:
        store = await asyncio.to_thread(FeedbackStore.from_settings, settings)
        try:
            service = SupportService.from_settings(engine, store, settings)
            token = settings.discord_token.get_secret_value().strip()
            async with (
                running_health(settings, Readiness.for_bot(engine, store)),
                running_ops(settings, engine, store, embed=engine.kb.embedder.embed) as admin,
                SupportBot(
                    service, settings, sync_commands=sync_commands, admin=admin, **options
                ) as bot,
            ):
                try:
                    await bot.start(token)
                except discord.LoginFailure as exc:
                    raise ValueError(f"Discord rejected the bot token: {exc}") from exc
                except discord.PrivilegedIntentsRequired as exc:
                    raise ValueError(
                        "Discord refused the Message Content intent: enable it in the Developer "
                        "Portal (your application → Bot → Privileged Gateway Intents)"
                    ) from exc
                finally:
                    await service.aclose()
        finally:
            store.close()
    finally:
        await engine.aclose()
