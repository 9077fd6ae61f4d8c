"""End to end: retries answered once, forged requests rejected, no bot loops, clear errors,
rate limits retried."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fake_slack import BOT_ID, BOT_USER_ID, SIGNING_SECRET, event_callback
from slack_harness import (
    HUMAN_CONTACT,
    PUBLIC_QUESTION,
    Harness,
    MakeHarness,
    all_text,
    stored_answer_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

MODES = ["socket", "http"]
CHANNEL = "C0SUPPORT"


@pytest.mark.parametrize("mode", MODES)
async def test_retried_event_is_answered_once(
    make_harness: MakeHarness, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.platforms.slack")
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    message = h.fake.post_user_message(CHANNEL, f"<@{BOT_USER_ID}> {PUBLIC_QUESTION}", user="U1")
    body = event_callback(dict(message, type="app_mention"))

    first = await h.deliver(body)  # Socket Mode marks this retry_attempt 0
    again = await h.deliver(body, retry_num=1)  # Slack thought the first was lost
    again2 = await h.deliver(body, retry_num=2)
    assert first.status == again.status == again2.status == 200

    await h.answer_in_thread(CHANNEL, message)
    repeat = f"repeated delivery of event {body['event_id']}"
    await h.fake.wait_for(lambda: caplog.text.count(repeat) == 2, what="both repeats skipped")
    assert len(h.posts_in_thread(CHANNEL, message["ts"])) == 1
    assert len(h.engine.calls) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_first_seen_retry_is_answered(make_harness: MakeHarness, mode: str) -> None:
    """If the original delivery never arrived, the retry is the one to answer."""
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    message = h.fake.post_user_message(CHANNEL, f"<@{BOT_USER_ID}> {PUBLIC_QUESTION}", user="U1")

    await h.deliver(event_callback(dict(message, type="app_mention")), retry_num=1)

    post = await h.answer_in_thread(CHANNEL, message)
    assert post.args["thread_ts"] == message["ts"]


async def test_duplicate_event_id_is_answered_once_across_replicas(
    make_harness: MakeHarness,
) -> None:
    """Two HTTP replicas behind a load balancer share the feedback database; Slack's original
    delivery reaches one and its retry the other: only one answers."""
    one = await make_harness("http", slack_audiences={CHANNEL: "public"})
    two = await make_harness(
        "http", slack_audiences={CHANNEL: "public"}, database_url=one.store.url
    )
    message = one.fake.post_user_message(CHANNEL, f"<@{BOT_USER_ID}> {PUBLIC_QUESTION}", user="U1")
    body = event_callback(dict(message, type="app_mention"))

    assert (await one.deliver(body)).status == 200
    assert (await two.deliver(body, retry_num=1)).status == 200

    await one.answer_in_thread(CHANNEL, message)
    assert len(one.engine.calls) + len(two.engine.calls) == 1
    assert len(one.posts_in_thread(CHANNEL, message["ts"])) == 1


async def test_forged_or_stale_requests_are_rejected(make_harness: MakeHarness) -> None:
    h = await make_harness("http", slack_audiences={CHANNEL: "public"})
    message = h.fake.post_user_message(CHANNEL, f"<@{BOT_USER_ID}> {PUBLIC_QUESTION}", user="U1")
    body = json.dumps(event_callback(dict(message, type="app_mention")))

    forged = await h.fake.post_signed(
        h.events_url, body, "application/json", secret="not-the-signing-secret"
    )
    stale = await h.fake.post_signed(
        h.events_url, body, "application/json", timestamp=int(time.time()) - 600
    )
    assert forged.status == 401 and stale.status == 401

    # The same body correctly signed is accepted, so the rejections were about the signature.
    good = await h.fake.post_signed(h.events_url, body, "application/json", secret=SIGNING_SECRET)
    assert good.status == 200
    await h.answer_in_thread(CHANNEL, message)
    assert len(h.engine.calls) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_own_and_other_bots_messages_are_ignored(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode)
    # The bot's own answer echoed back as a DM message event, and another bot's message.
    own = h.fake.post_user_message("D0ALICE", "Refunds take 14 days.", user=BOT_USER_ID)
    own["bot_id"] = BOT_ID
    other = h.fake.post_user_message("D0ALICE", "I am a bot too", user="U0OTHERBOT")
    other.update(bot_id="B0OTHER", subtype="bot_message")
    for event in (dict(own, channel_type="im"), dict(other, channel_type="im")):
        assert (await h.deliver_event(event)).status == 200

    # A person's DM sent afterwards is the only thing answered.
    question = await h.user_says("D0ALICE", PUBLIC_QUESTION, dm=True)
    await h.answer_in_thread("D0ALICE", question)
    assert [c.question for c in h.engine.calls] == [PUBLIC_QUESTION]
    assert not h.fake.calls_to("reactions.add", timestamp=own["ts"])
    assert not h.fake.calls_to("reactions.add", timestamp=other["ts"])
    posts = h.fake.calls_to("chat.postMessage", channel="D0ALICE")
    assert [p.args["thread_ts"] for p in posts] == [question["ts"]]


async def test_core_failure_gives_a_short_message_and_logs_details(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = await make_harness("socket", slack_audiences={CHANNEL: "public"})
    h.engine.fail_with = RuntimeError("vector store exploded: secret-internal-detail")

    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    post = await h.answer_in_thread(CHANNEL, question)

    text = all_text(post)
    assert "Sorry, something went wrong" in text and HUMAN_CONTACT in text
    assert "secret-internal-detail" not in text, "details stay out of Slack"
    assert "secret-internal-detail" in caplog.text, "details go to the log"
    assert not any(b["type"] == "actions" for b in post.args["blocks"]), "nothing to vote on"


async def test_slack_side_failure_gives_a_short_message_and_logs_details(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = await make_harness("http", slack_audiences={CHANNEL: "public"})
    h.fake.fail_next("chat.postMessage", "invalid_blocks")  # Slack refuses the answer

    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    post = await h.answer_in_thread(CHANNEL, question)

    attempts = h.posts_in_thread(CHANNEL, question["ts"])
    assert [a.result.get("error") for a in attempts] == ["invalid_blocks", None]
    assert "Sorry, something went wrong" in all_text(post) and HUMAN_CONTACT in all_text(post)
    assert "invalid_blocks" not in all_text(post)
    assert "invalid_blocks" in caplog.text


async def test_rate_limited_post_is_retried(make_harness: MakeHarness) -> None:
    h = await make_harness("socket", slack_audiences={CHANNEL: "public"})
    h.fake.rate_limit("chat.postMessage", times=1)

    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    post = await h.answer_in_thread(CHANNEL, question)

    attempts = h.fake.calls_to("chat.postMessage", channel=CHANNEL, thread_ts=question["ts"])
    assert [a.result.get("error") for a in attempts] == ["ratelimited", None]
    assert post is attempts[-1]
    await stored_answer_for(h, CHANNEL, post.result["ts"])


def bot_messages(h: Harness, channel: str, thread_ts: str | None) -> list[dict]:
    """The bot's messages in a thread (or the channel's top level) as Slack stored them."""
    if thread_ts is not None:
        return [m for m in h.fake.thread(channel, thread_ts) if m.get("bot_id") == BOT_ID]
    top = h.fake.messages.get(channel, [])
    return [m for m in top if m.get("bot_id") == BOT_ID and "thread_ts" not in m]


@pytest.mark.parametrize(
    ("status", "processed"),
    [(500, True), (503, True), (500, False), (503, False)],
    ids=["500-posted", "503-posted", "500-lost", "503-lost"],
)
async def test_a_server_error_on_posting_never_posts_twice(
    make_harness: MakeHarness, status: int, processed: bool
) -> None:
    """Slack may store a message and still answer 5xx: the bot looks for its post (by the
    post id in its metadata) before it posts again, so the answer arrives exactly once."""
    h = await make_harness("socket", slack_audiences={CHANNEL: "public"})
    h.fake.server_error("chat.postMessage", status=status, processed=processed)

    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    await h.answer_in_thread(CHANNEL, question)

    posted = bot_messages(h, CHANNEL, question["ts"])
    assert len(posted) == 1, posted
    assert "30 days" in json.dumps(posted[0]["blocks"])
    attempts = h.posts_in_thread(CHANNEL, question["ts"])
    assert len(attempts) == (1 if processed else 2)  # re-posted only when it did not arrive
    lookups = h.fake.calls_to("conversations.replies", channel=CHANNEL, ts=question["ts"])
    assert any(str(c.args.get("include_all_metadata")).lower() in ("1", "true") for c in lookups)
    await stored_answer_for(h, CHANNEL, posted[0]["ts"])  # votes on it are linked


async def test_a_server_error_on_an_ask_answer_never_posts_twice(
    make_harness: MakeHarness,
) -> None:
    """The same for ``/ask``, whose answer is a top-level message (``conversations.history``)."""
    h = await make_harness("http", slack_audiences={CHANNEL: "public"})
    h.fake.server_error("chat.postMessage", status=500, processed=True)

    await h.slash(PUBLIC_QUESTION, channel=CHANNEL)
    await h.fake.wait_for_call("conversations.history", channel=CHANNEL)
    record = await h.fake.wait_for(lambda: bot_messages(h, CHANNEL, None), what="the answer")
    await stored_answer_for(h, CHANNEL, record[0]["ts"])
    assert len(bot_messages(h, CHANNEL, None)) == 1
    assert len(h.fake.calls_to("chat.postMessage", channel=CHANNEL)) == 1


async def test_posting_gives_up_cleanly_when_slack_stays_down(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = await make_harness("socket", slack_audiences={CHANNEL: "public"})
    h.fake.server_error("chat.postMessage", status=503, times=6)

    question = await h.user_says(CHANNEL, PUBLIC_QUESTION)
    await h.fake.wait_for_call("reactions.remove", channel=CHANNEL, timestamp=question["ts"])
    assert bot_messages(h, CHANNEL, question["ts"]) == []
    assert len(h.posts_in_thread(CHANNEL, question["ts"])) <= 6  # bounded: no endless loop
    assert "posting to C0SUPPORT failed" in caplog.text
