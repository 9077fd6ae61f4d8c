"""Build the Bolt app and run it over Socket Mode or the HTTP Events API; ``serve`` for the CLI.

* Socket Mode (``SUPPORTBOT_SLACK_MODE=socket``, the default): needs the bot token and an
  app-level token (``xapp-…``, scope ``connections:write``); no public URL.
  https://docs.slack.dev/apis/events-api/using-socket-mode
* HTTP (``SUPPORTBOT_SLACK_MODE=http``): needs the bot token and the signing secret; Slack POSTs
  events, commands and interactions to ``http://<slack_http_host>:<slack_http_port>/slack/events``
  (put it behind TLS). Requests are verified with the signing secret (HMAC v0), so a bad
  signature gets HTTP 401. https://docs.slack.dev/authentication/verifying-requests-from-slack
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.health import Readiness, add_routes, bound_port, running_health
from bot.ops import AdminCommands
from bot.platforms.slack.audience import AudienceResolver
from bot.platforms.slack.delivery import NotForPosts
from bot.platforms.slack.listeners import SlackListeners

if TYPE_CHECKING:
    from bot.service import SupportService
    from bot.settings import Settings

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
RATE_LIMIT_RETRIES = 3
"""Retries of a Web API call answered HTTP 429; each waits the ``Retry-After`` seconds."""


class SlackConfigError(ValueError):
    """The settings lack what the chosen Slack mode needs."""


def check_settings(settings: Settings) -> None:
    """Raise :class:`SlackConfigError` naming the missing setting for ``settings.slack_mode``."""
    missing = []
    if settings.slack_bot_token is None:
        missing.append("SUPPORTBOT_SLACK_BOT_TOKEN (xoxb-…)")
    if settings.slack_mode == "socket" and settings.slack_app_token is None:
        missing.append("SUPPORTBOT_SLACK_APP_TOKEN (xapp-…, scope connections:write)")
    if settings.slack_mode == "http" and settings.slack_signing_secret is None:
        missing.append("SUPPORTBOT_SLACK_SIGNING_SECRET")
    if missing:
        raise SlackConfigError(
            f"Slack {settings.slack_mode} mode needs " + ", ".join(missing) + " (see docs/slack.md)"
        )


def make_web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: bot token, optional base URL override, and retry handlers.

    Retries: connection errors (once), HTTP 500/503 (once), and HTTP 429 rate limits
    (:data:`RATE_LIMIT_RETRIES` times, waiting ``Retry-After``), with slack-sdk's handlers
    (https://docs.slack.dev/tools/python-slack-sdk/web#retryhandler); the first two never for
    ``chat.postMessage``, which :func:`bot.platforms.slack.delivery.post_once` retries only
    after checking the post did not arrive.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url or AsyncWebClient.BASE_URL,
        retry_handlers=[
            NotForPosts(AsyncConnectionErrorRetryHandler()),
            NotForPosts(AsyncServerErrorRetryHandler()),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )


def build_app(
    settings: Settings,
    service: SupportService,
    client: AsyncWebClient | None = None,
    admin: AdminCommands | None = None,
) -> AsyncApp:
    """The Bolt app with every listener registered (see :mod:`bot.platforms.slack.listeners`);
    ``admin`` runs the admin commands (default: configured admins, no sync service).

    Raises:
        SlackConfigError: a token or secret needed by ``settings.slack_mode`` is missing.
    """
    check_settings(settings)
    client = client or make_web_client(settings)
    http = settings.slack_mode == "http"
    secret = settings.slack_signing_secret
    app = AsyncApp(
        name="supportbot",
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        request_verification_enabled=http,
        logger=logging.getLogger("bot.platforms.slack.bolt"),
    )
    audiences = AudienceResolver(
        client, overrides=settings.slack_audiences, default=settings.slack_default_audience
    )
    SlackListeners(
        service,
        audiences,
        human_contact=settings.human_contact,
        admin=admin or AdminCommands.from_settings(None, settings),
    ).register(app)
    return app


class SlackBot:
    """The Bolt app plus its transport, started and stopped explicitly.

    Args:
        settings: ``slack_mode`` picks Socket Mode or HTTP; see the module docstring.
        service: the platform-neutral service.
        client: a ready Web API client (default: :func:`make_web_client`).
        admin: the admin commands (see :func:`build_app`).
        readiness: the checks behind ``/readyz``; with it, HTTP mode also serves
            ``/healthz``, ``/readyz`` and ``/metrics`` on its port (:mod:`bot.health`).

    Raises:
        SlackConfigError: a token or secret needed by the mode is missing.
    """

    def __init__(
        self,
        settings: Settings,
        service: SupportService,
        client: AsyncWebClient | None = None,
        admin: AdminCommands | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.settings = settings
        self.app = build_app(settings, service, client, admin)
        self.readiness = readiness
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None
        """The bound HTTP port once started in HTTP mode (useful with port 0)."""

    async def start(self) -> None:
        """Connect to Slack (Socket Mode) or start listening (HTTP); returns once ready."""
        if self.settings.slack_mode == "socket":
            token = self.settings.slack_app_token
            assert token is not None  # checked by build_app
            self._socket = AsyncSocketModeHandler(self.app, token.get_secret_value())
            await self._socket.connect_async()
            log.info("Slack bot connected over Socket Mode")
            return
        web_app = self.app.web_app(path=EVENTS_PATH)
        if self.readiness is not None:
            add_routes(web_app, self.readiness)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.settings.slack_http_host, self.settings.slack_http_port
        )
        await site.start()
        self.http_port = bound_port(self._runner)
        log.info(
            "Slack bot listening on http://%s:%s%s",
            self.settings.slack_http_host,
            self.http_port,
            EVENTS_PATH,
        )

    async def stop(self) -> None:
        """Disconnect or stop listening; safe to call twice."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


async def serve(settings: Settings) -> None:
    """Run the Slack bot until cancelled (``supportbot serve slack``).

    Opens the answer engine and the feedback store from ``settings``, starts the transport
    chosen by ``settings.slack_mode`` and waits; on cancellation (Ctrl-C) it disconnects and
    closes the engine and the store.

    Raises:
        SlackConfigError: a token or secret needed by the mode is missing (checked before the
            engine is loaded).
    """
    check_settings(settings)
    from bot.engine import SupportEngine  # heavy (model, index): imported when serving only
    from bot.feedback import FeedbackStore
    from bot.ops import running_ops
    from bot.service import SupportService

    # Loading the model and opening the index/database block: keep them off the event loop.
    engine = await asyncio.to_thread(SupportEngine.from_settings, settings)
    try:
        store = await asyncio.to_thread(FeedbackStore.from_settings, settings)
    except BaseException:
        await engine.aclose()
        raise
    try:
        service = SupportService.from_settings(engine, store, settings)
        readiness = Readiness.for_bot(engine, store)
        # HTTP mode serves the probes on the events port; Socket Mode has no server of its own.
        async with (
            running_health(settings, readiness, own_server=settings.slack_mode != "http"),
            running_ops(settings, engine, store, embed=engine.kb.embedder.embed) as admin,
        ):
            bot = SlackBot(settings, service, admin=admin, readiness=readiness)
            await bot.start()
            try:
                await asyncio.Event().wait()
            finally:
                await bot.stop()
                await service.aclose()
    finally:
        await engine.aclose()
        store.close()
