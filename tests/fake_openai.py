"""A local server that speaks the OpenAI chat-completions wire protocol (aiohttp).

``POST /v1/chat/completions`` returns a real-shaped completion whose content is produced by a
test-supplied function of the request body; it can also answer 500 or stall to exercise
timeouts. With ``"stream": true`` it answers server-sent events as OpenAI does (a
``chat.completion.chunk`` per word, ``stream_delay_s`` apart, a usage chunk when
``stream_options.include_usage`` is set, then ``data: [DONE]``). Every request body is recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
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
    stream_delay_s: float = 0.0  # pause between streamed chunks
    # Broken replies: "json" (200 with a body that is not JSON), "empty" (no choices),
    # "null" (a choice whose content is null), "garbage" (a streamed chunk that is not JSON),
    # "stall" (stream the first word, then nothing: the connection stays open).
    broken: str | None = None
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
        if self.broken == "json":
            return web.Response(
                text='{"id": "chatcmpl-1", "choices": [', content_type="application/json"
            )
        content = self.reply(body)
        finish = "stop"
        words = re.findall(r"\S+\s*", content)
        if body.get("max_tokens") and len(words) > body["max_tokens"]:
            # As a real server does: stop at max_tokens (a word is a token here), mid-sentence.
            content, finish = "".join(words[: body["max_tokens"]]).rstrip(), "length"
        usage = {
            "prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in body["messages"]),
            "completion_tokens": len(content.split()),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            return await self._stream(request, body, content, usage, finish)
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": []
                if self.broken == "empty"
                else [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None if self.broken == "null" else content,
                        },
                        "finish_reason": finish,
                    }
                ],
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        content: str,
        usage: dict[str, int],
        finish: str = "stop",
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
        }

        async def send(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            await response.write(f"data: {data}\n\n".encode())

        await send({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        if self.broken == "empty":
            await send({**base, "choices": []})
            await send("[DONE]")
            await response.write_eof()
            return response
        for n, piece in enumerate(re.findall(r"\S+\s*", content)):
            if self.broken == "garbage" and n == 1:
                await send('{"choices": [{"delta": {"content": "unterminated')
            if self.broken == "stall" and n == 1:
                # Until the client gives up and hangs up (polled: aiohttp does not cancel a
                # handler when its client goes away).
                while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                return response
            if self.stream_delay_s:
                await asyncio.sleep(self.stream_delay_s)
            await send({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
        await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({**base, "choices": [], "usage": usage})
        await send("[DONE]")
        await response.write_eof()
        return response


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
