"""End to end: questions asked in Slack are answered in threads, over both transports.

The real Bolt app runs against the local fake Slack (Socket Mode websocket or signed HTTP
POSTs) and the real answer engine; assertions are on what Slack receives (Web API calls) and
on what the feedback store holds.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from fake_slack import BOT_USER_ID, app_mention_event
from slack_harness import (
    ALICE,
    BOB,
    HUMAN_CONTACT,
    PUBLIC_QUESTION,
    PUBLIC_TITLE,
    UNANSWERABLE_QUESTION,
    MakeHarness,
    all_text,
    button_answer_id,
    stored_answer_for,
)

from bot.models import Turn

pytestmark = pytest.mark.asyncio(loop_scope="session")

MODES = ["socket", "http"]
CHANNEL = "C0SUPPORT"


@pytest.mark.parametrize("mode", MODES)
async def test_mention_gets_one_threaded_answer_with_sources(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})

    # Slack sends both message.channels and app_mention for this one message.
    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    post = await h.answer_in_thread(CHANNEL, question)

    assert h.posts_in_thread(CHANNEL, question["ts"]) == [post], "answered exactly once"
    assert [(c.question, c.audience, c.history) for c in h.engine.calls] == [
        (PUBLIC_QUESTION, "public", ())
    ], "the mention markup is stripped and the channel's audience is used"

    blocks = post.args["blocks"]
    assert blocks[0]["type"] == "section" and "[1]" in blocks[0]["text"]["text"]
    sources = [b for b in blocks if b["type"] == "context" and "Sources" in str(b)]
    assert sources and PUBLIC_TITLE in str(sources[0]), "a numbered sources block with titles"
    assert "*[1]*" in sources[0]["elements"][1]["text"]
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [
        "supportbot_vote_up",
        "supportbot_vote_down",
    ]

    # The answer is stored and linked to the posted message, so votes can find it.
    record = await stored_answer_for(h, CHANNEL, post.result["ts"])
    assert record.id == button_answer_id(post)
    assert record.platform == "slack" and record.channel_id == CHANNEL and record.user_id == ALICE
    assert record.question == PUBLIC_QUESTION and not record.abstained

    # The 👀 working sign was shown on the question and taken away afterwards.
    assert h.fake.calls_to("reactions.add", channel=CHANNEL, timestamp=question["ts"], name="eyes")
    assert h.fake.calls_to("reactions.remove", channel=CHANNEL, timestamp=question["ts"])


@pytest.mark.parametrize("mode", MODES)
async def test_direct_message_is_answered_without_mention(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode)
    question = await h.user_says("D0ALICE", PUBLIC_QUESTION, dm=True)

    post = await h.answer_in_thread("D0ALICE", question)

    assert post.args["thread_ts"] == question["ts"]
    assert PUBLIC_TITLE in all_text(post)
    assert [c.question for c in h.engine.calls] == [PUBLIC_QUESTION]


async def test_message_delivered_as_two_events_is_answered_once(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """A DM that mentions the bot may come as message.im and app_mention (two event ids)."""
    caplog.set_level(logging.INFO, logger="bot.platforms.slack")
    h = await make_harness("socket")
    question = await h.user_says("D0ALICE", PUBLIC_QUESTION, dm=True, mention=True)
    await h.deliver_event(app_mention_event(question))

    await h.answer_in_thread("D0ALICE", question)
    await h.fake.wait_for(
        lambda: f"message {question['ts']} in D0ALICE is already being answered" in caplog.text,
        what="the second event to be dropped",
    )
    assert len(h.posts_in_thread("D0ALICE", question["ts"])) == 1
    assert len(h.engine.calls) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_thread_follow_up_is_answered_with_history(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    first = await h.answer_in_thread(CHANNEL, question)

    # Elliptic on its own (the engine abstains on it without context), clear with the thread.
    follow_up_text = "and how long until I get my money back?"
    follow_up = await h.user_says(CHANNEL, follow_up_text, thread_ts=question["ts"], mention=False)
    second = await h.answer_in_thread(CHANNEL, follow_up)

    assert second.args["thread_ts"] == question["ts"], "the follow-up answer stays in the thread"
    assert [c.question for c in h.engine.calls] == [PUBLIC_QUESTION, follow_up_text]
    assert h.engine.calls[1].history == (
        Turn("user", PUBLIC_QUESTION),
        Turn("assistant", first.args["text"]),
    )
    assert "5 business days" in all_text(second), "the history reached the engine"
    stored = await stored_answer_for(h, CHANNEL, second.result["ts"])
    assert stored.history == h.engine.calls[1].history, "the review console can show the thread"


@pytest.mark.parametrize("mode", MODES)
async def test_threads_without_the_bot_and_unmentioned_messages_are_left_alone(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    chatter = await h.user_says(CHANNEL, "lunch anyone?", mention=False)
    reply = await h.user_says(
        CHANNEL, "sure, noon?", user=BOB, thread_ts=chatter["ts"], mention=False
    )
    # The bot looked at the thread (it has to, to know whether it is part of it)...
    await h.fake.wait_for_call("conversations.replies", channel=CHANNEL, ts=chatter["ts"])

    # ...and a question asked afterwards is the only thing answered.
    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    await h.answer_in_thread(CHANNEL, question)

    assert [c.question for c in h.engine.calls] == [PUBLIC_QUESTION]
    assert not h.posts_in_thread(CHANNEL, chatter["ts"])
    assert not h.fake.calls_to("reactions.add", timestamp=reply["ts"])


@pytest.mark.parametrize("mode", MODES)
async def test_ask_command_acks_at_once_and_posts_the_answer(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    h.engine.gate = asyncio.Event()  # the engine is "slow": it waits until released

    ack, _ = await h.slash(PUBLIC_QUESTION, channel=CHANNEL)

    assert ack.status == 200 and ack.seconds < 3.0
    assert "Looking that up" in str(ack.body), "the ack is a visible 'working on it' note"
    assert not h.fake.calls_to("chat.postMessage"), "acked before the answer exists"
    h.engine.gate.set()

    post = await h.fake.wait_for_call("chat.postMessage", channel=CHANNEL)
    assert "thread_ts" not in post.args or post.args["thread_ts"] is None
    assert f"<@{ALICE}> asked" in all_text(post) and PUBLIC_TITLE in all_text(post)
    record = await stored_answer_for(h, CHANNEL, post.result["ts"])
    assert record.question == PUBLIC_QUESTION and record.user_id == ALICE


async def test_follow_up_on_an_ask_answer_knows_the_question(make_harness: MakeHarness) -> None:
    h = await make_harness("socket", slack_audiences={CHANNEL: "public"})
    await h.slash(PUBLIC_QUESTION, channel=CHANNEL)
    answer = await h.fake.wait_for_call("chat.postMessage", channel=CHANNEL)
    assert answer.args["metadata"]["event_type"] == "supportbot_ask"

    follow_up_text = "and how long until I get my money back?"
    follow_up = await h.user_says(
        CHANNEL, follow_up_text, thread_ts=answer.result["ts"], mention=False
    )
    second = await h.answer_in_thread(CHANNEL, follow_up)

    assert h.engine.calls[1].history == (
        Turn("user", PUBLIC_QUESTION),  # from the answer's metadata: /ask leaves no message
        Turn("assistant", answer.args["text"]),
    )
    assert "5 business days" in all_text(second)


@pytest.mark.parametrize("mode", MODES)
async def test_events_are_acked_before_slow_answers_and_show_a_working_sign(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    h.engine.gate = asyncio.Event()

    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)  # returns once Slack got its acks

    await h.fake.wait_for_call("reactions.add", channel=CHANNEL, timestamp=question["ts"])
    assert not h.posts_in_thread(CHANNEL, question["ts"]), "the engine is still working"
    h.engine.gate.set()
    await h.answer_in_thread(CHANNEL, question)


async def test_empty_ask_gets_usage_hint(make_harness: MakeHarness) -> None:
    h = await make_harness("socket")
    ack, _ = await h.slash("   ", channel=CHANNEL)
    assert "/ask" in str(ack.body)
    assert h.engine.calls == []


async def test_ask_in_a_channel_without_the_bot_answers_through_response_url(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness("http", slack_audiences={"C0ELSEWHERE": "public"})
    h.fake.not_a_member.add("C0ELSEWHERE")

    _, response_url = await h.slash(PUBLIC_QUESTION, channel="C0ELSEWHERE")

    await h.fake.wait_for(lambda: h.fake.responses, what="a response_url post")
    (posted,) = h.fake.responses
    assert response_url.endswith(posted[0])
    assert posted[1]["response_type"] == "in_channel"
    assert PUBLIC_TITLE in str(posted[1]["blocks"])


async def test_abstention_looks_different_and_names_a_human(make_harness: MakeHarness) -> None:
    h = await make_harness("socket", slack_audiences={CHANNEL: "public"})
    question = await h.user_says(CHANNEL, UNANSWERABLE_QUESTION)

    post = await h.answer_in_thread(CHANNEL, question)

    text = all_text(post)
    assert "Not found in the documentation" in text
    assert HUMAN_CONTACT in text, "says how to reach a person"
    assert "Sources" not in text
    record = await stored_answer_for(h, CHANNEL, post.result["ts"])
    assert record.abstained
    assert button_answer_id(post) == record.id, "abstentions can be voted on too"


async def test_bare_mention_gets_a_hint_not_an_answer(make_harness: MakeHarness) -> None:
    h = await make_harness("socket")
    question = await h.user_says(CHANNEL, "", mention=False)
    # A bare "@bot" (Slack still sends app_mention).
    message = dict(question, text=f"<@{BOT_USER_ID}>", type="app_mention")
    await h.deliver_event(message)

    post = await h.fake.wait_for_call("chat.postMessage", channel=CHANNEL, thread_ts=question["ts"])
    assert "Ask me a question" in post.args["text"]
    assert h.engine.calls == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_streamed_answer_edits_one_placeholder_then_becomes_the_final_answer(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    words = [
        "Unused",
        "items",
        "can",
        "be",
        "returned",
        "within",
        "thirty",
        "days",
        "of",
        "delivery",
    ]
    h.engine.stream = [" ".join(words[: i + 1]) for i in range(len(words))]
    h.engine.stream_delay_s = 0.25  # ~2.5 s of streaming: at most one write a second

    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    await h.fake.wait_for_call("reactions.remove", channel=CHANNEL, timestamp=question["ts"])

    posts = h.posts_in_thread(CHANNEL, question["ts"])
    assert len(posts) == 1, "one message: the placeholder, edited in place"
    placeholder = posts[0]
    assert placeholder.args["text"] == "Unused …", "the first words are shown at once"
    ts = placeholder.result["ts"]
    updates = h.fake.calls_to("chat.update", channel=CHANNEL, ts=ts)
    partial, final = updates[:-1], updates[-1]
    assert 1 <= len(partial) <= 4, "streamed edits are throttled to about one a second"
    assert all(u.args["text"].endswith(" …") for u in partial)
    # The final edit is the full answer (blocks, sources, vote buttons), linked for votes.
    assert "[1]" in final.args["blocks"][0]["text"]["text"]
    assert any(b["type"] == "actions" for b in final.args["blocks"])
    record = await stored_answer_for(h, CHANNEL, ts)
    assert record.question == PUBLIC_QUESTION
