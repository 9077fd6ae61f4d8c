"""From Discord messages to the core's inputs: the question text and the earlier turns.

Pure functions over :class:`discord.Message` data; no network. The adapter fetches a thread's
recent messages and passes them here to build the ``history`` the engine gets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import discord

from bot.models import Turn

# Messages of a thread read as history for a follow-up (one REST page; Discord allows 100).
HISTORY_LIMIT = 20

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def mentions_bot(message: discord.Message, bot_id: int, bot_role_id: int | None = None) -> bool:
    """Whether ``message`` @-mentions the bot's user, or its managed role (``bot_role_id``).

    ``@everyone``/``@here`` do not count.
    """
    if bot_id in message.raw_mentions:
        return True
    return bot_role_id is not None and bot_role_id in message.raw_role_mentions


def mentions_others(message: discord.Message, bot_id: int) -> bool:
    """Whether ``message`` @-mentions some user other than the bot (it talks to someone else)."""
    return any(user_id != bot_id for user_id in message.raw_mentions)


def strip_bot_mentions(text: str, bot_id: int, bot_role_id: int | None = None) -> str:
    """``text`` without the bot's user/role mention tokens, whitespace collapsed per line."""

    def drop_user(match: re.Match[str]) -> str:
        return "" if int(match.group(1)) == bot_id else match.group(0)

    def drop_role(match: re.Match[str]) -> str:
        return (
            ""
            if bot_role_id is not None and int(match.group(1)) == bot_role_id
            else (match.group(0))
        )

    text = _ROLE_MENTION.sub(drop_role, _USER_MENTION.sub(drop_user, text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line).strip()


def with_title(title: str | None, body: str) -> str:
    """A forum post's or thread's question: its title, then the body unless it repeats it."""
    title = (title or "").strip()
    if not title or body.lower().startswith(title.lower()):
        return body
    return f"{title}\n{body}" if body else title


def message_text(message: discord.Message) -> str:
    """What a message says: its content, or for an embed-only message (the bot's answers)
    the first embed's description."""
    if message.content:
        return message.content
    for embed in message.embeds:
        if embed.description:
            return embed.description
    return ""


def history_turns(
    messages: Iterable[discord.Message],
    *,
    bot_id: int,
    bot_role_id: int | None = None,
    thread: discord.Thread | None = None,
) -> list[Turn]:
    """Earlier turns from ``messages`` (oldest first): the bot's as ``assistant``, people's as
    ``user``.

    Other bots' messages and empty messages are skipped. The thread's starter message (a forum
    post: same id as the thread) is prefixed with the thread title.
    """
    turns: list[Turn] = []
    for message in messages:
        if message.author.id == bot_id:
            text = message_text(message).strip()
            if text:
                turns.append(Turn("assistant", text))
            continue
        if message.author.bot:
            continue
        text = strip_bot_mentions(message_text(message), bot_id, bot_role_id)
        if thread is not None and message.id == thread.id:
            text = with_title(thread.name, text)
        if text:
            turns.append(Turn("user", text))
    return turns


def bot_spoke(messages: Sequence[discord.Message], bot_id: int) -> bool:
    """Whether the bot wrote any of ``messages``."""
    return any(message.author.id == bot_id for message in messages)
