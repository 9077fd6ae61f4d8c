"""Discord adapter (discord.py 2.x): /ask, mentions, forum posts, thread follow-ups, 👍/👎.

Start it with :func:`serve` (``supportbot serve discord``). Modules: :mod:`.client` (the bot),
:mod:`.cog` (behaviour), :mod:`.formatting` (embeds), :mod:`.feedback_ui` (buttons,
reactions), :mod:`.audience`, :mod:`.conversation`, :mod:`.command_sync`, :mod:`.access`
(intents, permissions, invite URL) and :mod:`.limits`.
"""

from bot.platforms.discord.runner import serve

__all__ = ["serve"]
