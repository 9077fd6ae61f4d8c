"""The Bolt listeners: questions in, threaded answers out, votes and comments into the store.

Registered on an :class:`slack_bolt.async_app.AsyncApp` by :meth:`SlackListeners.register`;
the same listeners serve Socket Mode and the HTTP Events API. Bolt acknowledges events before
their listener runs (``process_before_response=False``), and the command/action/view listeners
call ``ack()`` first, so slow work never delays the acknowledgement Slack expects within
3 seconds (https://docs.slack.dev/apis/events-api/#responding).

What is answered:

* ``app_mention`` in channels, and every person's message in a DM (``message.im``);
* in channels, a message in a thread the bot has posted in, without a new mention;
* ``/ask <question>`` (the answer is posted in the channel; the acknowledgement is an
  ephemeral "looking that up" note).

Messages from this bot and from other bots are ignored. Each Events API delivery is claimed by
``event_id`` in the shared feedback database (:meth:`bot.service.SupportService.claim_event`)
so a retried delivery (``X-Slack-Retry-Num``; Socket Mode reports ``retry_attempt`` 0 on the
first delivery, so only the number means anything) is answered once, by one replica. The
message itself (channel and ``ts``) is claimed too, because Slack sends both ``app_mention``
and ``message.channels`` for a mention in a channel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Turn
from bot.ops import AdminCommands
from bot.platforms.slack.audience import AudienceResolver
from bot.platforms.slack.blocks import (
    FEEDBACK_VIEW,
    VOTE_DOWN_ACTION,
    VOTE_UP_ACTION,
    SlackMessage,
    answer_message,
    feedback_modal,
    feedback_text,
    notice_message,
)
from bot.platforms.slack.delivery import post_once
from bot.platforms.slack.mrkdwn import clean_incoming, escape, mentions, truncate
from bot.platforms.slack.reactions import WORKING_REACTION, reaction_vote
from bot.platforms.slack.threads import (
    USER_SUBTYPES,
    ask_metadata,
    is_own_message,
    read_thread,
)
from bot.service import FAILURE_MESSAGE, ChatContext, Reply, SupportService
from bot.streaming import StreamedReply

log = logging.getLogger(__name__)

PLATFORM = "slack"
ASK_COMMAND = "/ask"
SYNC_COMMAND = "/supportbot-sync"
STATUS_COMMAND = "/supportbot-status"

EVENT_HANDLERS = {
    "app_mention": "on_app_mention",
    "message": "on_message",
    "reaction_added": "on_reaction_added",
    "reaction_removed": "on_reaction_removed",
    "channel_shared": "on_channel_sharing_changed",
    "channel_unshared": "on_channel_sharing_changed",
}
"""Events API type -> :class:`SlackListeners` method."""
EVENTS = tuple(EVENT_HANDLERS)
"""Event types listened to (``message`` covers the manifest's message.channels/.groups/.im/
.mpim subscriptions); deploy/slack/manifest.json subscribes to exactly these."""

POST_FALLBACK_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
"""chat.postMessage errors after which ``/ask`` answers through the command's response_url."""


MAX_STREAM_CHARS = 3000  # Slack truncates a message's text beyond 40,000; keep edits small


def message_ref(channel: str, ts: str) -> str:
    """How a Slack message is referenced in the feedback store: ``"<channel>:<ts>"``."""
    return f"{channel}:{ts}"


def retry_number(request: AsyncBoltRequest) -> int:
    """The delivery's ``X-Slack-Retry-Num`` (0 for a first delivery or when absent).

    Bolt maps Socket Mode's ``retry_attempt`` to the same header, and sends ``0`` there on a
    first delivery, so the number, not the header's presence, tells a retry.
    """
    values = request.headers.get("x-slack-retry-num") or ["0"]
    try:
        return int(values[0])
    except (TypeError, ValueError):
        return 0


class SlackListeners:
    """Slack-specific glue around :class:`bot.service.SupportService`.

    Args:
        service: the platform-neutral service (answers, votes, deduplication).
        audiences: resolves a channel to ``public``/``internal``.
        human_contact: who to point people to when something fails or the bot abstains.
        command: the slash command to register (as in the app manifest).
        admin: the admin commands (``/supportbot-sync``, ``/supportbot-status``); ``None``
            refuses them to everyone.
    """

    def __init__(
        self,
        service: SupportService,
        audiences: AudienceResolver,
        *,
        human_contact: str,
        command: str = ASK_COMMAND,
        admin: AdminCommands | None = None,
    ) -> None:
        self.service = service
        self.audiences = audiences
        self.human_contact = human_contact
        self.command = command
        self.admin = admin or AdminCommands(None, admins={})

    def register(self, app: AsyncApp) -> None:
        """Attach every listener to ``app``."""
        for event_type, method in EVENT_HANDLERS.items():
            app.event(event_type)(getattr(self, method))
        app.command(self.command)(self.on_ask)
        app.command(SYNC_COMMAND)(self.on_sync_command)
        app.command(STATUS_COMMAND)(self.on_status_command)
        app.action(VOTE_UP_ACTION)(self.on_vote_button)
        app.action(VOTE_DOWN_ACTION)(self.on_vote_button)
        app.view(FEEDBACK_VIEW)(self.on_feedback_submitted)
        app.error(self.on_error)

    @property
    def failure_text(self) -> str:
        """The short message people see when something went wrong."""
        return FAILURE_MESSAGE.format(human=self.human_contact)

    # -- questions ----------------------------------------------------------------------------
    async def on_app_mention(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        request: AsyncBoltRequest,
    ) -> None:
        """``@bot question`` in a channel: answer in the question's thread."""
        if self._from_a_bot(event, context):
            return
        if not await self._first_delivery(body, request):
            return
        await self._answer_message(body, event, context, client, require_participation=False)

    async def on_message(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        request: AsyncBoltRequest,
    ) -> None:
        """A message: answered in a DM, or in a channel thread the bot is part of."""
        if event.get("subtype") not in USER_SUBTYPES or self._from_a_bot(event, context):
            return
        ts = event.get("ts")
        thread_ts = event.get("thread_ts")
        is_dm = event.get("channel_type") == "im"
        if not is_dm:
            in_thread = bool(thread_ts) and thread_ts != ts
            if not in_thread or mentions(event.get("text") or "", context.bot_user_id):
                return  # top level needs a mention; a mention is handled by on_app_mention
        if not await self._first_delivery(body, request):
            return
        await self._answer_message(body, event, context, client, require_participation=not is_dm)

    async def _answer_message(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        *,
        require_participation: bool,
    ) -> None:
        channel: str = event["channel"]
        ts: str = event["ts"]
        thread_ts: str | None = event.get("thread_ts")
        reply_ts = thread_ts or ts
        history: tuple[Turn, ...] = ()
        if thread_ts and thread_ts != ts:
            try:
                thread = await read_thread(
                    client,
                    channel=channel,
                    thread_ts=thread_ts,
                    before_ts=ts,
                    bot_user_id=context.bot_user_id,
                    bot_id=context.bot_id,
                )
            except Exception:
                log.exception("could not read thread %s in %s", thread_ts, channel)
                if require_participation:
                    return
            else:
                if require_participation and not thread.bot_participates:
                    log.debug("not part of thread %s in %s; not answering", thread_ts, channel)
                    return
                history = thread.history
        if not await self._claim(f"message:{message_ref(channel, ts)}"):
            log.info("message %s in %s is already being answered", ts, channel)
            return

        question = clean_incoming(event.get("text") or "", context.bot_user_id)
        if not question:
            await self._post_quietly(
                client,
                channel,
                reply_ts,
                notice_message(
                    f"Hi! Ask me a question about our documentation, in a thread or with "
                    f"{self.command}.",
                    emoji=":wave:",
                ),
            )
            return

        user_team = event.get("user_team")
        external = bool(body.get("is_ext_shared_channel")) or bool(
            user_team and body.get("team_id") and user_team != body.get("team_id")
        )
        await self._reaction(client, channel, ts, add=True)
        try:
            audience = await self.audiences.audience(channel, external_hint=external)
            ctx = ChatContext(
                platform=PLATFORM,
                audience=audience,
                channel_id=channel,
                user_id=event.get("user"),
                thread_ref=message_ref(channel, reply_ts),
            )
            stream: StreamedReply[str] = StreamedReply(
                lambda text: self._post_text(client, channel, reply_ts, escape(text)),
                lambda ts, text: client.chat_update(channel=channel, ts=ts, text=escape(text)),
                max_chars=MAX_STREAM_CHARS,
            )
            reply = await self.service.ask(question, ctx, history, on_text=stream.update)
            await self._post_reply(
                client, channel, reply_ts, reply, placeholder=await stream.finish()
            )
        except Exception:
            log.exception("answering message %s in %s failed", ts, channel)
            await self._post_quietly(client, channel, reply_ts, notice_message(self.failure_text))
        finally:
            await self._reaction(client, channel, ts, add=False)

    async def on_ask(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        """``/ask question``: acknowledge at once, then post the answer in the channel."""
        question = clean_incoming(command.get("text") or "", context.bot_user_id)
        if not question:
            await ack(
                text=f"Ask a question about our documentation, e.g. `{self.command} "
                "how do I reset my password?`"
            )
            return
        await ack(
            response_type="ephemeral",
            text=f":eyes: Looking that up: _{escape(truncate(question, 300))}_",
        )
        channel: str = command["channel_id"]
        user: str = command["user_id"]
        try:
            audience = await self.audiences.audience(channel)
            ctx = ChatContext(PLATFORM, audience, channel_id=channel, user_id=user)
            reply = await self.service.ask(question, ctx)
            if reply.answer is None:
                await respond(
                    text=f":warning: {escape(reply.error or self.failure_text)}",
                    response_type="ephemeral",
                    replace_original=False,
                )
                return
            message = answer_message(
                reply.answer, reply.answer_id, human_contact=self.human_contact, asked_by=user
            )
            try:
                posted = await self._post(
                    client, channel, None, message, metadata=ask_metadata(question)
                )
            except SlackApiError as exc:
                if exc.response.get("error") not in POST_FALLBACK_ERRORS:
                    raise
                # Not a member of the conversation: answer through the command's response_url.
                await respond(
                    text=message.text,
                    blocks=message.blocks_json(),
                    response_type="in_channel",
                    replace_original=False,
                )
                return
            await self._link(reply, channel, posted)
        except Exception:
            log.exception("/ask failed in %s", channel)
            try:
                await respond(
                    text=f":warning: {self.failure_text}",
                    response_type="ephemeral",
                    replace_original=False,
                )
            except Exception:
                log.exception("could not tell the user that /ask failed")

    # -- admin ----------------------------------------------------------------------------------
    async def on_sync_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """``/supportbot-sync [source]`` (admins only): acknowledge, sync, then report
        ephemerally. Anyone else is refused (and the refusal logged) in the acknowledgement."""
        user: str = command["user_id"]
        source = (command.get("text") or "").strip() or None
        if not self.admin.allowed(PLATFORM, user):
            await ack(
                text=await self.admin.run_sync(PLATFORM, user, source), response_type="ephemeral"
            )
            return
        await ack(text=f":arrows_counterclockwise: Syncing {source or 'all sources'}…")
        try:
            text = await self.admin.run_sync(PLATFORM, user, source)
        except Exception:
            log.exception("%s failed", SYNC_COMMAND)
            text = ":warning: The sync failed; the details are in the bot's log."
        await self._respond_quietly(respond, escape(text))

    async def on_status_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """``/supportbot-status`` (admins only): each source's last and next sync."""
        await ack()
        text = await self.admin.run_status(PLATFORM, command["user_id"])
        await self._respond_quietly(respond, escape(text))

    # -- feedback -----------------------------------------------------------------------------
    async def on_vote_button(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        """👍/👎 button: store the vote; a 👎 also opens the optional "what was wrong?" modal."""
        await ack()
        answer_id: str = action.get("value") or ""
        user: str = body["user"]["id"]
        value = 1 if action.get("action_id") == VOTE_UP_ACTION else -1
        if value < 0 and body.get("trigger_id"):
            # trigger_id expires 3 seconds after the click: open the modal before anything else.
            try:
                await client.views_open(
                    trigger_id=body["trigger_id"], view=feedback_modal(answer_id)
                )
            except Exception:
                log.exception("could not open the feedback modal")
        try:
            await self.service.vote(answer_id, user, value, source="button")
        except KeyError:
            log.warning("vote on unknown answer %r by %s", answer_id, user)
            await self._respond_quietly(respond, "Sorry, I could not find that answer any more.")
            return
        except Exception:
            log.exception("storing a button vote failed")
            await self._respond_quietly(
                respond, f"Sorry, I could not record that. {self.failure_text}"
            )
            return
        if value > 0:
            await self._respond_quietly(respond, "Thanks for the feedback! :thumbsup:")

    async def on_feedback_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        """The "what was wrong?" modal was submitted: store the text (if any) with the vote."""
        await ack()
        text = feedback_text(view)
        answer_id = view.get("private_metadata") or ""
        if text is None or not answer_id:
            return
        try:
            await self.service.comment(answer_id, body["user"]["id"], text)
        except Exception:
            log.exception("storing feedback text on answer %s failed", answer_id)

    async def on_reaction_added(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        request: AsyncBoltRequest,
    ) -> None:
        """A 👍/👎 reaction on one of the bot's answers is a vote."""
        await self._reaction_vote(body, event, context, request, added=True)

    async def on_reaction_removed(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        request: AsyncBoltRequest,
    ) -> None:
        """A removed 👍/👎 reaction withdraws that vote (not a different later one)."""
        await self._reaction_vote(body, event, context, request, added=False)

    async def _reaction_vote(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        request: AsyncBoltRequest,
        *,
        added: bool,
    ) -> None:
        value = reaction_vote(event.get("reaction") or "")
        item = event.get("item") or {}
        user = event.get("user")
        if value is None or item.get("type") != "message" or not user:
            return
        item_user = event.get("item_user")
        if item_user and item_user != context.bot_user_id:
            return  # a reaction on someone else's message
        if not await self._first_delivery(body, request):
            return
        ref = message_ref(item["channel"], item["ts"])
        try:
            if added:
                found = await self.service.vote_on_message(
                    PLATFORM, ref, user, value, source="reaction"
                )
                outcome = "vote stored" if found else "not an answer"
            else:
                withdrawn = await self.service.withdraw_on_message(PLATFORM, ref, user, value)
                outcome = "vote withdrawn" if withdrawn else "no such vote"
        except Exception:
            log.exception("storing a reaction vote on %s failed", ref)
            return
        log.debug(
            "%s %s by %s on %s: %s", event.get("type"), event.get("reaction"), user, ref, outcome
        )

    async def on_channel_sharing_changed(self, event: dict[str, Any]) -> None:
        """A channel was shared or unshared: re-check its audience next time."""
        channel = event.get("channel")
        if channel:
            self.audiences.forget(channel)

    async def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        """Last resort for errors escaping a listener: log them with the request type."""
        log.error("unhandled error in a Slack listener (%s)", body.get("type"), exc_info=error)

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _from_a_bot(event: dict[str, Any], context: AsyncBoltContext) -> bool:
        """This bot's own messages and any other bot's (no loops)."""
        return (
            bool(event.get("bot_id"))
            or event.get("subtype") == "bot_message"
            or is_own_message(event, context.bot_user_id, context.bot_id)
        )

    async def _claim(self, key: str) -> bool:
        try:
            return await self.service.claim_event(PLATFORM, key)
        except Exception:
            # Better a rare double answer than none while the database is unreachable.
            log.exception("could not record %s as handled; handling it anyway", key)
            return True

    async def _first_delivery(self, body: dict[str, Any], request: AsyncBoltRequest) -> bool:
        event_id = body.get("event_id")
        if not event_id:
            return True
        if await self._claim(event_id):
            return True
        reason = (request.headers.get("x-slack-retry-reason") or [""])[0]
        log.info(
            "ignoring repeated delivery of event %s (retry %d%s)",
            event_id,
            retry_number(request),
            f", {reason}" if reason else "",
        )
        return False

    async def _post(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str | None,
        message: SlackMessage,
        *,
        metadata: Metadata | None = None,
    ) -> dict[str, Any]:
        return await post_once(
            client,
            channel=channel,
            thread_ts=thread_ts,
            text=message.text,
            blocks=message.blocks,
            metadata=metadata,
            unfurl_links=False,
            unfurl_media=False,
        )

    async def _post_quietly(
        self, client: AsyncWebClient, channel: str, thread_ts: str | None, message: SlackMessage
    ) -> None:
        try:
            await self._post(client, channel, thread_ts, message)
        except Exception:
            log.exception("could not post to %s", channel)

    async def _post_text(
        self, client: AsyncWebClient, channel: str, thread_ts: str, text: str
    ) -> str:
        """Post the streaming placeholder (plain text); its ``ts``."""
        posted = await post_once(
            client,
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(posted["ts"])

    async def _post_reply(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        reply: Reply,
        *,
        placeholder: str | None = None,
    ) -> None:
        """Post the answer, or with ``placeholder`` (the ts of the streamed message) replace
        that message with it."""
        if reply.answer is None:
            message = notice_message(reply.error or self.failure_text)
        else:
            message = answer_message(
                reply.answer, reply.answer_id, human_contact=self.human_contact
            )
        if placeholder is None:
            if reply.answer is None:
                await self._post_quietly(client, channel, thread_ts, message)
                return
            posted = await self._post(client, channel, thread_ts, message)
        else:
            try:
                updated = await client.chat_update(
                    channel=channel, ts=placeholder, text=message.text, blocks=message.blocks
                )
                posted = dict(updated.data) if isinstance(updated.data, dict) else {}
            except SlackApiError:
                log.exception("could not replace the streamed message; posting the answer anew")
                posted = await self._post(client, channel, thread_ts, message)
        if reply.answer is not None:
            await self._link(reply, channel, posted)

    async def _link(self, reply: Reply, channel: str, posted: Mapping[str, Any]) -> None:
        ts = posted.get("ts")
        if reply.answer_id is None or not ts:
            return
        try:
            await self.service.link_message(
                reply.answer_id, message_ref(posted.get("channel") or channel, ts)
            )
        except Exception:
            log.exception(
                "could not link answer %s to its message; reactions on it are lost", reply.answer_id
            )

    async def _reaction(self, client: AsyncWebClient, channel: str, ts: str, *, add: bool) -> None:
        try:
            if add:
                await client.reactions_add(channel=channel, timestamp=ts, name=WORKING_REACTION)
            else:
                await client.reactions_remove(channel=channel, timestamp=ts, name=WORKING_REACTION)
        except Exception as exc:  # cosmetic: never let it stop an answer
            log.warning(
                "could not %s the %s reaction: %s",
                "add" if add else "remove",
                WORKING_REACTION,
                exc,
            )

    @staticmethod
    async def _respond_quietly(respond: AsyncRespond, text: str) -> None:
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("could not send an ephemeral reply")
