"""Show an answer while it streams: one placeholder message, edited as text arrives.

Both adapters use :class:`StreamedReply`: they give it two coroutines, ``post(text) -> handle``
(send the placeholder, return whatever identifies it) and ``edit(handle, text)``, and pass its
:meth:`~StreamedReply.update` to the engine as ``on_text``. The first text is posted at once
(people see words within about a second of the model's first token); later texts are written
at most once per ``interval_s``, the platforms' edit limits in mind (Slack's ``chat.update`` is a
Tier 3 method, about 50 calls a minute; Discord allows about 5 edits per 5 s per channel).
Edits never hold up the model: ``update`` only starts an edit when none is in flight. When the
answer is done the adapter replaces the placeholder with the final, grounded answer (or posts
it, if nothing was streamed). A failing post or edit is logged and stops the streaming; the
final answer is still delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

H = TypeVar("H")

STREAM_INTERVAL_S = 1.0
CURSOR = " …"


class StreamedReply(Generic[H]):
    """A placeholder message that follows the streamed text (see the module docstring).

    Args:
        post: sends the placeholder with the given text, returns its handle.
        edit: replaces the placeholder's text.
        interval_s: least seconds between two writes.
        max_chars: the platform's message limit; longer partial text shows its end.
    """

    def __init__(
        self,
        post: Callable[[str], Awaitable[H]],
        edit: Callable[[H, str], Awaitable[object]],
        *,
        interval_s: float = STREAM_INTERVAL_S,
        max_chars: int = 3000,
    ) -> None:
        self._post = post
        self._edit = edit
        self.interval_s = interval_s
        self.max_chars = max_chars
        self.handle: H | None = None
        self._latest = ""
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failed = False
        self.writes = 0

    def _shown(self, text: str) -> str:
        text = text.strip()
        if len(text) + len(CURSOR) > self.max_chars:
            text = "…" + text[-(self.max_chars - len(CURSOR) - 1) :]
        return text + CURSOR

    async def update(self, text: str) -> None:
        """The engine's ``on_text``: note ``text`` and write it if due (never waits on I/O)."""
        self._latest = text
        if self._failed or (self._task is not None and not self._task.done()):
            return
        due = self.handle is None or time.monotonic() - self._last >= self.interval_s
        if due and text.strip():
            self._task = asyncio.create_task(self._write(text))

    async def _write(self, text: str) -> None:
        self._last = time.monotonic()
        try:
            if self.handle is None:
                self.handle = await self._post(self._shown(text))
            else:
                await self._edit(self.handle, self._shown(text))
            self.writes += 1
        except Exception:
            log.exception("could not update the streamed reply; the final answer follows")
            self._failed = True

    async def finish(self) -> H | None:
        """Wait for a write in flight; the placeholder's handle, or ``None`` if none was
        posted (the caller then posts the final answer instead of editing)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        return self.handle
