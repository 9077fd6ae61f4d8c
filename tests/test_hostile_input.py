"""Hostile messages (property-based, Hypothesis): whatever people type, the core gets a clean
question or declines politely, and nothing the bot writes to Slack can ping anyone.

End to end through the fake Slack and the fake Discord: ``tests/slack/test_slack_hostile.py``
and ``tests/discord/test_discord_hostile.py``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import Answer, Turn
from bot.platforms.slack.mrkdwn import clean_incoming, markdown_to_mrkdwn
from bot.service import TOO_LONG_MESSAGE, ChatContext, SupportService, clean_question
from tests.test_feedback import make_answer

PINGS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0123|@oncall>",
    "<@U0ADMIN>",
    "<@U0ADMIN|ann>",
    "<#C0GENERAL>",
    "@everyone",
    "@here",
    "<@&123456789012345678>",
    "<@!123456789012345678>",
)
NASTY = "\x00\x07\x1b[31m\u200b\u202e\u2066\ufeff\ud800\U0001f600"
text_with_pings = st.lists(
    st.one_of(st.sampled_from(PINGS), st.text(max_size=20), st.sampled_from(list(NASTY))),
    max_size=12,
).map("".join)
INVISIBLE = set(
    "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)


@settings(max_examples=300, deadline=None)
@given(
    text_with_pings,
    st.dictionaries(
        st.integers(1, 5), st.sampled_from(["https://d.example/a", "file:///x", "mailto:a@b.c"])
    ),
)
def test_nothing_the_bot_writes_to_slack_can_ping(text: str, links: dict[int, str]) -> None:
    out = markdown_to_mrkdwn(text, links)
    # The only angle brackets left are links the bot made itself.
    for m in re.finditer("<", out):
        assert re.match(r"<(https?://|mailto:)[^<>|]*\|", out[m.start() :]), out
    assert "<!" not in out and "<@" not in out and "<#" not in out


@settings(max_examples=300, deadline=None)
@given(text_with_pings)
def test_a_question_is_always_clean(text: str) -> None:
    cleaned = clean_question(clean_incoming(text, "U0BOT"))
    cleaned.encode("utf-8")  # no lone surrogate survives
    assert not any(unicodedata.category(ch) == "Cc" and ch not in "\t\n" for ch in cleaned)
    assert not INVISIBLE & set(cleaned)
    assert clean_question(cleaned) == cleaned


class Recorder:
    """An answer engine that records the questions it gets (answers abstain)."""

    def __init__(self) -> None:
        self.questions: list[str] = []

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        audience: str = "public",
        on_text: Any = None,
    ) -> Answer:
        self.questions.append(question)
        return make_answer(question)


async def test_a_flood_gets_a_polite_refusal_and_never_reaches_the_engine(
    tmp_path: Any,
) -> None:
    from bot.feedback import FeedbackStore

    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    engine = Recorder()
    service = SupportService(engine, store, human_contact="#help", max_question_chars=4_000)
    ctx = ChatContext(platform="slack", audience="public", user_id="U1", channel_id="C1")
    try:
        reply = await service.ask("refund " * 6_000, ctx)  # 42,000 characters
        assert reply.answer is None and reply.error is not None
        assert reply.error == TOO_LONG_MESSAGE.format(length=41_999, limit=4_000, human="#help")
        assert engine.questions == []
        reply = await service.ask("how do\u202e I get a \x00refund?\ud800\u200b", ctx)
        assert reply.answer is not None
        assert engine.questions == ["how do I get a refund??"]
    finally:
        store.close()
