"""Which audience (``public`` or ``internal``) a Slack conversation gets.

Order of precedence:

1. the channel's entry in ``Settings.slack_audiences`` (explicit configuration wins);
2. ``public`` for Slack Connect conversations — the event says so (``is_ext_shared_channel``, or
   the asker belongs to another workspace) or ``conversations.info`` reports ``is_ext_shared`` /
   ``is_pending_ext_shared``;
3. ``Settings.slack_default_audience``.

When Slack cannot tell (``conversations.info`` fails, e.g. a private channel the bot is not in)
the answer is ``public``: failing closed never shows internal sources to outsiders.
``conversations.info`` results are cached per channel for ``ttl_s`` seconds and forgotten on
``channel_shared``/``channel_unshared`` events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from slack_sdk.web.async_client import AsyncWebClient

from knowledge.settings import Audience

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 300.0


class AudienceResolver:
    """Maps a Slack channel id to an audience; see the module docstring.

    Args:
        client: Web API client (needs ``channels:read``, ``groups:read``, ``im:read``,
            ``mpim:read`` for ``conversations.info``).
        overrides: channel id -> audience, from ``Settings.slack_audiences``.
        default: audience of other internal conversations (``Settings.slack_default_audience``).
        ttl_s: seconds a ``conversations.info`` answer is reused.
        clock: monotonic clock in seconds (tests).
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        overrides: Mapping[str, Audience],
        default: Audience,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._overrides = dict(overrides)
        self._default: Audience = default
        self._ttl_s = ttl_s
        self._clock = clock
        self._shared: dict[str, tuple[float, bool]] = {}

    async def audience(self, channel_id: str, *, external_hint: bool = False) -> Audience:
        """The audience of ``channel_id``.

        ``external_hint`` is true when the request itself shows a Slack Connect conversation
        (the event envelope's ``is_ext_shared_channel``, or a ``user_team`` other than the
        installation's team).
        """
        if channel_id in self._overrides:
            return self._overrides[channel_id]
        if external_hint:
            return "public"
        shared = await self._is_ext_shared(channel_id)
        if shared is None or shared:
            return "public"
        return self._default

    def forget(self, channel_id: str) -> None:
        """Drop the cached sharing state of a channel (it was shared or unshared)."""
        self._shared.pop(channel_id, None)

    async def _is_ext_shared(self, channel_id: str) -> bool | None:
        now = self._clock()
        cached = self._shared.get(channel_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        try:
            resp = await self._client.conversations_info(channel=channel_id)
        except Exception as exc:
            log.warning(
                "conversations.info failed for %s (%s); treating it as public", channel_id, exc
            )
            return None
        channel = resp.get("channel") or {}
        shared = bool(channel.get("is_ext_shared") or channel.get("is_pending_ext_shared"))
        self._shared[channel_id] = (now, shared)
        return shared
