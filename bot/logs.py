"""Logging for a serving bot: readable lines or JSON, with a request id, via structlog.

The code logs through the standard library (``logging.getLogger(__name__)``), as do Bolt,
discord.py, uvicorn and qdrant-client; :func:`configure_logging` routes all of it through
structlog's ``ProcessorFormatter`` (https://www.structlog.org/en/stable/standard-library.html),
so every line, ours or a library's, comes out in one format. Values bound with
:func:`request_context` (the request id, the platform) are merged into each line logged while
the request is handled, across awaits, because they live in ``contextvars``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import structlog

QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "discord.gateway", "aiohttp.access")
"""Libraries that log every request at INFO; raised to WARNING."""


def configure_logging(
    log_format: Literal["console", "json"] = "console", level: str | int = "INFO"
) -> None:
    """Send every logger's records to stderr as ``log_format`` lines at ``level``.

    ``json`` gives one object per line with ``timestamp`` (ISO 8601, UTC), ``level``,
    ``logger``, ``event`` (the message) and the bound context (``request_id``…); exceptions are
    rendered into ``exception``. Calling it again replaces the previous set-up.

    Raises:
        ValueError: ``level`` is not a logging level name or number.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r} (use DEBUG, INFO, WARNING or ERROR)")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),  # a record's ``extra={...}`` fields become keys
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def new_request_id() -> str:
    """A short random id for one request (12 hex digits)."""
    return uuid.uuid4().hex[:12]


@contextlib.contextmanager
def request_context(**values: Any) -> Iterator[str]:
    """Bind ``request_id`` (a new one unless given) and ``values`` to every log line written
    inside the block, across awaits; yields the request id."""
    values.setdefault("request_id", new_request_id())
    with structlog.contextvars.bound_contextvars(**values):
        yield str(values["request_id"])
