"""Qdrant unavailable in server mode: the person asking gets "I can't reach the knowledge base
right now" within a bounded time, never silence or a traceback, and readiness goes false.

The stand-in is a local TCP server that misbehaves the ways a Qdrant server does when it is
down or overloaded: it refuses connections (nothing listening), accepts and drops them, accepts
and never answers, or answers 503 as a proxy in front of a dead node would. The bot talks to it
with its real server-mode client (qdrant-client over HTTP, ``qdrant_timeout_s`` = 1): the engine
is filled in local mode, then its retrieval is pointed at the stand-in, as if the server it had
been serving from went away.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.health import Readiness
from bot.service import INDEX_UNAVAILABLE_MESSAGE, ChatContext, SupportService
from knowledge.base import KnowledgeBase
from knowledge.index import IndexUnavailableError, index_unreachable, open_client
from tests.conftest import engine_over, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
TIMEOUT_S = 1
BOUND_S = TIMEOUT_S + 1.5  # the reply comes within the timeout, plus the time to answer
DOC = "# Parking\n\nStaff park in the north car park. Visitors use the bays by reception.\n"


class StandIn:
    """A misbehaving Qdrant stand-in on a free local port (``mode``: drop, stall or 503)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "drop":
            writer.transport.abort()  # RST: the connection is dropped under the client
            return
        await reader.readuntil(b"\r\n\r\n")
        if self.mode == "stall":
            self._held.append(writer)  # read the request, never answer
            return
        body = b"upstream connect error"
        writer.write(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for writer in self._held:
            writer.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def refused_url() -> str:
    """A local address where nothing listens (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupportEngine]:
    engine = engine_over(tmp_path_factory, {"parking.md": DOC})
    yield engine
    engine.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FeedbackStore]:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield store
    store.close()


def serve_from(engine: SupportEngine, url: str) -> None:
    """Point the engine's retrieval and index checks at a Qdrant server at ``url``, as
    server mode runs them (no local copies: every search is a request)."""
    engine.settings = engine.settings.model_copy(
        update={"qdrant_url": url, "qdrant_timeout_s": TIMEOUT_S}
    )
    kb = engine.kb
    client = open_client(engine.settings)
    kb.index.client = client
    kb.client = client
    kb.local_dense = kb.local_sentences = kb.local_sparse = None
    kb.retriever = kb.make_retriever()


@pytest.fixture
def restore(engine: SupportEngine) -> Iterator[None]:
    """Put the engine back on its local index after a test."""
    kb, settings = engine.kb, engine.settings
    saved = (kb.client, kb.local_dense, kb.local_sentences, kb.local_sparse, kb.retriever)
    yield
    engine.settings = settings
    kb.client, kb.local_dense, kb.local_sentences, kb.local_sparse, kb.retriever = saved
    kb.index.client = kb.client


async def test_the_engine_answers_before_the_server_goes(
    engine: SupportEngine, store: FeedbackStore
) -> None:
    reply = await SupportService(engine, store).ask(
        "Where do staff park?", ChatContext("test", "public")
    )
    assert reply.answer is not None and "north car park" in reply.answer.text


@pytest.mark.parametrize("mode", ["refused", "drop", "stall", "503"])
async def test_an_unreachable_index_gets_a_clear_reply_in_bounded_time(
    engine: SupportEngine, store: FeedbackStore, restore: None, mode: str
) -> None:
    stand_in = StandIn(mode)
    url = refused_url() if mode == "refused" else await stand_in.start()
    try:
        serve_from(engine, url)
        service = SupportService(engine, store, human_contact="#help-desk")
        started = time.perf_counter()
        reply = await service.ask("Where do staff park?", ChatContext("test", "public"))
        took = time.perf_counter() - started
        assert reply.answer is None
        assert reply.error == INDEX_UNAVAILABLE_MESSAGE.format(human="#help-desk")
        assert took < BOUND_S, f"{took:.2f} s"
        if mode != "refused":
            assert stand_in.connections >= 1  # the client really went to the server
        results = {r.name: r for r in await Readiness.for_bot(engine, store).check()}
        assert not results["index"].ok and results["database"].ok
    finally:
        await stand_in.close()


async def test_a_bot_cannot_start_on_an_unreachable_server(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, qdrant_url=refused_url(), qdrant_timeout_s=TIMEOUT_S)
    with pytest.raises(IndexUnavailableError, match="Cannot reach the Qdrant server at http"):
        await asyncio.to_thread(KnowledgeBase.open, settings)


async def test_only_an_unreachable_server_counts_as_unavailable() -> None:
    assert not index_unreachable(ValueError("bad question"))
    assert not index_unreachable(ConnectionError("the LLM endpoint"))  # not the index
    assert index_unreachable(IndexUnavailableError("no answer within 1 s"))
