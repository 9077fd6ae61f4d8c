"""The one exception base class of the knowledge side, which the CLI and the adapters catch
and show as one line (the pattern of discord.py's ``DiscordException``)."""

from __future__ import annotations


class KnowledgeError(RuntimeError):
    """Base of the errors the knowledge side raises with a message meant for the user."""
