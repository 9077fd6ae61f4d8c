"""The Discord behaviour: /ask, mentions, forum posts, thread follow-ups and 👍/👎 feedback.

Every answer comes from :class:`bot.service.SupportService` (engine, storage, failure message);
this cog only decides *when* to answer and *where* the reply goes:

* ``/ask question:`` — deferred with ``thinking=True``, answered in a follow-up.
* a message that @-mentions the bot (or its role) — answered as a reply to that message. A bare
  mention that replies to someone's message answers that message.
* in ``Settings.discord_auto_answer_channels``: each new forum post (its title and first
  message) and the first message of each new thread of a text channel.
* in a thread where the bot has answered (within the last ``HISTORY_LIMIT`` messages): every
  later message that does not @-mention someone else, with those messages as history.
* 👍/👎 buttons (toggle: a second click on the same button withdraws the vote) and reactions
  (removing the reaction withdraws the vote) vote on the answer shown by the message.

Bots (this one included) and webhooks are ignored. Replicas sharing the feedback database
answer each message once (``SupportService.claim_event``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from enum import Enum
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.models import Turn
from bot.ops import AdminCommands
from bot.platforms.discord import conversation
from bot.platforms.discord.audience import channel_scope, resolve_audience
from bot.platforms.discord.feedback_ui import (
    PLATFORM,
    THUMBS_DOWN,
    THUMBS_UP,
    feedback_buttons,
    message_ref,
    reaction_value,
)
from bot.platforms.discord.formatting import answer_embed, plain_text
from bot.service import FAILURE_MESSAGE, ChatContext, Reply, SupportService
from bot.settings import Settings
from bot.streaming import StreamedReply

log = logging.getLogger(__name__)

EMPTY_QUESTION = "Ask me a question after the mention, or use `/ask`."
MAX_QUESTION_CHARS = 2000  # Discord's message length; also the cap of /ask's option.
MAX_ADMIN_REPLY = 2000  # an admin command's reply is a plain message: Discord's length
SEND_RETRY_S = 1.0  # wait before sending a reply again after a 5xx discord.py did not retry
MAX_STREAM_CHARS = 2000  # a streamed placeholder is plain content: Discord's message length


class Trigger(Enum):
    """Why a message is answered."""

    MENTION = "mention"
    NEW_POST = "new_post"
    FOLLOW_UP = "follow_up"


class _RecentIds:
    """A set of the ``size`` most recently added ids (oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    def add(self, item: int) -> None:
        self._ids[item] = None
        self._ids.move_to_end(item)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)

    def pop(self, item: int) -> bool:
        """Remove ``item``; whether it was there."""
        if item not in self._ids:
            return False
        del self._ids[item]
        return True

    def __contains__(self, item: object) -> bool:
        return item in self._ids


class SupportCog(commands.Cog):
    """Event listeners and the /ask command; see the module docstring.

    Args:
        bot: the running bot (its ``user`` is the bot's own account once logged in).
        service: the core service that answers and records feedback.
        settings: audiences, auto-answer channels and the human contact (``discord_*`` fields).
        admin: the admin commands (``/supportbot-sync``, ``/supportbot-status``; default:
            configured admins, no sync service).
    """

    def __init__(
        self,
        bot: commands.Bot,
        service: SupportService,
        settings: Settings,
        admin: AdminCommands | None = None,
    ) -> None:
        self.bot = bot
        self.service = service
        self.settings = settings
        self.admin = admin or AdminCommands.from_settings(None, settings)
        self.auto_channels = {int(c) for c in settings.discord_auto_answer_channels}
        self._answered_threads = _RecentIds(10_000)  # threads the bot answered in
        self._new_threads = _RecentIds(1_000)  # new auto-answer threads awaiting a first message

    # -- helpers ----------------------------------------------------------------------------
    @property
    def _me(self) -> discord.ClientUser:
        if self.bot.user is None:  # events are only dispatched after login
            raise RuntimeError("the bot is not logged in")
        return self.bot.user

    @staticmethod
    def _role_id(guild: discord.Guild | None) -> int | None:
        role = guild.self_role if guild is not None else None
        return role.id if role is not None else None

    def _audience(self, channel_id: int | None, parent_id: int | None, guild_id: int | None) -> str:
        return resolve_audience(
            self.settings.discord_audiences,
            self.settings.discord_default_audience,
            channel_id=channel_id,
            parent_id=parent_id,
            guild_id=guild_id,
        )

    def _failure_text(self) -> str:
        return plain_text(FAILURE_MESSAGE.format(human=self.settings.human_contact))

    async def _claim(self, event_id: str) -> bool:
        """Whether this replica handles the event; if the database fails, answer anyway."""
        try:
            return await self.service.claim_event(PLATFORM, event_id)
        except Exception:
            log.exception("could not claim %s; answering without deduplication", event_id)
            return True

    async def _link(self, reply: Reply, message: discord.Message) -> None:
        """Remember which message shows the answer, so votes on it can be linked."""
        if reply.answer_id is None:
            return
        try:
            await self.service.link_message(
                reply.answer_id,
                message_ref(message.channel.id, message.id),
                permalink=message.jump_url,
            )
        except Exception:
            log.exception("could not link answer %s to message %s", reply.answer_id, message.id)

    # -- messages ---------------------------------------------------------------------------
    def _trigger(self, message: discord.Message) -> Trigger | None:
        me = self._me
        channel = message.channel
        # A new auto-answer thread waits for its first message, whatever that message is.
        fresh = isinstance(channel, discord.Thread) and self._new_threads.pop(channel.id)
        if conversation.mentions_bot(message, me.id, self._role_id(message.guild)):
            return Trigger.MENTION
        if not isinstance(channel, discord.Thread):
            return None
        if channel.parent_id in self.auto_channels and (fresh or message.id == channel.id):
            return Trigger.NEW_POST
        if conversation.mentions_others(message, me.id):
            return None
        # The bot joins every thread it posts in; ``channel.me`` survives restarts.
        if channel.id in self._answered_threads or channel.me is not None:
            return Trigger.FOLLOW_UP
        return None

    async def _thread_history(
        self, message: discord.Message, thread: discord.Thread
    ) -> list[discord.Message]:
        """The thread's messages before ``message``, oldest first (at most HISTORY_LIMIT)."""
        if message.id == thread.id:  # a forum post's first message: nothing before it
            return []
        found = [m async for m in thread.history(limit=conversation.HISTORY_LIMIT, before=message)]
        found.reverse()
        return found

    def _question(
        self, message: discord.Message, trigger: Trigger, earlier: list[discord.Message]
    ) -> tuple[str, list[Turn]]:
        """The question and history for ``message`` (an empty question if there is none)."""
        me = self._me
        role_id = self._role_id(message.guild)
        channel = message.channel
        thread = channel if isinstance(channel, discord.Thread) else None
        text = conversation.strip_bot_mentions(message.content, me.id, role_id)
        if trigger is Trigger.NEW_POST and thread is not None:
            text = conversation.with_title(thread.name, text)
        history = conversation.history_turns(
            earlier, bot_id=me.id, bot_role_id=role_id, thread=thread
        )
        referenced = message.reference.resolved if message.reference else None
        if thread is None and isinstance(referenced, discord.Message):
            quoted = conversation.history_turns([referenced], bot_id=me.id, bot_role_id=role_id)
            if not text and quoted and quoted[0].role == "user":
                # "@bot" as a reply to someone's question: answer that question.
                return quoted[0].text[:MAX_QUESTION_CHARS], []
            history = quoted
        return text[:MAX_QUESTION_CHARS], history

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer mentions, new posts in auto-answer channels and follow-ups in our threads."""
        if message.author.bot or message.webhook_id is not None:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        trigger = self._trigger(message)
        if trigger is None:
            return
        try:
            await self._handle(message, trigger)
        except Exception:
            log.exception(
                "failed to answer message %s in channel %s", message.id, message.channel.id
            )
            with contextlib.suppress(discord.HTTPException):
                await self._send(message, content=self._failure_text())

    async def _handle(self, message: discord.Message, trigger: Trigger) -> None:
        channel = message.channel
        thread = channel if isinstance(channel, discord.Thread) else None
        earlier = await self._thread_history(message, thread) if thread is not None else []
        if trigger is Trigger.FOLLOW_UP and not conversation.bot_spoke(earlier, self._me.id):
            return  # the bot is in the thread but has not answered recently
        question, history = self._question(message, trigger, earlier)
        if not question and trigger is not Trigger.MENTION:
            return  # e.g. only an image in a thread: nothing to answer
        if not await self._claim(f"message:{message.id}"):
            return  # another replica has it
        if not question:
            await self._send(message, content=EMPTY_QUESTION)
            return
        channel_id, parent_id = await channel_scope(self.bot, channel)
        guild_id = message.guild.id if message.guild is not None else None
        ctx = ChatContext(
            platform=PLATFORM,
            audience=self._audience(channel_id, parent_id, guild_id),
            channel_id=str(channel.id),
            user_id=str(message.author.id),
            thread_ref=str(thread.id) if thread is not None else None,
        )
        with contextlib.suppress(discord.HTTPException):
            await channel.typing()  # shown until our reply arrives (or for 10 s)
        stream: StreamedReply[discord.Message] = StreamedReply(
            lambda text: self._send(message, content=text),
            lambda sent, text: sent.edit(content=text),
            max_chars=MAX_STREAM_CHARS,
        )
        reply = await self.service.ask(question, ctx, history, on_text=stream.update)
        placeholder = await stream.finish()
        if reply.answer is None:
            text = plain_text(reply.error or self._failure_text())
            if placeholder is None:
                await self._send(message, content=text)
            else:
                await placeholder.edit(content=text)
            return
        if thread is not None:  # before sending: a quick follow-up must find it
            self._answered_threads.add(thread.id)
        embed = answer_embed(reply.answer, human_contact=self.settings.human_contact)
        sent: discord.Message | None = None
        if placeholder is not None:
            try:  # the final, grounded answer replaces the streamed text
                sent = await placeholder.edit(content=None, embed=embed, view=feedback_buttons())
            except discord.HTTPException:
                log.exception("could not replace the streamed message; sending the answer anew")
        if sent is None:
            sent = await self._send(message, embed=embed, view=feedback_buttons())
        await self._link(reply, sent)

    @staticmethod
    async def _send(message: discord.Message, **kwargs: Any) -> discord.Message:
        """Reply to ``message``; sent as a plain message if it was deleted meanwhile.

        discord.py waits out 429s and retries 500/502/504 itself; a 503 (or a 5xx past its
        tries) is retried here once after :data:`SEND_RETRY_S`. Every try carries the same
        ``nonce`` with ``enforce_nonce``, so Discord returns the message if an earlier try
        created it instead of showing the answer twice.

        Raises:
            discord.HTTPException: Discord refused the message, or is still failing.
        """
        reference = message.to_reference(fail_if_not_exists=False)
        nonce = secrets.randbits(62)
        for attempt in range(2):
            try:
                return await message.channel.send(
                    reference=reference, mention_author=False, nonce=nonce, **kwargs
                )
            except discord.DiscordServerError as exc:
                if attempt:
                    raise
                log.warning("Discord answered %s; sending the reply again", exc.status)
                await asyncio.sleep(SEND_RETRY_S)
        raise AssertionError("unreachable")

    @commands.Cog.listener()
    async def on_thread_create(self, thread: discord.Thread) -> None:
        """Note a new thread in an auto-answer channel; its first message will be answered."""
        if thread.parent_id in self.auto_channels and thread.owner_id != self._me.id:
            self._new_threads.add(thread.id)

    # -- /ask -------------------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask a question; the answer cites the docs.")
    @app_commands.describe(question="What do you want to know?")
    async def ask(
        self,
        interaction: discord.Interaction[Any],
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
    ) -> None:
        """Answer ``question`` in a follow-up to a deferred ("thinking…") response."""
        try:
            if not await self._claim(f"interaction:{interaction.id}"):
                return
            await interaction.response.defer(thinking=True)
            channel_id, parent_id = await channel_scope(
                self.bot, interaction.channel, channel_id=interaction.channel_id
            )
            ctx = ChatContext(
                platform=PLATFORM,
                audience=self._audience(channel_id, parent_id, interaction.guild_id),
                channel_id=str(channel_id) if channel_id is not None else None,
                user_id=str(interaction.user.id),
                thread_ref=str(channel_id) if parent_id is not None else None,
            )
            reply = await self.service.ask(question.strip(), ctx)
            if reply.answer is None:
                await interaction.followup.send(plain_text(reply.error or self._failure_text()))
                return
            if parent_id is not None and channel_id is not None:
                self._answered_threads.add(channel_id)
            embed = answer_embed(reply.answer, human_contact=self.settings.human_contact)
            sent = await interaction.followup.send(embed=embed, view=feedback_buttons(), wait=True)
            await self._link(reply, sent)
        except Exception:
            log.exception("/ask failed (interaction %s)", interaction.id)
            await self._tell_failure(interaction)

    # -- admin ------------------------------------------------------------------------------
    @staticmethod
    def _roles(interaction: discord.Interaction[Any]) -> list[str]:
        roles = getattr(interaction.user, "roles", None) or []  # a Member in a guild
        return [str(r.id) for r in roles]

    @app_commands.command(
        name="supportbot-sync", description="Sync the bot's documents now (admins only)."
    )
    @app_commands.describe(source="A source id from sources.toml (default: all sources).")
    async def admin_sync(
        self, interaction: discord.Interaction[Any], source: str | None = None
    ) -> None:
        """Admins: sync, answering privately with the counts. Others: a private refusal."""
        user, roles = str(interaction.user.id), self._roles(interaction)
        if not self.admin.allowed(PLATFORM, user, roles):
            text = await self.admin.run_sync(PLATFORM, user, source, role_ids=roles)
            await interaction.response.send_message(plain_text(text), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = await self.admin.run_sync(PLATFORM, user, source, role_ids=roles)
        except Exception:
            log.exception("/supportbot-sync failed (interaction %s)", interaction.id)
            text = "The sync failed; the details are in the bot's log."
        await interaction.followup.send(plain_text(text)[:MAX_ADMIN_REPLY], ephemeral=True)

    @app_commands.command(
        name="supportbot-status", description="Each source's last and next sync (admins only)."
    )
    async def admin_status(self, interaction: discord.Interaction[Any]) -> None:
        """Admins: the sources' status, privately. Others: a private refusal."""
        user, roles = str(interaction.user.id), self._roles(interaction)
        text = await self.admin.run_status(PLATFORM, user, role_ids=roles)
        await interaction.response.send_message(plain_text(text)[:MAX_ADMIN_REPLY], ephemeral=True)

    async def _tell_failure(self, interaction: discord.Interaction[Any]) -> None:
        """Send the short failure message, as a follow-up or (if not yet answered) privately."""
        try:
            if interaction.response.is_done():
                await interaction.followup.send(self._failure_text())
            else:
                await interaction.response.send_message(self._failure_text(), ephemeral=True)
        except discord.HTTPException:
            log.exception("could not report the failure of interaction %s", interaction.id)

    async def cog_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Errors raised before /ask's own handling (e.g. an invalid option): log and tell."""
        log.error("slash command failed (interaction %s)", interaction.id, exc_info=error)
        await self._tell_failure(interaction)

    # -- feedback ---------------------------------------------------------------------------
    async def on_vote_button(self, interaction: discord.Interaction[Any], value: int) -> None:
        """A 👍/👎 button click: vote, or withdraw if the same vote is clicked again."""
        message = interaction.message
        if message is None:
            await interaction.response.send_message("This is not an answer.", ephemeral=True)
            return
        ref = message_ref(message.channel.id, message.id)
        user_id = str(interaction.user.id)
        emoji = THUMBS_UP if value > 0 else THUMBS_DOWN
        if await self.service.withdraw_on_message(PLATFORM, ref, user_id, value):
            text = f"Your {emoji} was removed."
        elif await self.service.vote_on_message(PLATFORM, ref, user_id, value, source="button"):
            text = f"Thanks for the {emoji}!"
        else:
            text = "I can no longer find this answer, so the vote was not recorded."
        await interaction.response.send_message(text, ephemeral=True)

    def _reaction_applies(self, payload: discord.RawReactionActionEvent) -> bool:
        me = self._me
        if payload.user_id == me.id or (payload.member is not None and payload.member.bot):
            return False
        author = payload.message_author_id
        return author is None or author == me.id

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """👍/👎 added to an answer: record the person's vote (replacing an earlier one)."""
        value = reaction_value(payload.emoji)
        if value is None or not self._reaction_applies(payload):
            return
        ref = message_ref(payload.channel_id, payload.message_id)
        try:
            await self.service.vote_on_message(
                PLATFORM, ref, str(payload.user_id), value, source="reaction"
            )
        except Exception:
            log.exception("could not record the reaction vote on %s", ref)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """👍/👎 removed from an answer: withdraw that vote (not a different later one)."""
        value = reaction_value(payload.emoji)
        if value is None or not self._reaction_applies(payload):
            return
        ref = message_ref(payload.channel_id, payload.message_id)
        try:
            await self.service.withdraw_on_message(PLATFORM, ref, str(payload.user_id), value)
        except Exception:
            log.exception("could not withdraw the reaction vote on %s", ref)
