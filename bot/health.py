"""Liveness, readiness and metrics over HTTP, for both runners (Slack and Discord).

* ``GET /healthz``: the process and its event loop answer (200, ``{"status": "ok"}``). A
  liveness probe: it checks nothing else, so a database outage never restarts the pods.
* ``GET /readyz``: each readiness check with its result; 200 when all pass, 503 otherwise. The
  checks: the **index** answers (the collection exists), the **database** answers
  (``SELECT 1``) and the embedding **model** encodes a word. Each check runs in a worker thread and
  is bounded by ``timeout_s``, so a hung Qdrant makes readiness false within that time instead
  of hanging the probe.
* ``GET /metrics``: the Prometheus text format (:mod:`bot.metrics`).

The Slack runner in HTTP mode adds these routes to the Bolt app's own server (one port for
Slack and the probes); Socket Mode and Discord start :class:`HealthServer` on
``health_host:health_port``. The probe semantics follow Kubernetes'
(https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot import metrics

if TYPE_CHECKING:
    from bot.engine import SupportEngine
    from bot.feedback import FeedbackStore
    from bot.settings import Settings

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[None]]
"""An async check that returns when healthy and raises (any exception) when not."""

CHECK_TIMEOUT_S = 2.0
"""Per-check bound in seconds; below Kubernetes' default probe timeout would be 1 s, so set the
probe's ``timeoutSeconds`` to at least 3 (the chart and compose file do)."""


@dataclass(frozen=True)
class CheckResult:
    """One readiness check: ``ok``, and on failure a one-line ``detail``; ``ms`` it took."""

    name: str
    ok: bool
    detail: str
    ms: float


class Readiness:
    """Named readiness probes, each run with a timeout.

    Args:
        probes: ``name → probe``.
        timeout_s: the bound for each probe, in seconds.
    """

    def __init__(self, probes: Mapping[str, Probe], *, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self.probes = dict(probes)
        self.timeout_s = timeout_s

    @classmethod
    def for_bot(cls, engine: SupportEngine, store: FeedbackStore, **kwargs: Any) -> Readiness:
        """Readiness of a serving bot: its index, its feedback database and its model."""

        async def index() -> None:
            await asyncio.to_thread(engine.kb.index.ping)

        async def model() -> None:
            # One short encode (~10 ms): the model is loaded and answers, not just constructed.
            vector = await asyncio.to_thread(engine.kb.embedder.embed_query, "readiness")
            if vector.shape != (engine.kb.embedder.dim,):
                raise RuntimeError(f"embedding model returned shape {vector.shape}")

        return cls({"index": index, "database": store.ping, "model": model}, **kwargs)

    async def _run(self, name: str, probe: Probe) -> CheckResult:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(probe(), self.timeout_s)
        except TimeoutError:
            ok, detail = False, f"no answer within {self.timeout_s:g} s"
        except Exception as exc:  # any failure makes the check false, with its reason
            ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
        else:
            ok, detail = True, "ok"
        return CheckResult(name, ok, detail, (time.perf_counter() - started) * 1000)

    async def check(self) -> list[CheckResult]:
        """Run every probe concurrently; results in the probes' order."""
        return list(await asyncio.gather(*(self._run(n, p) for n, p in self.probes.items())))


def add_routes(app: web.Application, readiness: Readiness) -> None:
    """Add ``/healthz``, ``/readyz`` and ``/metrics`` to an aiohttp application."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        results = await readiness.check()
        ready = all(r.ok for r in results)
        if not ready:
            log.warning(
                "not ready: %s", "; ".join(f"{r.name}: {r.detail}" for r in results if not r.ok)
            )
        body = {
            "ready": ready,
            "checks": {
                r.name: {"ok": r.ok, "detail": r.detail, "ms": round(r.ms, 1)} for r in results
            },
        }
        return web.json_response(body, status=200 if ready else 503)

    async def metrics_page(_: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)


def bound_port(runner: web.AppRunner) -> int | None:
    """The TCP port an aiohttp runner listens on (useful after binding port 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None


class HealthServer:
    """A small aiohttp server for the probes and metrics, on the bot's event loop.

    Args:
        readiness: the checks behind ``/readyz``.
        host: interface to bind (``0.0.0.0`` in a container, so the kubelet can reach it).
        port: TCP port (0 picks a free one; see :attr:`port` after :meth:`start`).
    """

    def __init__(self, readiness: Readiness, host: str, port: int) -> None:
        self.app = web.Application()
        add_routes(self.app, readiness)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Start listening.

        Raises:
            OSError: the address is in use or cannot be bound.
        """
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = bound_port(self._runner) or self.port
        log.info(
            "health and metrics on http://%s:%s (/healthz /readyz /metrics)", self.host, self.port
        )

    async def stop(self) -> None:
        """Stop listening; safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


@contextlib.asynccontextmanager
async def running_health(
    settings: Settings, readiness: Readiness, *, own_server: bool = True
) -> AsyncIterator[HealthServer | None]:
    """Serve the probes on ``health_host:health_port`` for the block's duration (nothing when
    ``own_server`` is false, e.g. Slack HTTP mode, or ``health_port`` is 0). A port that cannot
    be bound is logged and the bot runs on without probes.
    """
    server: HealthServer | None = None
    if own_server and settings.health_port:
        server = HealthServer(readiness, settings.health_host, settings.health_port)
        try:
            await server.start()
        except OSError as exc:
            log.error(
                "no health server on %s:%s: %s", settings.health_host, settings.health_port, exc
            )
            server = None
    try:
        yield server
    finally:
        if server is not None:
            await server.stop()
