"""The 👍/👎 feedback controls: persistent buttons under each answer and the reaction emoji.

The buttons belong to one persistent :class:`discord.ui.View` (``timeout=None`` and fixed
``custom_id`` values, see https://discordpy.readthedocs.io/en/stable/interactions/api.html#view)
registered once with :meth:`discord.Client.add_view`. Discord routes a click by ``custom_id``,
so buttons on answers sent before a restart keep working; which answer was voted on is found
from the clicked message, exactly as for reactions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

log = logging.getLogger(__name__)

PLATFORM = "discord"
THUMBS_UP = "\N{THUMBS UP SIGN}"
THUMBS_DOWN = "\N{THUMBS DOWN SIGN}"
UP_ID = "supportbot:feedback:up"
DOWN_ID = "supportbot:feedback:down"

# Emoji modifiers a 👍 may carry: skin tones (U+1F3FB–U+1F3FF) and variation selector 16.
_MODIFIERS = {chr(code) for code in range(0x1F3FB, 0x1F400)} | {"\ufe0f"}

VoteHandler = Callable[[discord.Interaction[Any], int], Awaitable[None]]


def message_ref(channel_id: int, message_id: int) -> str:
    """The feedback store's reference of a Discord message: ``"<channel_id>:<message_id>"``."""
    return f"{channel_id}:{message_id}"


def reaction_value(emoji: discord.PartialEmoji) -> int | None:
    """+1 for 👍, -1 for 👎 (any skin tone), ``None`` for every other emoji (custom ones too)."""
    if emoji.id is not None or not emoji.name:
        return None
    base = "".join(ch for ch in emoji.name if ch not in _MODIFIERS)
    return {THUMBS_UP: 1, THUMBS_DOWN: -1}.get(base)


class FeedbackView(discord.ui.View):
    """👍 / 👎 buttons; a click calls ``on_vote(interaction, +1 or -1)``.

    Register one instance with ``on_vote`` set via :meth:`discord.Client.add_view`; attach
    :func:`feedback_buttons` to outgoing answers.
    """

    def __init__(self, on_vote: VoteHandler | None = None) -> None:
        super().__init__(timeout=None)
        self._on_vote = on_vote

    async def _dispatch(self, interaction: discord.Interaction[Any], value: int) -> None:
        if self._on_vote is None:  # a display copy; never registered, so never clicked
            raise RuntimeError("this FeedbackView has no vote handler")
        await self._on_vote(interaction, value)

    @discord.ui.button(emoji=THUMBS_UP, style=discord.ButtonStyle.secondary, custom_id=UP_ID)
    async def helpful(
        self, interaction: discord.Interaction[Any], _button: discord.ui.Button[FeedbackView]
    ) -> None:
        """The 👍 button."""
        await self._dispatch(interaction, 1)

    @discord.ui.button(emoji=THUMBS_DOWN, style=discord.ButtonStyle.secondary, custom_id=DOWN_ID)
    async def not_helpful(
        self, interaction: discord.Interaction[Any], _button: discord.ui.Button[FeedbackView]
    ) -> None:
        """The 👎 button."""
        await self._dispatch(interaction, -1)

    async def on_error(
        self,
        interaction: discord.Interaction[Any],
        error: Exception,
        item: discord.ui.Item[Any],
        /,
    ) -> None:
        """Log the failure and tell the person, briefly and only to them."""
        log.error("feedback button %r failed", getattr(item, "custom_id", item), exc_info=error)
        text = "Sorry, I could not record that. Please try again later."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.exception("could not tell the user that the vote failed")


def feedback_buttons() -> FeedbackView:
    """The buttons to attach to an answer message (display only).

    The returned view is already stopped, so discord.py sends its components without tracking
    the view per message (it would otherwise keep every answer's view in memory for good); the
    clicks reach the registered persistent instance through the shared ``custom_id``.
    """
    view = FeedbackView()
    view.stop()
    return view
