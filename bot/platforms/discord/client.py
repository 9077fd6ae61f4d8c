"""The Discord bot object: intents, the cog, the persistent feedback view and command sync."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord.ext import commands

from bot.ops import AdminCommands
from bot.platforms.discord.access import invite_url, required_intents
from bot.platforms.discord.cog import SupportCog
from bot.platforms.discord.command_sync import sync_if_changed
from bot.platforms.discord.feedback_ui import FeedbackView
from bot.service import SupportService
from bot.settings import Settings

log = logging.getLogger(__name__)


class SupportBot(commands.Bot):
    """A :class:`discord.ext.commands.Bot` that answers support questions.

    Args:
        service: the core service (engine, feedback store).
        settings: the ``discord_*`` settings, ``human_contact`` and ``data_dir`` (where the
            slash-command hash is kept, see :mod:`.command_sync`).
        sync_commands: sync the slash commands on start even if they did not change.
        **options: passed to :class:`commands.Bot` (e.g. ``guild_ready_timeout``).

    No prefix commands are used: messages are handled by :class:`SupportCog` only, and sent
    messages never ping anyone (``AllowedMentions.none()``).
    """

    def __init__(
        self,
        service: SupportService,
        settings: Settings,
        *,
        sync_commands: bool = False,
        admin: AdminCommands | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=required_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.service = service
        self.settings = settings
        self.force_sync = sync_commands
        self.admin = admin
        self.synced_commands: bool | None = None  # set by setup_hook: whether it synced

    async def setup_hook(self) -> None:
        """After login: add the cog, register the persistent buttons, sync /ask if it changed."""
        cog = SupportCog(self, self.service, self.settings, self.admin)
        await self.add_cog(cog)
        self.add_view(FeedbackView(cog.on_vote_button))
        if self.application_id is None:  # set by login from the application info
            raise RuntimeError("the application id is unknown after login")
        try:
            self.synced_commands = await sync_if_changed(
                self.tree, self.settings.data_dir, self.application_id, force=self.force_sync
            )
        except discord.HTTPException:
            log.exception("could not sync the slash commands; /ask may be missing or outdated")
            self.synced_commands = False

    async def on_message(self, message: discord.Message, /) -> None:
        """Do nothing here: no prefix commands; :class:`SupportCog` listens to messages."""

    async def on_ready(self) -> None:
        """Log who we are and how to invite the bot."""
        if self.application_id is not None:
            log.info(
                "Discord bot %s ready in %d server(s); invite URL: %s",
                self.user,
                len(self.guilds),
                invite_url(self.application_id),
            )
