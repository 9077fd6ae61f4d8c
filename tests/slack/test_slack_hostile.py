"""End to end through the fake Slack: pings in a question or in the documents are never
amplified, and floods or invisible characters get a clear reply, never a traceback.

The engine here answers from one document written to tempt the bot into pinging: it quotes
``<!channel>``, ``<!here>``, a user and a user group.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_slack import BOT_USER_ID, event_callback
from slack_harness import MakeHarness, all_text

from bot.engine import SupportEngine
from bot.service import TOO_LONG_MESSAGE
from tests.conftest import engine_over

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
