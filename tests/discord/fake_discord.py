"""A local fake of Discord that speaks the real wire protocol, for end-to-end tests.

One aiohttp server on 127.0.0.1 (port 0) serves

* the REST API under ``/api/v10`` (point ``discord.http.Route.BASE`` at :attr:`FakeDiscord.
  rest_base`): login, application info, command sync, channel messages and history, typing,
  interaction callbacks and interaction follow-ups (webhooks). Every request is recorded as a
  :class:`Call`; unknown routes answer 404 and are listed in :attr:`FakeDiscord.unknown`.
* the gateway websocket at ``/gateway`` (point ``DiscordWebSocket.DEFAULT_GATEWAY`` at
  :attr:`FakeDiscord.gateway_url`): HELLO → IDENTIFY (token checked) → READY → GUILD_CREATE,
  heartbeats acknowledged, and then whatever events a test pushes with :meth:`FakeDiscord.
  dispatch` and the helpers (messages, reactions, slash commands, button clicks, forum posts).

Payloads follow https://discord.com/developers/docs (API v10). Responses carry
``Content-Type: application/json`` exactly, as discord.py requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

Json = dict[str, Any]

# Gateway opcodes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME = 0, 1, 2, 6
OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 9, 10, 11

CHANNEL_TEXT, CHANNEL_PUBLIC_THREAD, CHANNEL_FORUM = 0, 11, 15
ALL_PERMISSIONS = str((1 << 50) - 1)
JSON_BODY = web.ResponseKey("json_body", object)  # what a fake response carried, for Call


def _now() -> str:
    return datetime.now(UTC).isoformat()


_ids = itertools.count(1_200_000_000_000_000_000)


def snowflake() -> int:
    """A new unique id shaped like a Discord snowflake (19 digits)."""
    return next(_ids)


# Message limits (https://discord.com/developers/docs/resources/message#create-message and
# .../resources/message#embed-object-embed-limits): Discord answers 400 "Invalid Form Body"
# (code 50035) to a message over any of them, and 50006 to one with nothing to show.
CONTENT_MAX, EMBEDS_MAX, EMBED_TOTAL_MAX, FIELDS_MAX = 2000, 10, 6000, 25
EMBED_TEXT_MAX = {"title": 256, "description": 4096}
FIELD_TEXT_MAX = {"name": 256, "value": 1024}


def message_limit_errors(body: Any, *, partial: bool = False) -> list[str]:
    """What Discord would refuse in a message payload (create, edit, callback data or
    follow-up): one line per broken limit, empty when the payload is valid. ``partial`` is an
    edit, which may leave out content and embeds."""
    if not isinstance(body, dict):
        return []
    errors = []
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if len(content) > CONTENT_MAX:
        errors.append(f"content: {len(content)} > {CONTENT_MAX} characters")
    if len(embeds) > EMBEDS_MAX:
        errors.append(f"embeds: {len(embeds)} > {EMBEDS_MAX}")
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in EMBED_TEXT_MAX.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                errors.append(f"embeds.{i}.{key}: {len(text)} > {limit}")
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_MAX:
            errors.append(f"embeds.{i}.fields: {len(fields)} > {FIELDS_MAX}")
        for j, fld in enumerate(fields):
            for key, limit in FIELD_TEXT_MAX.items():
                text = fld.get(key) or ""
                total += len(text)
                if not text.strip():
                    errors.append(f"embeds.{i}.fields.{j}.{key}: empty")
                if len(text) > limit:
                    errors.append(f"embeds.{i}.fields.{j}.{key}: {len(text)} > {limit}")
        footer = (embed.get("footer") or {}).get("text") or ""
        total += len(footer)
        if len(footer) > 2048:
            errors.append(f"embeds.{i}.footer.text: {len(footer)} > 2048")
    if total > EMBED_TOTAL_MAX:
        errors.append(f"embeds: {total} > {EMBED_TOTAL_MAX} characters in all")
    shows = content.strip() or embeds or body.get("components") or body.get("attachments")
    if not partial and not shows and "poll" not in body and "sticker_ids" not in body:
        errors.append("empty message (50006)")
    return errors


def _invalid_message(method: str, parts: list[str], body: Any) -> Json | None:
    """The error Discord would answer to a message-carrying request, or ``None``."""
    match (method, parts):
        case ("POST", ["channels", _, "messages"]) | ("POST", ["webhooks", _, _]):
            errors = message_limit_errors(body)
        case ("PATCH", ["channels", _, "messages", _]) | ("PATCH", ["webhooks", _, _, *_]):
            errors = message_limit_errors(body, partial=True)
        case ("POST", ["interactions", _, _, "callback"]) if isinstance(body, dict):
            # 4: a message; 7: edit the component's message (partial). Defers carry none.
            kind = body.get("type")
            data = body.get("data")
            errors = message_limit_errors(data, partial=kind == 7) if kind in (4, 7) else []
        case _:
            errors = []
    return {"_errors": errors} if errors else None


@dataclass(frozen=True)
class Call:
    """One REST request the bot made."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any  # the request body
    status: int = 0
    response: Any = None  # the JSON the fake answered with


def user_payload(user_id: int, username: str, *, bot: bool = False) -> Json:
    """A user object."""
    return {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": username,
        "avatar": None,
        "bot": bot,
        "system": False,
        "public_flags": 0,
    }


def member_payload(user: Json, roles: Iterable[int] = ()) -> Json:
    """A guild member object (with its user)."""
    return {
        "user": user,
        "nick": None,
        "avatar": None,
        "roles": [str(r) for r in roles],
        "joined_at": _now(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
    }


@dataclass
class FakeGuild:
    """A guild with a text channel, a forum and an internal-only text channel."""

    id: int = field(default_factory=snowflake)
    name: str = "Contoso Community"
    everyone_role: int = 0
    bot_role: int = field(default_factory=snowflake)
    channels: list[Json] = field(default_factory=list)
    threads: list[Json] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.everyone_role = self.id

    def text_channel(self, name: str) -> int:
        """Add a text channel; return its id."""
        cid = snowflake()
        self.channels.append(
            {
                "id": str(cid),
                "type": CHANNEL_TEXT,
                "guild_id": str(self.id),
                "name": name,
                "position": len(self.channels),
                "permission_overwrites": [],
                "topic": None,
                "nsfw": False,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "parent_id": None,
                "flags": 0,
            }
        )
        return cid

    def forum_channel(self, name: str) -> int:
        """Add a forum channel; return its id."""
        cid = snowflake()
        self.channels.append(
            {
                "id": str(cid),
                "type": CHANNEL_FORUM,
                "guild_id": str(self.id),
                "name": name,
                "position": len(self.channels),
                "permission_overwrites": [],
                "topic": None,
                "nsfw": False,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "parent_id": None,
                "flags": 0,
                "available_tags": [],
                "default_reaction_emoji": None,
                "default_sort_order": None,
                "default_forum_layout": 0,
                "default_thread_rate_limit_per_user": 0,
            }
        )
        return cid


def thread_payload(
    guild_id: int, parent_id: int, owner_id: int, name: str, *, thread_id: int | None = None
) -> Json:
    """A public thread (also what a forum post is)."""
    return {
        "id": str(thread_id or snowflake()),
        "type": CHANNEL_PUBLIC_THREAD,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "message_count": 0,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "flags": 0,
        "applied_tags": [],
        "total_message_sent": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": _now(),
            "locked": False,
        },
    }


class FakeDiscord:
    """The fake server; see the module docstring.

    Args:
        token: the bot token IDENTIFY must carry (REST requests must carry ``Bot <token>``).
        guild: the one guild the bot is in.
    """

    def __init__(self, token: str, guild: FakeGuild) -> None:
        self.token = token
        self.guild = guild
        self.app_id = snowflake()
        self.bot_user = user_payload(self.app_id, "SupportBot", bot=True)
        self.calls: list[Call] = []
        self.unknown: list[Call] = []
        self.errors: list[BaseException] = []
        self.identifies: list[Json] = []
        self.commands: list[Json] = []  # the registered global commands
        self.reject_command_sync = False  # answer PUT …/commands with 400 Invalid Form Body
        self.refuse_privileged_intents = False  # close IDENTIFY with 4014 (intent not enabled)
        self.messages: dict[int, list[Json]] = {}  # channel id -> messages, oldest first
        self._interactions: dict[str, Json] = {}  # token -> interaction
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._changed = asyncio.Condition()
        self._ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.watched: list[asyncio.Task[Any]] = []  # tasks whose failure should fail waits
        self._faults: list[tuple[str, str, int, bool]] = []  # method, path end, status, processed

    def fail_next(
        self, method: str, path_end: str, *, status: int, processed: bool = False, times: int = 1
    ) -> None:
        """Answer the next ``times`` REST calls of ``method`` whose path ends with ``path_end``
        (e.g. ``"/messages"``) with HTTP ``status``: 429 as Discord rate-limits (``retry_after``
        0.05 s), a 5xx with ``processed`` after the call took effect (a message is stored), as
        a gateway timeout behind Discord's edge can."""
        self._faults.extend([(method, path_end, status, processed)] * times)

    def _fault(self, method: str, path: str) -> tuple[int, bool] | None:
        for i, (m, end, status, processed) in enumerate(self._faults):
            if m == method and path.endswith(end):
                del self._faults[i]
                return status, processed
        return None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on 127.0.0.1, on a free port."""
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Close every websocket and stop the server."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def rest_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY``."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- waiting -------------------------------------------------------------------------------
    def _check_watched(self) -> None:
        if self.errors:
            raise AssertionError(f"the fake Discord failed: {self.errors[0]!r}") from self.errors[0]
        for task in self.watched:
            if task.done():
                exc = task.exception() if not task.cancelled() else None
                raise AssertionError(f"the bot task ended early: {exc!r}") from exc

    async def wait_for(self, predicate: Callable[[Call], bool], *, within: float = 20.0) -> Call:
        """The first recorded call matching ``predicate``, waiting up to ``within`` seconds.

        Raises:
            AssertionError: timeout, the fake failed, or a watched bot task died.
        """
        deadline = asyncio.get_running_loop().time() + within
        async with self._changed:
            while True:
                self._check_watched()
                for call in self.calls:
                    if predicate(call):
                        return call
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise AssertionError(
                        "timed out waiting for a call; calls so far:\n"
                        + "\n".join(
                            f"{c.method} {c.path} {json.dumps(c.json)[:200]}"
                            for c in self.calls[-15:]
                        )
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(left, 0.25))

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def wait_ready(self, within: float = 20.0) -> None:
        """Until a bot has identified and got READY and GUILD_CREATE."""
        deadline = asyncio.get_running_loop().time() + within
        while not self._ready.is_set():
            self._check_watched()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("no bot identified")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 0.25)

    def calls_to(self, method: str, path: str) -> list[Call]:
        """Recorded calls with this method and path."""
        return [c for c in self.calls if c.method == method and c.path == path]

    # -- REST ----------------------------------------------------------------------------------
    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        # discord.py parses a body only for exactly "application/json" (no charset parameter).
        response = web.Response(
            status=status,
            body=json.dumps(data).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response[JSON_BODY] = data
        return response

    def _message(self, channel_id: int, author: Json, body: Json, **extra: Any) -> Json:
        ref = body.get("message_reference")
        referenced = None
        if ref:
            referenced = self.find_message(
                int(ref["channel_id"] or channel_id), int(ref["message_id"])
            )
        msg: Json = {
            "id": str(snowflake()),
            "channel_id": str(channel_id),
            "guild_id": str(self.guild.id),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 19 if referenced else 0,
            "flags": body.get("flags") or 0,
        }
        if body.get("nonce") is not None:
            msg["nonce"] = body["nonce"]
        if referenced:
            msg["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": str(channel_id),
                "guild_id": str(self.guild.id),
            }
            msg["referenced_message"] = referenced
        msg.update(extra)
        if msg["flags"] & 64:  # ephemeral: only its recipient sees it, never in the history
            return msg
        self.messages.setdefault(channel_id, []).append(msg)
        thread = self._channel(channel_id)
        if author is self.bot_user and thread is not None and "thread_metadata" in thread:
            # Posting in a thread joins it; GUILD_CREATE then lists the bot's membership.
            thread["member"] = {
                "id": thread["id"],
                "user_id": self.bot_user["id"],
                "join_timestamp": _now(),
                "flags": 0,
            }
        return msg

    def find_message(self, channel_id: int, message_id: int) -> Json | None:
        """A stored message of a channel, or ``None``."""
        for msg in self.messages.get(channel_id, []):
            if int(msg["id"]) == message_id:
                return msg
        return None

    def _channel(self, channel_id: int) -> Json | None:
        for ch in itertools.chain(self.guild.channels, self.guild.threads):
            if int(ch["id"]) == channel_id:
                return ch
        return None

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw and request.content_type == "application/json" else raw
        query = dict(request.query)
        parts = path.strip("/").split("/")
        authorised = request.headers.get("Authorization") == f"Bot {self.token}"
        try:
            fault = self._fault(request.method, path)
            if not authorised and parts[0] not in ("interactions", "webhooks"):
                response = self._json({"message": "401: Unauthorized", "code": 0}, 401)
            elif fault is not None and fault[0] == 429:
                limited = {"message": "You are being rate limited.", "retry_after": 0.05}
                response = self._json(
                    {**limited, "global": False},
                    429,
                    headers={"Retry-After": "1", "X-RateLimit-Scope": "user", "Via": "1.1 google"},
                )
            elif fault is not None:
                if fault[1]:
                    self._route(request.method, parts, body, query)  # it took effect …
                response = self._json({"message": "upstream timeout", "code": 0}, fault[0])
            elif (invalid := _invalid_message(request.method, parts, body)) is not None:
                response = self._json(
                    {"message": "Invalid Form Body", "code": 50035, "errors": invalid}, 400
                )
            else:
                response = self._route(request.method, parts, body, query)
        except Exception as exc:  # a bug in the fake: make the test fail loudly
            self.errors.append(exc)
            response = self._json({"message": repr(exc), "code": 0}, 400)
        call = Call(request.method, path, query, body, response.status, response.get(JSON_BODY))
        if response.status == 404:
            self.unknown.append(call)
        await self._record(call)
        return response

    def _route(
        self, method: str, parts: list[str], body: Any, query: dict[str, str]
    ) -> web.Response:
        match (method, parts):
            case ("GET", ["users", "@me"]):
                return self._json(self.bot_user)
            case ("GET", ["oauth2", "applications", "@me"]):
                return self._json(self._application())
            case ("PUT", ["applications", _, "commands"]):
                if self.reject_command_sync:
                    error = {"message": "Invalid Form Body", "code": 50035, "errors": {}}
                    return self._json(error, 400)
                self.commands = [
                    {
                        **cmd,
                        "id": str(snowflake()),
                        "application_id": str(self.app_id),
                        "version": str(snowflake()),
                        "default_member_permissions": cmd.get("default_member_permissions"),
                    }
                    for cmd in body
                ]
                return self._json(self.commands)
            case ("GET", ["applications", _, "commands"]):
                return self._json(self.commands)
            case ("POST", ["channels", cid, "typing"]):
                return web.Response(status=204)
            case ("POST", ["channels", cid, "messages"]):
                nonce = body.get("nonce") if body.get("enforce_nonce") else None
                # Discord: with enforce_nonce, a message the same author created with the same
                # nonce in the past few minutes is returned instead of a new one.
                same = [
                    m for m in self.messages.get(int(cid), []) if nonce and m.get("nonce") == nonce
                ]
                if same and same[0]["author"] is self.bot_user:
                    return self._json(same[0])
                return self._json(self._message(int(cid), self.bot_user, body))
            case ("GET", ["channels", cid, "messages"]):
                return self._json(self._history(int(cid), query))
            case ("PATCH", ["channels", cid, "messages", mid]):
                msg = self.find_message(int(cid), int(mid))
                if msg is None:
                    return self._not_found()
                for key in ("content", "embeds", "components"):
                    if key in body:
                        msg[key] = (
                            body[key] if body[key] is not None else ("" if key == "content" else [])
                        )
                msg["edited_timestamp"] = _now()
                return self._json(msg)
            case ("GET", ["channels", cid, "messages", mid]):
                msg = self.find_message(int(cid), int(mid))
                return self._json(msg) if msg else self._not_found()
            case ("GET", ["channels", cid]):
                ch = self._channel(int(cid))
                return self._json(ch) if ch else self._not_found()
            case ("POST", ["interactions", iid, token, "callback"]):
                return self._interaction_callback(iid, token, body)
            case ("POST", ["webhooks", _, token]):
                return self._followup(token, body)
        return self._not_found()

    def _not_found(self) -> web.Response:
        return self._json({"message": "404: Not Found", "code": 0}, 404)

    def _history(self, channel_id: int, query: dict[str, str]) -> list[Json]:
        """GET /channels/{id}/messages: newest first, ``before``/``after`` exclusive, ``limit``."""
        found = list(self.messages.get(channel_id, []))
        if "before" in query:
            found = [m for m in found if int(m["id"]) < int(query["before"])]
        if "after" in query:
            found = [m for m in found if int(m["id"]) > int(query["after"])]
        found.reverse()
        return found[: int(query.get("limit", 50))]

    def _application(self) -> Json:
        return {
            "id": str(self.app_id),
            "name": "SupportBot",
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user_payload(snowflake(), "owner"),
            "verify_key": secrets.token_hex(32),
            "flags": 0,
            "team": None,
            "summary": "",
        }

    def _interaction_callback(self, iid: str, token: str, body: Json) -> web.Response:
        interaction = self._interactions.get(token)
        if interaction is None or interaction["id"] != iid:
            return self._not_found()
        if interaction.get("_responded"):
            return self._json(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, 400
            )
        interaction["_responded"] = True
        response_type = body["type"]
        data = body.get("data") or {}
        channel_id = int(interaction["channel_id"])
        message = self._message(
            channel_id,
            self.bot_user,
            data,
            webhook_id=str(self.app_id),
            flags=(data.get("flags") or 0) | (128 if response_type == 5 else 0),
        )
        interaction["_original"] = message
        return self._json(
            {
                "interaction": {
                    "id": iid,
                    "type": interaction["type"],
                    "response_message_id": message["id"],
                    "response_message_loading": response_type == 5,
                    "response_message_ephemeral": bool((data.get("flags") or 0) & 64),
                },
                "resource": {"type": response_type, "message": message},
            }
        )

    def _followup(self, token: str, body: Json) -> web.Response:
        interaction = self._interactions.get(token)
        if interaction is None:
            return self._not_found()
        original = interaction.get("_original")
        if original is not None and original["flags"] & 128:
            # The first follow-up after a "thinking" defer replaces the loading message.
            original.update(
                content=body.get("content") or "",
                embeds=body.get("embeds") or [],
                components=body.get("components") or [],
                flags=body.get("flags") or 0,
            )
            return self._json(original)
        channel_id = int(interaction["channel_id"])
        return self._json(
            self._message(channel_id, self.bot_user, body, webhook_id=str(self.app_id))
        )

    # -- gateway -------------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        try:
            await ws.send_json(
                {"op": OP_HELLO, "d": {"heartbeat_interval": 45_000}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                op = payload["op"]
                if op == OP_HEARTBEAT:
                    await ws.send_json({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
                elif op == OP_IDENTIFY:
                    if payload["d"]["token"] != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    if self.refuse_privileged_intents:
                        await ws.close(code=4014, message=b"Disallowed intent(s).")
                        break
                    self.identifies.append(payload["d"])
                    await self._send_ready(ws)
                    self._sockets.append(ws)
                    self._ready.set()
                elif op == OP_RESUME:
                    await ws.send_json({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
        except Exception as exc:
            self.errors.append(exc)
            raise
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            if not self._sockets:
                self._ready.clear()
        return ws

    async def _send(self, ws: web.WebSocketResponse, event: str, data: Json) -> None:
        self._seq += 1
        await ws.send_json({"op": OP_DISPATCH, "t": event, "s": self._seq, "d": data})

    async def _send_ready(self, ws: web.WebSocketResponse) -> None:
        await self._send(
            ws,
            "READY",
            {
                "v": 10,
                "user": self.bot_user,
                "guilds": [{"id": str(self.guild.id), "unavailable": True}],
                "session_id": secrets.token_hex(16),
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.app_id), "flags": 0},
                "shard": [0, 1],
                "private_channels": [],
            },
        )
        await self._send(ws, "GUILD_CREATE", self._guild_create())

    def _guild_create(self) -> Json:
        g = self.guild
        role = {
            "color": 0,
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": str(g.id),
            "name": g.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(snowflake()),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {
                    **role,
                    "id": str(g.everyone_role),
                    "name": "@everyone",
                    "position": 0,
                    "permissions": ALL_PERMISSIONS,
                },
                {
                    **role,
                    "id": str(g.bot_role),
                    "name": "SupportBot",
                    "position": 1,
                    "permissions": ALL_PERMISSIONS,
                    "managed": True,
                    "tags": {"bot_id": str(self.app_id)},
                },
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": _now(),
            "large": False,
            "unavailable": False,
            "member_count": 2,
            "voice_states": [],
            "members": [member_payload(self.bot_user, [g.bot_role])],
            "channels": g.channels,
            "threads": g.threads,
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    async def dispatch(self, event: str, data: Json) -> None:
        """Push a DISPATCH event to every identified bot."""
        await self.wait_ready()
        for ws in list(self._sockets):
            if not ws.closed:
                await self._send(ws, event, data)

    # -- scenario helpers ----------------------------------------------------------------------
    async def post(
        self,
        channel_id: int,
        author: Json,
        content: str,
        *,
        mentions: Iterable[Json] = (),
        mention_roles: Iterable[int] = (),
        reply_to: Json | None = None,
        message_id: int | None = None,
    ) -> Json:
        """A person (or bot) posts a message: stored, then sent as MESSAGE_CREATE."""
        body: Json = {"content": content}
        if reply_to is not None:
            body["message_reference"] = {
                "message_id": reply_to["id"],
                "channel_id": str(channel_id),
            }
        extra: Json = {
            "member": {k: v for k, v in member_payload(author).items() if k != "user"},
            "mentions": list(mentions),
            "mention_roles": [str(r) for r in mention_roles],
        }
        if message_id is not None:
            extra["id"] = str(message_id)
        msg = self._message(channel_id, author, body, **extra)
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def create_thread(self, parent_id: int, owner: Json, name: str, **kw: Any) -> Json:
        """A thread (or forum post) is created: THREAD_CREATE with ``newly_created``."""
        thread = thread_payload(self.guild.id, parent_id, int(owner["id"]), name, **kw)
        self.guild.threads.append(thread)
        await self.dispatch(
            "THREAD_CREATE",
            # "member" would be the *bot's* membership; a person's new thread has none.
            {**thread, "newly_created": True},
        )
        return thread

    async def forum_post(self, forum_id: int, author: Json, title: str, content: str) -> Json:
        """A forum post: its thread, then its first message (same id as the thread)."""
        thread = await self.create_thread(forum_id, author, title)
        return await self.post(int(thread["id"]), author, content, message_id=int(thread["id"]))

    async def react(self, user: Json, message: Json, emoji: str, *, add: bool = True) -> None:
        """MESSAGE_REACTION_ADD / _REMOVE for a unicode ``emoji``."""
        data: Json = {
            "user_id": user["id"],
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "guild_id": str(self.guild.id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if add:
            data["member"] = member_payload(user)
            data["message_author_id"] = message["author"]["id"]
            data["burst_colors"] = []
        await self.dispatch("MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", data)

    def _interaction(
        self,
        user: Json,
        channel_id: int,
        itype: int,
        data: Json,
        *,
        roles: Iterable[int] = (),
        **extra: Any,
    ) -> Json:
        channel = self._channel(channel_id) or {}
        interaction = {
            "id": str(snowflake()),
            "application_id": str(self.app_id),
            "type": itype,
            "data": data,
            "guild_id": str(self.guild.id),
            "channel_id": str(channel_id),
            "channel": {**channel, "permissions": ALL_PERMISSIONS},
            "member": {**member_payload(user, roles), "permissions": ALL_PERMISSIONS},
            "token": secrets.token_urlsafe(32),
            "version": 1,
            "app_permissions": ALL_PERMISSIONS,
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild.id)},
            "context": 0,
            "attachment_size_limit": 26_214_400,
            **extra,
        }
        self._interactions[interaction["token"]] = interaction
        return interaction

    async def slash(
        self, user: Json, channel_id: int, name: str, *, roles: Iterable[int] = (), **options: str
    ) -> Json:
        """A person (with guild ``roles``) runs ``/name option:value`` (INTERACTION_CREATE,
        type 2)."""
        command = next((c for c in self.commands if c["name"] == name), None)
        data = {
            "id": command["id"] if command else str(snowflake()),
            "name": name,
            "type": 1,
            "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()],
        }
        interaction = self._interaction(user, channel_id, 2, data, roles=roles)
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def click(self, user: Json, message: Json, custom_id: str) -> Json:
        """A person clicks a button of ``message`` (INTERACTION_CREATE, type 3)."""
        data = {"custom_id": custom_id, "component_type": 2}
        interaction = self._interaction(user, int(message["channel_id"]), 3, data, message=message)
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    def interaction_calls(self, interaction: Json) -> list[Call]:
        """Calls that respond to ``interaction`` (callback and follow-ups), in order."""
        token = interaction["token"]
        return [c for c in self.calls if token in c.path]
