"""A local fake Slack that speaks the real wire protocol, for end-to-end tests without internet.

It plays Slack's side of the three channels a Bolt app uses:

* the **Web API** (``POST/GET /api/<method>``, form or JSON bodies, ``Authorization: Bearer``):
  records every call and answers like Slack (``auth.test`` with a bot ``user_id``/``bot_id``,
  ``chat.postMessage`` with a ``ts``, ``conversations.replies`` from the messages it has seen,
  HTTP 429 + ``Retry-After`` when a rate limit is injected…);
* the **Events API over HTTP**: signed POSTs (``X-Slack-Signature: v0=HMAC-SHA256(secret,
  "v0:<timestamp>:<body>")``, ``X-Slack-Request-Timestamp``, ``X-Slack-Retry-Num``/``-Reason``)
  of JSON event callbacks, form-encoded slash commands and ``payload=`` interactions;
* **Socket Mode**: ``apps.connections.open`` hands out a ``ws://`` URL; on connect the fake
  sends ``hello``, then envelopes (``events_api``, ``slash_commands``, ``interactive``) and
  records the acks (``{"envelope_id": …}``).

Payload shapes follow https://docs.slack.dev/reference/events, /interactivity and
/apis/events-api/using-socket-mode; ``test_slack_contract.py`` pins them to the installed
slack-bolt/slack-sdk.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TEAM_ID = "T0FAKE"
APP_ID = "A0FAKE"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_TOKEN = "xoxb-0000-fake-bot-token"
APP_TOKEN = "xapp-1-A0FAKE-0000-fake-app-token"
SIGNING_SECRET = "0123456789abcdef0123456789abcdef"

DEFAULT_TIMEOUT_S = 30.0


@dataclass
class ApiCall:
    """One Web API call received: method name, arguments, the bearer token used, and what the
    fake answered (``result``, the JSON body)."""

    method: str
    args: dict[str, Any]
    token: str | None
    result: dict[str, Any] = field(default_factory=dict)
    effect: dict[str, Any] | None = None  # what a call that took effect despite a 5xx did


@dataclass
class Delivery:
    """The outcome of delivering something to the app.

    ``status`` is the HTTP status (Socket Mode: 200 once acked); ``body`` the HTTP response
    body or the ack's ``payload``; ``seconds`` the time until the response/ack.
    """

    status: int
    body: Any
    seconds: float


@dataclass
class FakeSlack:
    """The fake server; ``await start()``, then point the app at :attr:`api_url`."""

    calls: list[ApiCall] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_a_member: set[str] = field(default_factory=set)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    socket_connections: int = 0

    def __post_init__(self) -> None:
        self._rate_limited: dict[str, int] = {}
        self._errors: dict[str, list[str]] = {}
        self._last_ts = 0.0
        self._server_errors: dict[str, list[tuple[int, bool]]] = {}
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._socket)
        app.router.add_post("/respond/{id}", self._respond)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Close the websocket, the client session and the server."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """Web API base URL for ``AsyncWebClient(base_url=...)``."""
        return f"{self.base}/api/"

    # -- conversation state -------------------------------------------------------------------
    def next_ts(self) -> str:
        """A fresh message timestamp: Unix time in seconds with six decimals, as Slack's
        (``"1764700000.123456"``), strictly increasing."""
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def add_channel(self, channel_id: str, **info: Any) -> None:
        """Define what ``conversations.info`` says about a channel (e.g. ``is_ext_shared``)."""
        self.channels[channel_id] = {"id": channel_id, **info}

    def post_user_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        thread_ts: str | None = None,
        channel_type: str = "channel",
    ) -> dict[str, Any]:
        """Record a person's message as Slack would store it; returns the ``message`` event."""
        ts = self.next_ts()
        event: dict[str, Any] = {
            "type": "message",
            "client_msg_id": str(uuid.uuid4()),
            "user": user,
            "text": text,
            "team": TEAM_ID,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "channel_type": channel_type,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        self.messages.setdefault(channel, []).append(dict(event))
        return event

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Messages of a thread, parent first (what ``conversations.replies`` returns)."""
        msgs = [
            m
            for m in self.messages.get(channel, [])
            if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts
        ]
        return sorted(msgs, key=lambda m: float(m["ts"]))

    def fail_next(self, method: str, error: str) -> None:
        """Answer the next call of ``method`` with ``{"ok": false, "error": error}``."""
        self._errors.setdefault(method, []).append(error)

    def server_error(
        self, method: str, *, status: int = 500, processed: bool = False, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status``; with
        ``processed`` the call takes effect first (a message is stored, then the 5xx), as
        Slack warns can happen."""
        self._server_errors.setdefault(method, []).extend([(status, processed)] * times)

    def rate_limit(self, method: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429, ``Retry-After: 0``."""
        self._rate_limited[method] = times

    # -- recorded calls -----------------------------------------------------------------------
    def calls_to(self, method: str, **match: Any) -> list[ApiCall]:
        """Recorded calls of ``method`` whose arguments include ``match``."""
        return [
            c
            for c in self.calls
            if c.method == method and all(c.args.get(k) == v for k, v in match.items())
        ]

    async def wait_for(
        self, predicate: Callable[[], Any], *, within: float = DEFAULT_TIMEOUT_S, what: str = ""
    ) -> Any:
        """Poll until ``predicate()`` is truthy and return its value (fail after ``within`` s)."""
        deadline = time.monotonic() + within
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within}s waiting for {what or predicate}")
            await asyncio.sleep(0.01)

    async def wait_for_call(
        self, method: str, *, within: float = DEFAULT_TIMEOUT_S, **match: Any
    ) -> ApiCall:
        """The first recorded call of ``method`` matching ``match`` (waits for it)."""
        calls = await self.wait_for(
            lambda: self.calls_to(method, **match), within=within, what=f"{method} {match}"
        )
        return calls[0]

    # -- Web API ------------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        for key in ("blocks", "view"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        call = ApiCall(method, args, token)
        self.calls.append(call)

        status, headers = 200, {}
        if self._rate_limited.get(method, 0) > 0:
            self._rate_limited[method] -= 1
            status, headers = 429, {"Retry-After": "0"}
            call.result = {"ok": False, "error": "ratelimited"}
        elif method == "apps.connections.open":
            if (token or "").startswith("xapp-"):
                url = f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4()}"
                call.result = {"ok": True, "url": url}
            else:
                call.result = {"ok": False, "error": "not_allowed_token_type"}
        elif token != BOT_TOKEN:
            call.result = {"ok": False, "error": "invalid_auth"}
        elif self._server_errors.get(method):
            status, processed = self._server_errors[method].pop(0)
            if processed and method in _API_HANDLERS:
                call.effect = _API_HANDLERS[method](self, args)
            call.result = {"ok": False, "error": "internal_error"}
        elif self._errors.get(method):
            call.result = {"ok": False, "error": self._errors[method].pop(0)}
        elif method not in _API_HANDLERS:
            status, call.result = 404, {"ok": False, "error": "unknown_method"}
        else:
            call.result = _API_HANDLERS[method](self, args)
        return web.json_response(call.result, status=status, headers=headers)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-co.slack.com/",
            "team": "Fake Co",
            "user": "supportbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args["channel"]
        if channel in self.not_a_member:
            return {"ok": False, "error": "not_in_channel"}
        ts = self.next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
            "ts": ts,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        if args.get("metadata"):
            metadata = args["metadata"]
            message["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args["channel"], args["ts"]
        message = next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message["text"] = args.get("text", message["text"])
        if "blocks" in args:
            blocks = args["blocks"]
            message["blocks"] = json.loads(blocks) if isinstance(blocks, str) else blocks or []
        message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"]}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        messages = self.thread(args["channel"], args["ts"])
        if not messages:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": _listed(messages, args), "has_more": False}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """``conversations.history``: the channel's top-level messages, newest first."""
        top = [m for m in self.messages.get(args["channel"], []) if "thread_ts" not in m]
        top.sort(key=lambda m: float(m["ts"]), reverse=True)
        return {"ok": True, "messages": _listed(top, args), "has_more": False}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args["channel"]
        if channel in self.not_a_member and channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        info = {
            "id": channel,
            "is_channel": not channel.startswith("D"),
            "is_im": channel.startswith("D"),
            "is_ext_shared": False,
            "is_shared": False,
            "is_pending_ext_shared": False,
            **self.channels.get(channel, {}),
        }
        return {"ok": True, "channel": info}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V0FAKE", **(args.get("view") or {})}}

    def _ok(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    # -- response_url -------------------------------------------------------------------------
    def response_url(self) -> str:
        """A fresh ``response_url`` that records what the app posts to it."""
        return f"{self.base}/respond/{uuid.uuid4().hex}"

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["id"], await request.json()))
        return web.Response(text="ok")

    # -- Socket Mode --------------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.socket_connections += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if "envelope_id" in data:
                    self.acks[data["envelope_id"]] = data
        return ws

    @property
    def socket_closed(self) -> bool:
        """Whether a Socket Mode client connected and has since disconnected."""
        return self._ws is not None and self._ws.closed

    async def wait_connected(self, within: float = DEFAULT_TIMEOUT_S) -> None:
        """Wait until a Socket Mode client is connected."""
        await self.wait_for(
            lambda: self._ws is not None and not self._ws.closed,
            within=within,
            what="a Socket Mode connection",
        )

    async def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int | None = None,
        retry_reason: str = "",
        within: float = DEFAULT_TIMEOUT_S,
    ) -> Delivery:
        """Send a Socket Mode envelope and wait for its ack."""
        await self.wait_connected(within)
        assert self._ws is not None
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt if retry_attempt is not None else 0
            envelope["retry_reason"] = retry_reason
        start = time.monotonic()
        await self._ws.send_str(json.dumps(envelope))
        ack = await self.wait_for(
            lambda: self.acks.get(envelope_id), within=within, what=f"ack of {envelope_id}"
        )
        return Delivery(200, ack.get("payload"), time.monotonic() - start)

    # -- HTTP delivery ------------------------------------------------------------------------
    async def post_signed(
        self,
        url: str,
        body: str,
        content_type: str,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
    ) -> Delivery:
        """POST ``body`` to the app signed like Slack (v0 HMAC-SHA256 over "v0:ts:body")."""
        assert self._session is not None
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(secret, ts, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        start = time.monotonic()
        async with self._session.post(url, data=body.encode(), headers=headers) as resp:
            text = await resp.text()
            seconds = time.monotonic() - start
            parsed: Any = text
            if text.startswith("{"):
                parsed = json.loads(text)
            return Delivery(resp.status, parsed, seconds)


def _listed(messages: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages as the conversations.* methods list them: at or after ``oldest`` when given,
    without ``metadata`` unless ``include_all_metadata``."""
    oldest = float(args.get("oldest") or 0)
    listed = [m for m in messages if float(m["ts"]) >= oldest]
    if str(args.get("include_all_metadata")).lower() not in ("1", "true"):
        listed = [{k: v for k, v in m.items() if k != "metadata"} for m in listed]
    return listed


_API_HANDLERS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.postEphemeral": lambda self, args: {"ok": True, "message_ts": self.next_ts()},
    "conversations.replies": FakeSlack._replies,
    "conversations.history": FakeSlack._history,
    "conversations.info": FakeSlack._conversations_info,
    "reactions.add": FakeSlack._ok,
    "reactions.remove": FakeSlack._ok,
    "views.open": FakeSlack._views_open,
}


def sign(secret: str, timestamp: str, body: str) -> str:
    """Slack's request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


# -- payload builders (the shapes Slack sends) --------------------------------------------------
def event_callback(
    event: dict[str, Any], *, event_id: str | None = None, ext_shared: bool = False
) -> dict[str, Any]:
    """The Events API envelope around ``event`` (https://docs.slack.dev/apis/events-api)."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": ext_shared,
        "event_context": "4-" + uuid.uuid4().hex,
    }


def app_mention_event(message: dict[str, Any]) -> dict[str, Any]:
    """The ``app_mention`` event Slack sends alongside a message that mentions the bot."""
    event = {k: v for k, v in message.items() if k not in ("channel_type",)}
    event["type"] = "app_mention"
    return event


def reaction_event(
    kind: str, *, user: str, reaction: str, channel: str, ts: str, item_user: str = BOT_USER_ID
) -> dict[str, Any]:
    """A ``reaction_added``/``reaction_removed`` event on a message."""
    return {
        "type": kind,
        "user": user,
        "reaction": reaction,
        "item_user": item_user,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }


def slash_command(
    text: str, *, channel: str, user: str, response_url: str, command: str = "/ask"
) -> dict[str, str]:
    """A slash-command invocation (form fields; https://docs.slack.dev/interactivity/implementing-slash-commands)."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "fake-co",
        "channel_id": channel,
        "channel_name": "support",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{uuid.uuid4().int % 10**13}.{TEAM_ID}.{uuid.uuid4().hex}",
    }


def block_action(
    action_id: str, value: str, *, user: str, channel: str, message_ts: str, response_url: str
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click on a message."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{uuid.uuid4().int % 10**13}.{TEAM_ID}.{uuid.uuid4().hex}",
        "team": {"id": TEAM_ID, "domain": "fake-co"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "support"},
        "message": {"type": "message", "ts": message_ts, "user": BOT_USER_ID, "bot_id": BOT_ID},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "supportbot_vote",
                "text": {"type": "plain_text", "text": "vote", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(
    view: dict[str, Any], *, user: str, values: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, Any]:
    """A ``view_submission`` payload for the modal ``view`` (as opened) with typed ``values``."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "fake-co"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "trigger_id": f"{uuid.uuid4().int % 10**13}.{TEAM_ID}.{uuid.uuid4().hex}",
        "view": {
            "id": "V0FAKE",
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "hash": "1700000000.abcdef",
            **view,
            "state": {"values": values},
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def form_body(fields: dict[str, str]) -> str:
    """``application/x-www-form-urlencoded`` encoding, as Slack sends commands."""
    return urllib.parse.urlencode(fields)


def interaction_body(payload: dict[str, Any]) -> str:
    """Interactions are sent form-encoded as ``payload=<json>``."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})
