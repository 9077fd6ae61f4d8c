"""End to end: 👍/👎 from reactions and buttons land in the feedback store, linked to the answer."""

from __future__ import annotations

import logging

import pytest
from fake_slack import BOT_USER_ID, reaction_event
from slack_harness import (
    ALICE,
    BOB,
    PUBLIC_QUESTION,
    ApiCall,
    Harness,
    MakeHarness,
    button_answer_id,
    eventually,
    stored_answer_for,
)

from bot.platforms.slack.blocks import FEEDBACK_BLOCK, FEEDBACK_INPUT, FEEDBACK_VIEW

pytestmark = pytest.mark.asyncio(loop_scope="session")

MODES = ["socket", "http"]
CHANNEL = "C0SUPPORT"


async def answered(h: Harness) -> tuple[ApiCall, str]:
    """Ask a question and return the bot's answer post and the stored answer id."""
    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    post = await h.answer_in_thread(CHANNEL, question)
    record = await stored_answer_for(h, CHANNEL, post.result["ts"])
    return post, record.id


async def votes_become(h: Harness, answer_id: str, expected: list[tuple[str, int, str]]) -> None:
    """Wait until the answer's votes are exactly ``expected`` (user, value, source)."""

    async def current() -> list[tuple[str, int, str]]:
        return sorted((v.user_id, v.value, v.source) for v in await h.store.votes(answer_id))

    await eventually(current, lambda votes: votes == sorted(expected), what=f"votes {expected}")


async def react(h: Harness, kind: str, reaction: str, post: ApiCall, user: str = ALICE) -> None:
    event = reaction_event(
        kind, user=user, reaction=reaction, channel=CHANNEL, ts=post.result["ts"]
    )
    delivery = await h.deliver_event(event)
    assert delivery.status == 200


@pytest.mark.parametrize("mode", MODES)
async def test_reactions_vote_change_and_withdraw(
    make_harness: MakeHarness, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.platforms.slack")
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    post, answer_id = await answered(h)

    await react(h, "reaction_added", "+1", post)
    await votes_become(h, answer_id, [(ALICE, 1, "reaction")])

    # Changing one's mind leaves one vote, not two (alias and skin tone are understood).
    await react(h, "reaction_added", "thumbsdown::skin-tone-3", post)
    await votes_become(h, answer_id, [(ALICE, -1, "reaction")])

    # Another person's vote counts separately.
    await react(h, "reaction_added", "thumbsup", post, user=BOB)
    await votes_become(h, answer_id, [(ALICE, -1, "reaction"), (BOB, 1, "reaction")])

    # Removing the earlier 👍 must not withdraw the later 👎...
    await react(h, "reaction_removed", "+1", post)
    await h.fake.wait_for(
        lambda: f"reaction_removed +1 by {ALICE}" in caplog.text, what="the removal handled"
    )
    await votes_become(h, answer_id, [(ALICE, -1, "reaction"), (BOB, 1, "reaction")])
    # ...and removing the 👎 withdraws it.
    await react(h, "reaction_removed", "-1", post)
    await votes_become(h, answer_id, [(BOB, 1, "reaction")])


async def test_other_reactions_and_other_messages_are_not_votes(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness("socket", slack_audiences={CHANNEL: "public"})
    post, answer_id = await answered(h)

    await react(h, "reaction_added", "tada", post)
    people_message = h.fake.post_user_message(CHANNEL, "hello", user=BOB)
    await h.deliver_event(
        reaction_event(
            "reaction_added",
            user=ALICE,
            reaction="+1",
            channel=CHANNEL,
            ts=people_message["ts"],
            item_user=BOB,
        )
    )
    # The bot's own 👀 reaction (Slack echoes it as an event) is not a vote either.
    await h.deliver_event(
        reaction_event(
            "reaction_added", user=BOT_USER_ID, reaction="+1", channel=CHANNEL, ts=post.result["ts"]
        )
    )
    # A real vote afterwards is the only one stored.
    await react(h, "reaction_added", "+1", post, user=BOB)
    await votes_become(h, answer_id, [(BOB, 1, "reaction")])
    assert await h.store.votes() == await h.store.votes(answer_id)


@pytest.mark.parametrize("mode", MODES)
async def test_buttons_vote_and_thumbs_down_asks_what_was_wrong(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    post, answer_id = await answered(h)
    assert button_answer_id(post) == answer_id

    ack, response_url = await h.click(
        "supportbot_vote_up", answer_id, channel=CHANNEL, message_ts=post.result["ts"]
    )
    assert ack.status == 200
    await votes_become(h, answer_id, [(ALICE, 1, "button")])
    await h.fake.wait_for(lambda: h.fake.responses, what="the ephemeral thanks")
    (thanks_id, thanks) = h.fake.responses[0]
    assert response_url.endswith(thanks_id)
    assert thanks["response_type"] == "ephemeral" and "Thanks" in thanks["text"]

    # 👎 replaces the 👍 and opens the optional modal.
    await h.click("supportbot_vote_down", answer_id, channel=CHANNEL, message_ts=post.result["ts"])
    opened = await h.fake.wait_for_call("views.open")
    assert opened.args["trigger_id"]
    view = opened.args["view"]
    assert view["callback_id"] == FEEDBACK_VIEW and view["private_metadata"] == answer_id
    assert view["blocks"][0]["optional"] is True
    await votes_become(h, answer_id, [(ALICE, -1, "button")])

    submitted = await h.submit_view(
        view,
        {FEEDBACK_BLOCK: {FEEDBACK_INPUT: {"type": "plain_text_input", "value": " Outdated. "}}},
    )
    assert submitted.status == 200

    async def comments() -> list[tuple[str, int, str | None]]:
        return [(v.user_id, v.value, v.comment) for v in await h.store.votes(answer_id)]

    await eventually(
        comments, lambda c: c == [(ALICE, -1, "Outdated.")], what="the comment to be stored"
    )
