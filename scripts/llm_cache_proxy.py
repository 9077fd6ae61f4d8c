"""A caching proxy for an OpenAI-compatible endpoint, for benchmarks only.

Identical chat-completions requests (same JSON body) are answered from a folder of cached
replies, so the grounding variants (``SUPPORTBOT_GROUNDING=remove|mark|off``), which change
nothing in the request, are measured on the very same model replies, without waiting minutes
for a slow local model again. Latency figures come from the first, uncached run only.

Usage: ``python scripts/llm_cache_proxy.py UPSTREAM_BASE_URL CACHE_DIR [PORT]``, e.g.
``python scripts/llm_cache_proxy.py http://127.0.0.1:8088/v1 reports/llm-cache 8089``, then
point ``SUPPORTBOT_OPENAI_BASE_URL`` at ``http://127.0.0.1:8089/v1``. Streamed replies are
passed through as they arrive (a client that leaves early closes the upstream connection too)
and cached when complete; a cached one is replayed at once.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import aiohttp
from aiohttp import web


def make_app(upstream: str, cache: Path) -> web.Application:
    """The proxy application: ``POST /v1/chat/completions`` cached, ``GET /v1/models`` passed."""
    cache.mkdir(parents=True, exist_ok=True)
    upstream = upstream.rstrip("/")

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        stream = bool(body.get("stream"))
        path = cache / f"{key}.{'sse' if stream else 'json'}"
        if path.exists():
            kind = "text/event-stream" if stream else "application/json"
            return web.Response(body=path.read_bytes(), content_type=kind)
        timeout = aiohttp.ClientTimeout(total=None)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(f"{upstream}/chat/completions", json=body) as r,
        ):
            if not stream or r.status != 200:
                data = await r.read()
                if r.status == 200:
                    path.write_bytes(data)
                return web.Response(body=data, status=r.status, content_type=r.content_type)
            out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await out.prepare(request)
            parts: list[bytes] = []
            async for chunk in r.content.iter_any():
                parts.append(chunk)
                await out.write(chunk)  # raises once the client has gone: upstream closes
            data = b"".join(parts)
            if b"[DONE]" in data:
                path.write_bytes(data)
            await out.write_eof()
            return out

    async def models(request: web.Request) -> web.Response:
        async with aiohttp.ClientSession() as session, session.get(f"{upstream}/models") as r:
            return web.Response(body=await r.read(), status=r.status, content_type=r.content_type)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/v1/models", models)
    return app


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 8089
    web.run_app(make_app(sys.argv[1], Path(sys.argv[2])), host="127.0.0.1", port=port)
