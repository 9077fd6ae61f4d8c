"""End to end through the fake Slack: pings in a question or in the documents are never
amplified, and floods or invisible characters get a clear reply, never a traceback.

The engine here answers from one document written to tempt the bot into pinging: it quotes
``<!channel>``, ``<!here>``, a user and a user group.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fake_slack import BOT_USER_ID, event_callback
from hypothesis import example, given
from slack_harness import Harness, MakeHarness, all_text

from bot.engine import SupportEngine
from bot.service import TOO_LONG_MESSAGE
from tests.conftest import engine_over, fuzz_run, hostile_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")
CHANNEL = "C0SUPPORT"
ANNOUNCEMENTS = """# Office announcements

## Reaching everyone
To notify the whole office about an outage, post in #general and start the message with
<!channel> or <!here>, or type @everyone. Urgent pages go to <@U0ADMIN> and the
<!subteam^S0123|@oncall> group.

## Fire drills
Fire drills happen on the first Monday of each quarter at ten in the morning. Leave by the
nearest stairs and gather in the north car park.

## Kitchen
The kitchen is cleaned every evening. Label food in the fridge with your name and the date.
"""
PINGS = ("<!channel>", "<!here>", "<!everyone>", "<!subteam", "<@U0ADMIN", "<@U0BOSS")


@pytest.fixture(scope="module")
def slack_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupportEngine]:
    """Overrides the shared engine: one over the announcements document."""
    engine = engine_over(tmp_path_factory, {"announcements.md": ANNOUNCEMENTS})
    yield engine
    engine.close()


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_pings_in_questions_and_documents_ping_nobody(
    make_harness: MakeHarness, mode: str
) -> None:
    h = await make_harness(mode, slack_audiences={CHANNEL: "public"})
    text = f"<@{BOT_USER_ID}> <!here> how do I notify the whole office about an outage? <@U0BOSS>"
    message = h.fake.post_user_message(CHANNEL, text, user="U1")
    await h.deliver(event_callback(dict(message, type="app_mention")))
    post = await h.answer_in_thread(CHANNEL, message)
    shown = all_text(post)
    assert "&lt;!channel&gt;" in shown  # the document's sentence is quoted, defused
    for ping in PINGS:
        assert ping not in shown, ping
    for call in h.fake.calls_to("chat.postMessage") + h.fake.calls_to("chat.update"):
        assert not any(p in all_text(call) for p in PINGS), call.args


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refund " * 6_000, "too long for me"),
        ("\u202ewhen\u200b are \x07fire drills?\ufeff", "first Monday"),
    ],
)
async def test_floods_and_invisible_characters_get_a_clear_reply(
    make_harness: MakeHarness, text: str, expected: str
) -> None:
    h = await make_harness("http", slack_audiences={CHANNEL: "public"})
    message = h.fake.post_user_message(CHANNEL, f"<@{BOT_USER_ID}> {text}", user="U1")
    await h.deliver(event_callback(dict(message, type="app_mention")))
    post = await h.answer_in_thread(CHANNEL, message)
    assert expected in all_text(post)
    if expected == "too long for me":
        assert h.engine.calls == []  # declined before retrieval
        assert TOO_LONG_MESSAGE.split("(")[0] in all_text(post)


PIECES = (
    "<!channel>",
    "<!here>",
    "<@U0BOSS>",
    "<!subteam^S0123|@oncall>",
    "@everyone",
    "fire drills",
    "\x00\x07\x1b[31m",
    "\u200b\u202e\u2066\ufeff",
    "Что такое",
    "火災訓練",
    "مرحبا",
    "&lt;&amp;&gt;",
    "*_~`",
)
_FUZZ_BOTS: dict[int, Harness] = {}
hostile_text = hostile_messages(PIECES, 10)


@fuzz_run
@given(text=hostile_text)
@example(text="\u200b\u202e\u2066\ufeff")  # nothing left once cleaned
@example(text="\x00\x07")
async def test_fuzzed_messages_get_a_reply_that_pings_nobody(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    """Hypothesis over the message handler: whatever follows the mention, through signed HTTP
    events, the bot replies in the thread without an error, and the reply pings nobody."""
    h = _FUZZ_BOTS.get(id(make_harness))  # one bot for all the examples of a run
    if h is None:
        h = _FUZZ_BOTS[id(make_harness)] = await make_harness(
            "http", slack_audiences={CHANNEL: "public"}
        )
    caplog.clear()
    message = h.fake.post_user_message(CHANNEL, f"<@{BOT_USER_ID}> {text}", user="U1")
    await h.deliver(event_callback(dict(message, type="app_mention")))
    post = await h.fake.wait_for_call(
        "chat.postMessage", channel=CHANNEL, thread_ts=message["ts"], within=10
    )
    shown = all_text(post)
    assert shown.strip()
    for ping in PINGS:
        assert ping not in shown, (ping, text)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
