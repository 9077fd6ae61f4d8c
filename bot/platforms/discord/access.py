"""What the bot asks Discord for: gateway intents, channel permissions and the invite URL.

Intents (https://discord.com/developers/docs/events/gateway#gateway-intents):
``guilds`` (channel and thread cache), ``guild_messages``/``dm_messages`` (message events),
``guild_reactions``/``dm_reactions`` (👍/👎 votes) and the privileged ``message_content`` (to read
follow-ups in threads and forum posts that do not mention the bot; it must be switched on in the
Developer Portal, Bot page).

Permissions (https://discord.com/developers/docs/topics/permissions): View Channels, Send
Messages, Send Messages in Threads, Embed Links (answers are embeds) and Read Message History
(replies and a thread's earlier turns). Scopes: ``bot`` and ``applications.commands`` (/ask).
"""

from __future__ import annotations

import discord

SCOPES = ("bot", "applications.commands")


def required_intents() -> discord.Intents:
    """The gateway intents the bot needs (see the module docstring)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.guild_reactions = True
    intents.dm_reactions = True
    intents.message_content = True
    return intents


def required_permissions() -> discord.Permissions:
    """The channel permissions to grant the bot (see the module docstring)."""
    return discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        read_message_history=True,
    )


def invite_url(application_id: int) -> str:
    """The OAuth2 URL that adds the bot to a server with :func:`required_permissions`."""
    return discord.utils.oauth_url(
        application_id, permissions=required_permissions(), scopes=SCOPES
    )
