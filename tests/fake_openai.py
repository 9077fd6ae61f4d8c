"""A local server that speaks the OpenAI chat-completions wire protocol (aiohttp).

``POST /v1/chat/completions`` returns a real-shaped completion whose content is produced by a
test-supplied function of the request body; it can also answer 500 or stall to exercise
timeouts. Every request body is recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeOpenAI:
    """Behaviour knobs and the recorded requests of the fake endpoint."""

    reply: Callable[[dict[str, Any]], str] = lambda body: "OK [1]."
    fail_status: int | None = None  # answer this HTTP status instead of a completion
    fail_times: int = 0  # ... only for the first N requests (0 = always when fail_status set)
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_status and (self.fail_times == 0 or len(self.requests) <= self.fail_times):
            return web.json_response(
                {"error": {"message": "boom", "type": "server_error"}}, status=self.fail_status
            )
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.reply(body)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


async def start(fake: FakeOpenAI) -> tuple[web.AppRunner, str]:
    """Serve ``fake`` on 127.0.0.1 (free port); returns the runner and the ``/v1`` base URL."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/v1"
