"""Units: Slack text handling, reaction names, Block Kit limits, thread history."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.models import Answer, Citation, Timings, Turn
from bot.platforms.slack.blocks import answer_message, feedback_text, notice_message
from bot.platforms.slack.mrkdwn import (
    clean_incoming,
    markdown_to_mrkdwn,
    mentions,
    split_for_blocks,
)
from bot.platforms.slack.reactions import reaction_vote
from bot.platforms.slack.threads import read_thread


def _answer(text: str, n_sources: int = 1, *, abstained: bool = False) -> Answer:
    citations = tuple(
        Citation(
            number=i,
            chunk_id=f"c{i}",
            doc_id=f"d{i}",
            title=f"Doc <{i}> & co",
            uri=f"https://docs.example.com/d{i}" if i % 2 else f"/srv/docs/d{i}.pdf",
            snippet="x " * 200,
            score=1.0,
            page=i,
        )
        for i in range(1, n_sources + 1)
    )
    return Answer("q?", text, citations, abstained, 0.5, "extractive", "public", Timings())


def test_clean_incoming_removes_own_mention_and_keeps_meaning() -> None:
    text = (
        "<@U0BOT> is <@U1|ann> in <#C9|general>? see <https://x.io/a|the doc> &amp; <!here> &lt;3"
    )
    assert clean_incoming(text, "U0BOT") == (
        "is @ann in #general? see the doc (https://x.io/a) & @here <3"
    )
    assert mentions("hey <@U0BOT>", "U0BOT") and mentions("<@U0BOT|bot> hi", "U0BOT")
    assert not mentions("hey <@U0BOTX>", "U0BOT") and not mentions("hey", None)


def test_markdown_is_converted_and_escaped() -> None:
    out = markdown_to_mrkdwn(
        "## Refunds\n**Within 14 days** [1] & <b> see [form](https://x.io/f) [2]",
        {1: "https://docs.example.com/r", 2: "/local/file.pdf"},
    )
    assert out == (
        "*Refunds*\n*Within 14 days* <https://docs.example.com/r|[1]> &amp; &lt;b&gt; see "
        "<https://x.io/f|form> [2]"
    )


@pytest.mark.parametrize(
    ("name", "vote"),
    [
        ("+1", 1),
        ("thumbsup", 1),
        ("+1::skin-tone-4", 1),
        ("-1", -1),
        ("thumbsdown", -1),
        ("heart", None),
        ("", None),
    ],
)
def test_reaction_votes(name: str, vote: int | None) -> None:
    assert reaction_vote(name) == vote


def test_long_answers_and_many_sources_stay_within_block_kit_limits() -> None:
    message = answer_message(_answer("word " * 2000, n_sources=20), "a1", human_contact="#help")
    blocks = message.blocks_json()  # raises if a Slack limit is broken
    assert [b.to_dict() for b in Block.parse_all(blocks)] == blocks
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) == 4 and all(len(b["text"]["text"]) <= 3000 for b in sections)
    (sources,) = [b for b in blocks if b["type"] == "context"]
    assert len(sources["elements"]) == 10
    assert "*[20]*" in sources["elements"][-1]["text"], "no source is dropped"
    assert "&lt;1&gt; &amp; co" in sources["elements"][1]["text"], "titles are escaped"
    assert "<https://docs.example.com/d1|" in sources["elements"][1]["text"]
    assert "/srv/docs/d2.pdf" not in str(blocks), "non-web URIs are not turned into links"


def test_abstention_and_notice_layouts() -> None:
    abstain = answer_message(
        _answer("Not in the docs.", 0, abstained=True), None, human_contact="#hr"
    )
    text = str(abstain.blocks_json())
    assert "Not found in the documentation" in text and "#hr" in text
    assert "actions" not in text, "no buttons without a stored answer id"
    assert notice_message("a < b").blocks_json()[0]["text"]["text"] == ":warning: a &lt; b"


def test_split_for_blocks_prefers_paragraphs() -> None:
    assert split_for_blocks("aaa\n\nbbb ccc", 8) == ["aaa", "bbb ccc"]
    assert split_for_blocks("x" * 10, 4) == ["xxxx", "xxxx", "xx"]


def test_feedback_text_reads_the_modal_state() -> None:
    state = {"state": {"values": {"what_was_wrong": {"text": {"value": "  old  "}}}}}
    assert feedback_text(state) == "old"
    assert (
        feedback_text({"state": {"values": {"what_was_wrong": {"text": {"value": None}}}}}) is None
    )


class _Replies:
    """A stand-in for AsyncWebClient.conversations_replies with two pages."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.cursors: list[str | None] = []

    async def conversations_replies(self, **kwargs: Any) -> dict[str, Any]:
        self.cursors.append(kwargs.get("cursor"))
        index = int(kwargs["cursor"]) if kwargs.get("cursor") else 0
        more = index + 1 < len(self.pages)
        return {
            "messages": self.pages[index],
            "response_metadata": {"next_cursor": str(index + 1) if more else ""},
        }


@pytest.mark.asyncio(loop_scope="session")
async def test_read_thread_builds_history_across_pages() -> None:
    client = _Replies(
        [
            [
                {"ts": "1.0", "user": "U1", "text": "<@UB> how do refunds work?"},
                {"ts": "2.0", "user": "UB", "bot_id": "BB", "text": "Within 14 days [1]."},
            ],
            [
                {"ts": "3.0", "user": "U2", "subtype": "channel_join", "text": "joined"},
                {"ts": "4.0", "bot_id": "BOTHER", "subtype": "bot_message", "text": "beep"},
                {"ts": "5.0", "user": "U1", "text": "and for &lt;sale&gt; items?"},
                {"ts": "6.0", "user": "U1", "text": "later message"},
            ],
        ]
    )
    view = await read_thread(
        client,  # type: ignore[arg-type]
        channel="C1",
        thread_ts="1.0",
        before_ts="6.0",
        bot_user_id="UB",
        bot_id="BB",
    )
    assert client.cursors == [None, "1"]
    assert view.bot_participates
    assert view.history == (
        Turn("user", "how do refunds work?"),
        Turn("assistant", "Within 14 days [1]."),
        Turn("user", "and for <sale> items?"),
    )


def test_flattened_heading_runs_into_text_keeps_the_text_plain() -> None:
    out = markdown_to_mrkdwn("## Returns Customers can return any unused item within 30 days [1].")
    assert out == "Returns Customers can return any unused item within 30 days [1]."


def test_abstention_names_the_contact_once() -> None:
    said = _answer("Not in the docs. Please ask #hr, who can help.", 0, abstained=True)
    text = str(answer_message(said, "a1", human_contact="#hr").blocks_json())
    assert text.count("#hr") == 1
