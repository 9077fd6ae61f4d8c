"""Build and run the review console: standalone (``supportbot review``) or inside a serving bot
(``supportbot serve slack|discord --with-review``, or ``serve_review = true``).

Inside a bot, the console shares the bot's feedback store and its loaded embedding model (the
knowledge-gaps page groups questions with it), and runs as one more task on the bot's event
loop (uvicorn's ``Server.serve``); without it, the console is a separate process that reads
the same database, which is the set-up for a bot on the embedded index (Qdrant local mode
allows one process per index, and the console never opens the index).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from bot.feedback import FeedbackStore
from bot.review.app import create_app
from bot.review.auth import load_users, session_secret
from bot.review.gaps import Embed
from bot.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ConsoleConfigError(ValueError):
    """The console cannot start as configured (no users yet); the message says what to do."""


def console_app(
    settings: Settings,
    store: FeedbackStore,
    *,
    embed: Embed | None,
    host: str,
    users_path: Path | None = None,
    simulated: bool = False,
) -> FastAPI:
    """The console's ASGI app over ``store``, with users from ``users_path`` (default
    ``settings.review_users_path``). Cookies are ``Secure`` when ``host`` is not loopback.

    Raises:
        ConsoleConfigError: no users are configured (login is always required, and the console
            never listens anywhere without them).
    """
    users = load_users(users_path or settings.review_users_path)
    if not users:
        raise ConsoleConfigError(
            "no console users yet: add one with 'supportbot review add-user NAME' (login is "
            "always required)"
        )
    secret = settings.review_secret_key.get_secret_value() if settings.review_secret_key else None
    return create_app(
        store,
        users=users,
        secret_key=session_secret(secret, settings.data_dir),
        mask_users=settings.review_mask_users,
        https_only=host not in LOOPBACK,
        embed=embed,
        gap_distance=settings.review_gap_distance,
        simulated=simulated,
    )


class _HostedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the process that hosts it (the bot's runner
    owns Ctrl-C and SIGTERM)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def console_server(app: FastAPI, host: str, port: int, *, hosted: bool = False) -> uvicorn.Server:
    """A uvicorn server for ``app``; ``hosted`` leaves signal handling to the host process."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    return _HostedServer(config) if hosted else uvicorn.Server(config)


class HostedConsole:
    """The console running as a task on a bot's event loop (see :func:`start_hosted_console`)."""

    def __init__(self, server: uvicorn.Server, url: str) -> None:
        self.server = server
        self.url = url
        self.task = asyncio.create_task(self._run(), name="review-console")

    async def _run(self) -> None:
        try:
            await self.server.serve()
        except SystemExit:  # uvicorn exits when it cannot bind (e.g. the port is taken)
            log.error("the review console could not start on %s (see the error above)", self.url)

    async def started(self, timeout_s: float = 10.0) -> bool:
        """Wait until the console listens (``True``) or has given up (``False``)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self.server.started and not self.task.done():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return self.server.started and not self.task.done()

    async def stop(self) -> None:
        """Shut the console down (open requests finish first) and wait for it."""
        self.server.should_exit = True
        await asyncio.gather(self.task, return_exceptions=True)


async def start_hosted_console(
    settings: Settings, store: FeedbackStore, embed: Embed | None
) -> HostedConsole | None:
    """Start the console on the running loop when ``settings.serve_review`` is on, with the
    bot's store and embedding model; ``None`` when it is off.

    Raises:
        ConsoleConfigError: the console is on but no users are configured.
    """
    if not settings.serve_review:
        return None
    host, port = settings.review_host, settings.review_port
    app = console_app(settings, store, embed=embed, host=host)
    console = HostedConsole(console_server(app, host, port, hosted=True), f"http://{host}:{port}/")
    if await console.started():
        log.info("review console on %s", console.url)
    return console
