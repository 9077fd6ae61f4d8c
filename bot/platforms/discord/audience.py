"""Which audience (``public`` or ``internal``) a Discord channel gets.

``Settings.discord_audiences`` maps channel or guild ids (as strings) to an audience. The most
specific id wins: the channel itself, then — for a thread or forum post — its parent channel,
then the guild. Anything unlisted gets ``Settings.discord_default_audience`` (``public``).
"""

from __future__ import annotations

from collections.abc import Mapping

import discord

from knowledge.settings import Audience


def resolve_audience(
    audiences: Mapping[str, Audience],
    default: Audience,
    *,
    channel_id: int | None,
    parent_id: int | None = None,
    guild_id: int | None = None,
) -> Audience:
    """The audience of a channel: its own entry, its parent's, its guild's, else ``default``."""
    for key in (channel_id, parent_id, guild_id):
        if key is not None and str(key) in audiences:
            return audiences[str(key)]
    return default


async def channel_scope(
    client: discord.Client, channel: object, *, channel_id: int | None = None
) -> tuple[int | None, int | None]:
    """``(channel_id, parent_id)`` of a message's or interaction's channel.

    ``parent_id`` is set for threads and forum posts. A channel that discord.py only knows
    partially (a thread missing from the cache arrives as :class:`discord.PartialMessageable`)
    is fetched over REST, so that a thread never falls back to its guild's audience while its
    parent channel has a more specific one.

    Raises:
        discord.HTTPException: fetching an uncached guild channel failed.
    """
    if isinstance(channel, discord.Thread):
        return channel.id, channel.parent_id
    if isinstance(channel, discord.PartialMessageable) and channel.guild_id is not None:
        fetched = await client.fetch_channel(channel.id)
        return fetched.id, getattr(fetched, "parent_id", None)
    own_id = getattr(channel, "id", None)
    return (own_id if isinstance(own_id, int) else channel_id), None
