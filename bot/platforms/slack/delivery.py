"""Posting to Slack exactly once, whatever the Web API answers.

``chat.postMessage`` is not idempotent and takes no idempotency key: a 500, a 503 or a dropped
connection can come *after* Slack stored the message (Slack's docs: a 5xx "may or may not" have
been processed), so a blind retry posts the answer twice. :func:`post_once` stamps each post
with a ``post_id`` in its message metadata, and after a server error or a lost connection looks
for that id in the thread (``conversations.replies``) or the channel (``conversations.history``)
before it posts again. Rate limits (429) are safe to retry (Slack did not take the call) and
stay with slack-sdk's :class:`~slack_sdk.http_retry.async_handler.AsyncRateLimitErrorRetryHandler`;
:class:`NotForPosts` keeps slack-sdk's server-error and connection retries away from
``chat.postMessage`` (every other method the bot calls is a read or an idempotent update).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.metadata import Metadata
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

POST_METADATA_TYPE = "supportbot_post"
"""Metadata event type of a post that carries no other metadata."""
POST_ID_KEY = "post_id"
POST_ATTEMPTS = 3
"""Attempts of one post; between them the bot checks whether the last one arrived."""
BACKOFF_S = 0.5
"""Wait before the second attempt, doubling after (0.5 s, 1 s)."""
_LOST = (aiohttp.ClientError, TimeoutError)


class NotForPosts(AsyncRetryHandler):
    """Wraps a slack-sdk retry handler so that it never retries ``chat.postMessage``
    (:func:`post_once` does, after checking the post did not arrive).

    Args:
        inner: e.g. ``AsyncServerErrorRetryHandler()`` or ``AsyncConnectionErrorRetryHandler()``.
    """

    def __init__(self, inner: AsyncRetryHandler) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").endswith("/chat.postMessage"):
            return False
        return await self.inner._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def stamped(metadata: Metadata | None, post_id: str) -> Metadata:
    """``metadata`` with ``post_id`` added to its payload (a ``supportbot_post`` one if none)."""
    if metadata is None:
        return Metadata(event_type=POST_METADATA_TYPE, event_payload={POST_ID_KEY: post_id})
    return Metadata(
        event_type=metadata.event_type,
        event_payload={**metadata.event_payload, POST_ID_KEY: post_id},
    )


def _server_error(exc: SlackApiError) -> bool:
    status = getattr(exc.response, "status_code", None)
    return isinstance(status, int) and status >= 500


async def find_post(
    client: AsyncWebClient, channel: str, thread_ts: str | None, post_id: str, since: float
) -> dict[str, Any] | None:
    """The message stamped with ``post_id`` posted in ``channel`` (in ``thread_ts``) since the
    Unix time ``since``, or ``None``.

    Raises:
        SlackApiError, aiohttp.ClientError: the lookup itself failed.
    """
    oldest = f"{since:.6f}"
    if thread_ts:
        found = await client.conversations_replies(
            channel=channel, ts=thread_ts, oldest=oldest, include_all_metadata=True, limit=200
        )
    else:
        found = await client.conversations_history(
            channel=channel, oldest=oldest, include_all_metadata=True, limit=200
        )
    for message in found.get("messages") or []:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get(POST_ID_KEY) == post_id:
            return dict(message)
    return None


async def post_once(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str | None = None,
    metadata: Metadata | None = None,
    attempts: int = POST_ATTEMPTS,
    backoff_s: float = BACKOFF_S,
    **kwargs: Any,
) -> dict[str, Any]:
    """``chat.postMessage`` that retries server errors and lost connections without ever
    posting twice.

    Args:
        channel, thread_ts, metadata, kwargs: as ``chat.postMessage`` takes them (``metadata``
            gains a ``post_id``).
        attempts: posts tried at most; before each retry the last one is looked for.

    Returns:
        ``{"ok": True, "channel": …, "ts": …, "message": …}`` of the one message posted.

    Raises:
        SlackApiError: Slack refused the post (a 4xx error such as ``not_in_channel``: not
            retried), or every attempt met a server error.
        aiohttp.ClientError, TimeoutError: every attempt lost its connection.
    """
    post_id = uuid.uuid4().hex
    since = time.time() - 1.0  # Slack's clock may run a little behind ours
    last: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
            try:
                found = await find_post(client, channel, thread_ts, post_id, since)
            except (SlackApiError, *_LOST) as exc:
                log.warning("could not check whether a post to %s arrived: %s", channel, exc)
                continue  # unknown whether it arrived: do not post again blind
            if found is not None:
                log.info("a post to %s arrived despite the error; not posting it again", channel)
                return {"ok": True, "channel": channel, "ts": found.get("ts"), "message": found}
        try:
            posted = await client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                metadata=stamped(metadata, post_id),
                **kwargs,
            )
        except SlackApiError as exc:
            if not _server_error(exc):
                raise
            last = exc
        except _LOST as exc:
            last = exc
        else:
            return dict(posted.data) if isinstance(posted.data, dict) else {"ts": posted["ts"]}
        log.warning(
            "posting to %s failed (attempt %d of %d): %s", channel, attempt + 1, attempts, last
        )
    assert last is not None
    raise last
