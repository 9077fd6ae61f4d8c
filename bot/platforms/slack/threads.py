"""Reading a Slack thread: is the bot part of it, and what was said before (the history).

Uses ``conversations.replies`` (https://docs.slack.dev/reference/methods/conversations.replies),
which returns the parent first and then the replies, oldest first, paginated by cursor. Scopes:
``channels:history``, ``groups:history``, ``im:history``, ``mpim:history``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.metadata import Metadata
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Turn
from bot.platforms.slack.mrkdwn import clean_incoming, unescape

MAX_HISTORY_TURNS = 10
"""Earlier turns passed to the core (the most recent ones)."""
MAX_TURN_CHARS = 2000
PAGE_SIZE = 200
MAX_PAGES = 5
"""Threads longer than PAGE_SIZE * MAX_PAGES messages are read only that far."""

USER_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
"""Message subtypes that are something a person said (the rest are joins, edits, bots…)."""

ASK_METADATA_TYPE = "supportbot_ask"
"""Message metadata event type on an answer to ``/ask``; its payload's ``question`` is the
question, which is not otherwise in the thread (https://docs.slack.dev/messaging/message-metadata).
"""


def ask_metadata(question: str) -> Metadata:
    """Metadata to post with an answer to ``/ask`` so thread follow-ups know the question."""
    return Metadata(
        event_type=ASK_METADATA_TYPE, event_payload={"question": question[:MAX_TURN_CHARS]}
    )


@dataclass(frozen=True)
class ThreadView:
    """What the bot needs from a thread: whether it has posted there, and the earlier turns."""

    bot_participates: bool
    history: tuple[Turn, ...]


def is_own_message(message: dict[str, Any], bot_user_id: str | None, bot_id: str | None) -> bool:
    """Whether a message (or event) was posted by this bot."""
    return bool(
        (bot_user_id and message.get("user") == bot_user_id)
        or (bot_id and message.get("bot_id") == bot_id)
    )


async def read_thread(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str,
    before_ts: str,
    bot_user_id: str | None,
    bot_id: str | None,
    max_turns: int = MAX_HISTORY_TURNS,
) -> ThreadView:
    """Read the thread ``thread_ts`` in ``channel``.

    History holds the messages older than ``before_ts`` (the question being answered): the
    bot's own as ``assistant`` turns (preceded by the question for an answer to ``/ask``, from
    its :func:`ask_metadata`), people's as ``user`` turns (mention of the bot removed), other
    bots' left out; at most ``max_turns``, the most recent.

    Raises:
        slack_sdk.errors.SlackApiError: the Web API call failed.
    """
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        resp = await client.conversations_replies(
            channel=channel, ts=thread_ts, limit=PAGE_SIZE, cursor=cursor, include_all_metadata=True
        )
        messages.extend(resp.get("messages") or [])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break

    participates = any(is_own_message(m, bot_user_id, bot_id) for m in messages)
    before = float(before_ts)
    turns: list[Turn] = []
    for m in sorted(messages, key=lambda m: float(m.get("ts", "0"))):
        if float(m.get("ts", "0")) >= before:
            continue
        text = m.get("text") or ""
        if is_own_message(m, bot_user_id, bot_id):
            asked = _asked_question(m)
            if asked:
                turns.append(Turn("user", asked[:MAX_TURN_CHARS]))
            turn = Turn("assistant", unescape(text).strip())
        elif m.get("bot_id") or m.get("subtype") not in USER_SUBTYPES:
            continue
        else:
            turn = Turn("user", clean_incoming(text, bot_user_id))
        if turn.text:
            turns.append(Turn(turn.role, turn.text[:MAX_TURN_CHARS]))
    return ThreadView(participates, tuple(turns[-max_turns:]) if max_turns > 0 else ())


def _asked_question(message: dict[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != ASK_METADATA_TYPE:
        return None
    question = (metadata.get("event_payload") or {}).get("question")
    return question.strip() if isinstance(question, str) and question.strip() else None
