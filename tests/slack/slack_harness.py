"""The test harness: a running :class:`SlackBot` wired to a :class:`FakeSlack`, with helpers
that act like people in Slack (post, mention, react, click, run ``/ask``) and wait for the bot."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fake_slack import (
    BOT_USER_ID,
    DEFAULT_TIMEOUT_S,
    ApiCall,
    Delivery,
    FakeSlack,
    app_mention_event,
    block_action,
    event_callback,
    form_body,
    interaction_body,
    slash_command,
    view_submission,
)

from bot.feedback import AnswerRecord, FeedbackStore
from bot.generators.openai_compat import OnText
from bot.models import Answer, Turn
from bot.platforms.slack import SlackBot
from bot.platforms.slack.runner import EVENTS_PATH
from bot.service import AnswerEngine

ALICE = "U0ALICE"
BOB = "U0BOB"
HUMAN_CONTACT = "#help-desk"


@dataclass(frozen=True)
class EngineCall:
    """What the adapter asked the core."""

    question: str
    history: tuple[Turn, ...]
    audience: str


@dataclass
class EngineSpy:
    """Wraps the real engine: records calls, can hold answers back (``gate``) or fail."""

    engine: AnswerEngine
    calls: list[EngineCall] = field(default_factory=list)
    gate: asyncio.Event | None = None
    fail_with: Exception | None = None
    stream: Sequence[str] = ()  # texts fed to on_text before answering, as an LLM streams
    stream_delay_s: float = 0.05

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        audience: str = "public",
        on_text: OnText | None = None,
    ) -> Answer:
        """Record the call, wait for ``gate``, stream ``stream`` to ``on_text``, raise
        ``fail_with``, else ask the real engine."""
        self.calls.append(EngineCall(question, tuple(history), audience))
        if self.gate is not None:
            await self.gate.wait()
        for text in self.stream if on_text is not None else ():
            await on_text(text)
            await asyncio.sleep(self.stream_delay_s)
        if self.fail_with is not None:
            raise self.fail_with
        return await self.engine.answer(question, history=history, audience=audience)


@dataclass
class Harness:
    """A running :class:`SlackBot` wired to a :class:`FakeSlack`, in one transport mode."""

    mode: str
    fake: FakeSlack
    bot: SlackBot
    store: FeedbackStore
    engine: EngineSpy

    @property
    def events_url(self) -> str:
        """The bot's HTTP endpoint (HTTP mode)."""
        return f"http://127.0.0.1:{self.bot.http_port}{EVENTS_PATH}"

    # -- delivering things to the app ----------------------------------------------------------
    async def deliver(self, body: dict[str, Any], *, retry_num: int | None = None) -> Delivery:
        """Deliver an Events API callback over the harness's transport."""
        if self.mode == "socket":
            return await self.fake.send_envelope(
                "events_api",
                body,
                retry_attempt=retry_num,
                retry_reason="timeout" if retry_num else "",
            )
        return await self.fake.post_signed(
            self.events_url, json.dumps(body), "application/json", retry_num=retry_num
        )

    async def deliver_event(
        self, event: dict[str, Any], *, event_id: str | None = None, ext_shared: bool = False
    ) -> Delivery:
        """Wrap ``event`` in an Events API callback and deliver it."""
        return await self.deliver(event_callback(event, event_id=event_id, ext_shared=ext_shared))

    async def user_says(
        self,
        channel: str,
        text: str,
        *,
        user: str = ALICE,
        thread_ts: str | None = None,
        dm: bool = False,
        mention: bool | None = None,
        ext_shared: bool = False,
    ) -> dict[str, Any]:
        """A person posts ``text``; Slack stores it and sends the events a real workspace would:
        ``message.im`` in a DM; ``message.channels`` in a channel, plus ``app_mention`` when the
        bot is mentioned (which is the default outside DMs)."""
        mention = (not dm) if mention is None else mention
        if mention:
            text = f"<@{BOT_USER_ID}> {text}"
        message = self.fake.post_user_message(
            channel, text, user=user, thread_ts=thread_ts, channel_type="im" if dm else "channel"
        )
        for delivery in await self._events_for(message, dm=dm, mention=mention, ext=ext_shared):
            assert delivery.status == 200, delivery
        return message

    async def _events_for(
        self, message: dict[str, Any], *, dm: bool, mention: bool, ext: bool
    ) -> list[Delivery]:
        out = [await self.deliver_event(message, ext_shared=ext)]
        if mention and not dm:
            out.append(await self.deliver_event(app_mention_event(message), ext_shared=ext))
        return out

    async def slash(
        self, text: str, *, channel: str, user: str = ALICE, command: str = "/ask"
    ) -> tuple[Delivery, str]:
        """``/ask text`` (or another ``command``); returns the acknowledgement and the
        command's response_url."""
        response_url = self.fake.response_url()
        fields = slash_command(
            text, channel=channel, user=user, response_url=response_url, command=command
        )
        if self.mode == "socket":
            delivery = await self.fake.send_envelope("slash_commands", dict(fields))
        else:
            delivery = await self.fake.post_signed(
                self.events_url, form_body(fields), "application/x-www-form-urlencoded"
            )
        return delivery, response_url

    async def interact(self, payload: dict[str, Any]) -> Delivery:
        """Deliver an interaction payload (Socket Mode ``interactive`` or ``payload=`` POST)."""
        if self.mode == "socket":
            return await self.fake.send_envelope("interactive", payload)
        return await self.fake.post_signed(
            self.events_url, interaction_body(payload), "application/x-www-form-urlencoded"
        )

    async def click(
        self, action_id: str, answer_id: str, *, channel: str, message_ts: str, user: str = ALICE
    ) -> tuple[Delivery, str]:
        """Click a vote button; returns the ack and the click's response_url."""
        response_url = self.fake.response_url()
        payload = block_action(
            action_id,
            answer_id,
            user=user,
            channel=channel,
            message_ts=message_ts,
            response_url=response_url,
        )
        return await self.interact(payload), response_url

    async def submit_view(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str = ALICE
    ) -> Delivery:
        """Submit the modal ``view`` with typed ``values`` (``state.values`` shape)."""
        return await self.interact(view_submission(view, user=user, values=values))

    # -- waiting for the bot --------------------------------------------------------------------
    async def answer_in_thread(self, channel: str, question: dict[str, Any]) -> ApiCall:
        """Wait until the bot has finished with ``question`` (its 👀 reaction is removed) and
        return its post in the question's thread."""
        await self.fake.wait_for_call("reactions.remove", channel=channel, timestamp=question["ts"])
        thread_ts = question.get("thread_ts") or question["ts"]
        posts = self.fake.calls_to("chat.postMessage", channel=channel, thread_ts=thread_ts)
        assert posts, f"no reply in thread {thread_ts}"
        return posts[-1]

    def posts_in_thread(self, channel: str, thread_ts: str) -> list[ApiCall]:
        """Every ``chat.postMessage`` call into a thread."""
        return self.fake.calls_to("chat.postMessage", channel=channel, thread_ts=thread_ts)


MakeHarness = Callable[..., Awaitable[Harness]]
"""``await make_harness(mode, **settings)`` (the fixture) starts a bot; see conftest.py."""


# -- the knowledge base the tests ask about: tests/data/kb (see tests/conftest.py) ----------------
PUBLIC_QUESTION = "How many days do I have to return an item for a refund?"
PUBLIC_TITLE = "Returns and Shipping Policy"
INTERNAL_QUESTION = "What is the salary band for a senior support engineer?"
INTERNAL_TITLE = "Internal Compensation and Escalation Guide"
UNANSWERABLE_QUESTION = "What is the airspeed velocity of an unladen swallow?"


async def stored_answer_for(h: Harness, channel: str, ts: str) -> AnswerRecord:
    """The stored answer that the bot linked to its message ``channel``/``ts`` (waits for the
    link, which is written just after the post)."""
    deadline = time.monotonic() + DEFAULT_TIMEOUT_S
    while (answer_id := await h.store.answer_id_for_message("slack", f"{channel}:{ts}")) is None:
        assert time.monotonic() < deadline, f"no answer linked to {channel}:{ts}"
        await asyncio.sleep(0.02)
    record = await h.store.get_answer(answer_id)
    assert record is not None
    return record


def button_answer_id(post: ApiCall) -> str:
    """The answer id carried by the 👍 button of a posted answer."""
    for block in post.args.get("blocks") or []:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"])
    raise AssertionError("the post has no vote buttons")


def all_text(post: ApiCall) -> str:
    """Everything a person can read in a post (fallback text plus all block text)."""
    return (
        post.args.get("text", "")
        + "\n"
        + json.dumps(post.args.get("blocks") or [], ensure_ascii=False)
    )


T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], *, what: str
) -> T:
    """Await ``probe()`` until ``check`` accepts its value (the bot works in the background);
    fail with the last value after the default timeout."""
    deadline = time.monotonic() + DEFAULT_TIMEOUT_S
    while True:
        value = await probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.02)
