"""Per-user and per-channel question limits, so one person (or one busy channel) flooding the
bot cannot delay everyone else's answers.

A moving window per key, from the ``limits`` library (``MovingWindowRateLimiter`` over its
in-memory storage): ``"8/minute"`` lets a person ask 8 questions in any 60 seconds. A question
is counted against both its user and its channel only when both allow it, so a refused one
costs nothing. The counts live in the process: with several replicas each keeps its own (a
user's questions are spread over them, so the effective limit is at most replicas × the
setting; a shared storage such as Redis is what ``limits`` offers for one count across them).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class Throttled:
    """A question refused: whose limit (``user`` or ``channel``) and how many whole seconds
    until one more is allowed."""

    scope: Literal["user", "channel"]
    retry_after_s: int


def parse_limit(text: str) -> RateLimitItem:
    """``"8/minute"``, ``"100/hour"``, ``"2 per second"`` (the ``limits`` notation).

    Raises:
        ValueError: not a rate limit string.
    """
    return parse(text)


class QuestionLimiter:
    """Counts questions per user and per channel.

    Args:
        per_user: e.g. ``"8/minute"``; ``None`` = no limit per user.
        per_channel: e.g. ``"60/minute"``; ``None`` = no limit per channel.

    Raises:
        ValueError: a limit string ``limits`` cannot parse.
    """

    def __init__(self, per_user: str | None, per_channel: str | None) -> None:
        self.per_user = parse_limit(per_user) if per_user else None
        self.per_channel = parse_limit(per_channel) if per_channel else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, platform: str, user_id: str | None, channel_id: str | None) -> Throttled | None:
        """Count one question and return ``None``, or (without counting it) say why not."""
        checks: list[tuple[Literal["user", "channel"], RateLimitItem, str]] = []
        if self.per_user is not None and user_id:
            checks.append(("user", self.per_user, f"{platform}:user:{user_id}"))
        if self.per_channel is not None and channel_id:
            checks.append(("channel", self.per_channel, f"{platform}:channel:{channel_id}"))
        for scope, limit, key in checks:
            if not self._limiter.test(limit, key):
                reset = self._limiter.get_window_stats(limit, key).reset_time
                return Throttled(scope, max(1, math.ceil(reset - time.time())))
        for _, limit, key in checks:
            self._limiter.hit(limit, key)
        return None
