"""Contract: the fake Slack's payloads are what the installed slack-bolt/slack-sdk understand.

The end-to-end tests are only as good as the fake's wire format. These checks run the fake's
payloads through the libraries' own parsers, so an upgrade that changes how Bolt reads a
payload (or maps Socket Mode retries to ``X-Slack-Retry-Num``) fails here first.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import slack_bolt.version
import slack_sdk.version
from fake_slack import (
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    block_action,
    event_callback,
    form_body,
    interaction_body,
    reaction_event,
    sign,
    slash_command,
    view_submission,
)
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.payload_utils import (
    is_action,
    is_event,
    is_slash_command,
    is_view_submission,
    to_action,
    to_command,
    to_event,
    to_view,
)
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.platforms.slack.blocks import feedback_modal, vote_buttons
from bot.platforms.slack.listeners import retry_number

ALICE = "U0ALICE"


def _major(version: str) -> int:
    return int(version.split(".")[0])


def test_library_versions_are_the_supported_majors() -> None:
    # pyproject: slack-bolt>=1.21,<2 and slack-sdk>=3.33,<4; the fake was checked against
    # slack-bolt 1.30 / slack-sdk 3.47.
    assert _major(slack_bolt.version.__version__) == 1
    assert _major(slack_sdk.version.__version__) == 3


@pytest.mark.parametrize("attempt", [0, 2])
def test_socket_mode_envelope_and_retry_attempt(attempt: int) -> None:
    body = event_callback({"type": "app_mention", "user": ALICE, "channel": "C1", "ts": "1.0"})
    envelope = {
        "envelope_id": "e1",
        "payload": body,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": attempt,
        "retry_reason": "timeout" if attempt else "",
    }
    req = SocketModeRequest.from_dict(json.loads(json.dumps(envelope)))
    assert req is not None and req.envelope_id == "e1" and req.retry_attempt == attempt
    headers = build_headers(req)
    # Bolt turns retry_attempt into X-Slack-Retry-Num, even 0 on a first delivery.
    assert headers is not None and headers["x-slack-retry-num"] == str(attempt)
    bolt_req = AsyncBoltRequest(mode="socket_mode", body=req.payload, headers=headers)
    assert retry_number(bolt_req) == attempt
    assert is_event(bolt_req.body) and bolt_req.context.team_id == TEAM_ID


def test_hello_is_not_an_envelope() -> None:
    hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0FAKE"}}
    assert SocketModeRequest.from_dict(hello) is None


def test_http_signature_is_slack_v0() -> None:
    body = json.dumps(event_callback({"type": "app_mention", "user": ALICE}))
    ts = str(int(time.time()))
    assert SignatureVerifier(SIGNING_SECRET).is_valid(body, ts, sign(SIGNING_SECRET, ts, body))
    assert not SignatureVerifier(SIGNING_SECRET).is_valid(body, ts, sign("other", ts, body))


def _http_request(body: str, content_type: str, retry: int | None = None) -> AsyncBoltRequest:
    headers: dict[str, Any] = {"content-type": content_type}
    if retry is not None:
        headers["x-slack-retry-num"] = str(retry)
    return AsyncBoltRequest(body=body, headers=headers)


def test_event_payloads_give_bolt_the_context_the_listeners_use() -> None:
    message = {
        "type": "message",
        "user": ALICE,
        "text": "hi",
        "ts": "1700000001.000100",
        "thread_ts": "1700000000.000100",
        "channel": "C0SUPPORT",
        "channel_type": "channel",
        "event_ts": "1700000001.000100",
    }
    req = _http_request(json.dumps(event_callback(message)), "application/json", retry=1)
    assert to_event(req.body) == message
    assert req.context.user_id == ALICE and req.context.channel_id == "C0SUPPORT"
    assert req.context.thread_ts == "1700000000.000100"
    assert retry_number(req) == 1

    reaction = reaction_event("reaction_added", user=ALICE, reaction="+1", channel="C1", ts="1.0")
    req = _http_request(json.dumps(event_callback(reaction)), "application/json")
    assert req.context.user_id == ALICE and retry_number(req) == 0
    assert to_event(req.body) is not None and to_event(req.body)["item"]["ts"] == "1.0"  # type: ignore[index]


def test_slash_command_form_is_a_command() -> None:
    fields = slash_command("refunds?", channel="C1", user=ALICE, response_url="http://x/r")
    req = _http_request(form_body(fields), "application/x-www-form-urlencoded")
    assert is_slash_command(req.body)
    command = to_command(req.body)
    assert command is not None and command["command"] == "/ask" and command["text"] == "refunds?"
    assert req.context.channel_id == "C1" and req.context.user_id == ALICE
    assert req.context.response_url == "http://x/r"


def test_interaction_payloads_are_actions_and_views() -> None:
    click = block_action(
        "supportbot_vote_up", "a1", user=ALICE, channel="C1", message_ts="1.0", response_url="u"
    )
    req = _http_request(interaction_body(click), "application/x-www-form-urlencoded")
    assert is_action(req.body)
    action = to_action(req.body)
    assert action is not None and action["action_id"] == "supportbot_vote_up"
    assert req.context.user_id == ALICE and req.context.channel_id == "C1"
    assert req.context.response_url == "u"

    modal = feedback_modal("a1").to_dict()
    submission = view_submission(modal, user=ALICE, values={})
    req = _http_request(interaction_body(submission), "application/x-www-form-urlencoded")
    assert is_view_submission(req.body)
    view = to_view(req.body)
    assert view is not None and view["callback_id"] == modal["callback_id"]
    assert view["private_metadata"] == "a1"


def test_blocks_round_trip_through_the_sdk_models() -> None:
    blocks = [vote_buttons("a1").to_dict()]
    assert [b.to_dict() for b in Block.parse_all(blocks)] == blocks


@pytest.mark.asyncio(loop_scope="session")
async def test_web_api_answers_are_accepted_by_the_sdk() -> None:
    fake = FakeSlack()
    await fake.start()
    try:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
        auth = await client.auth_test()
        assert auth["user_id"] == BOT_USER_ID and auth["bot_id"] == BOT_ID
        posted = await client.chat_postMessage(channel="C1", text="hi", blocks=[])
        replies = await client.conversations_replies(channel="C1", ts=posted["ts"])
        assert [m["ts"] for m in replies["messages"]] == [posted["ts"]]
        opened = await AsyncWebClient(base_url=fake.api_url).apps_connections_open(
            app_token=APP_TOKEN
        )
        assert str(opened["url"]).startswith("ws://127.0.0.1:")
    finally:
        await fake.close()
