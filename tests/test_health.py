"""Probes, metrics and logs of a serving bot (bot.health, bot.metrics, bot.logs): the real
engine and store behind ``/readyz``, real questions behind ``/metrics``, real log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.health import HealthServer, Readiness, running_health
from bot.logs import configure_logging, request_context
from bot.service import ChatContext, SupportService
from tests.conftest import (
    INTERNAL_QUESTION,
    POSTGRES_URL,
    PUBLIC_QUESTION,
    free_port,
    make_settings,
)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    s = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield s
    s.close()


async def test_ready_with_the_real_index_database_and_model(
    kb_engine: SupportEngine, store: FeedbackStore
) -> None:
    results = await Readiness.for_bot(kb_engine, store).check()
    assert [(r.name, r.ok) for r in results] == [
        ("index", True),
        ("database", True),
        ("model", True),
    ]


async def test_not_ready_without_a_collection(tmp_path: Path, store: FeedbackStore) -> None:
    engine = await asyncio.to_thread(SupportEngine.from_settings, make_settings(tmp_path / "d"))
    try:
        readiness = Readiness.for_bot(engine, store)
        assert all(r.ok for r in await readiness.check())
        # The collection dropped under the running bot (what `ingest --rebuild` does first).
        engine.kb.client.delete_collection(engine.kb.index.collection)
        results = {r.name: r for r in await readiness.check()}
    finally:
        await engine.aclose()
    assert not results["index"].ok
    assert "supportbot ingest" in results["index"].detail
    assert results["database"].ok and results["model"].ok


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs SUPPORTBOT_TEST_POSTGRES_URL")
async def test_not_ready_when_the_database_goes_away(
    kb_engine: SupportEngine, fresh_database: str
) -> None:
    if not fresh_database.startswith("postgresql"):
        pytest.skip("a server database is what can go away")
    store = FeedbackStore(fresh_database)
    try:
        readiness = Readiness.for_bot(kb_engine, store)
        assert all(r.ok for r in await readiness.check())
        url = sa.engine.make_url(fresh_database)
        admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        admin.dispose()
        results = {r.name: r for r in await readiness.check()}
        assert not results["database"].ok and results["index"].ok
    finally:
        store.close()


async def test_a_hung_check_is_bounded_and_a_failing_one_names_its_reason() -> None:
    async def hangs() -> None:
        await asyncio.sleep(30)

    async def fails() -> None:
        raise ConnectionRefusedError("connection refused")

    async def fine() -> None:
        return None

    readiness = Readiness({"index": hangs, "database": fails, "model": fine}, timeout_s=0.2)
    started = asyncio.get_running_loop().time()
    results = {r.name: r for r in await readiness.check()}
    assert asyncio.get_running_loop().time() - started < 2.0  # concurrent and bounded
    assert not results["index"].ok and "0.2 s" in results["index"].detail
    assert not results["database"].ok and "connection refused" in results["database"].detail
    assert results["model"].ok


async def test_endpoints_serve_probes_and_the_metrics_of_real_answers(
    kb_engine: SupportEngine, store: FeedbackStore
) -> None:
    service = SupportService(kb_engine, store)
    before_answered = sample("supportbot_questions_total", platform="test", outcome="answered")
    before_abstained = sample("supportbot_questions_total", platform="test", outcome="abstained")
    before_total = sample("supportbot_stage_seconds_count", stage="total")
    before_up = sample("supportbot_votes_total", via="button", vote="up")

    answered = await service.ask(PUBLIC_QUESTION, ChatContext("test", "public"))
    # A public channel asking about an internal document: nothing it may see answers it.
    refused = await service.ask(INTERNAL_QUESTION, ChatContext("test", "public"))
    assert answered.answer is not None and not answered.answer.abstained
    assert refused.answer is not None and refused.answer.abstained
    assert answered.answer_id is not None
    await service.vote(answered.answer_id, "U1", 1, source="button")

    server = HealthServer(Readiness.for_bot(kb_engine, store), "127.0.0.1", 0)
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert await get(f"{base}/healthz") == (200, '{"status": "ok"}')
        status, body = await get(f"{base}/readyz")
        assert status == 200
        checks = json.loads(body)
        assert checks["ready"] is True and set(checks["checks"]) == {"index", "database", "model"}
        status, text = await get(f"{base}/metrics")
    finally:
        await server.stop()
    assert status == 200
    assert "# TYPE supportbot_stage_seconds histogram" in text
    assert (
        sample("supportbot_questions_total", platform="test", outcome="answered")
        == before_answered + 1
    )
    assert (
        sample("supportbot_questions_total", platform="test", outcome="abstained")
        == before_abstained + 1
    )
    assert sample("supportbot_stage_seconds_count", stage="total") == before_total + 2
    assert sample("supportbot_votes_total", via="button", vote="up") == before_up + 1
    reason = refused.answer.abstain_reason or "unknown"
    assert sample("supportbot_abstentions_total", platform="test", reason=reason) >= 1
    assert 'supportbot_questions_total{outcome="answered",platform="test"}' in text


async def test_readyz_is_503_with_the_failing_check(store: FeedbackStore) -> None:
    async def down() -> None:
        raise OSError("qdrant:6333 unreachable")

    readiness = Readiness({"index": down, "database": store.ping})
    server = HealthServer(readiness, "127.0.0.1", 0)
    await server.start()
    try:
        status, body = await get(f"http://127.0.0.1:{server.port}/readyz")
        live, _ = await get(f"http://127.0.0.1:{server.port}/healthz")
    finally:
        await server.stop()
    assert status == 503 and live == 200  # not ready, yet alive: no restart for an outage
    checks = json.loads(body)["checks"]
    assert checks["index"]["ok"] is False and "unreachable" in checks["index"]["detail"]
    assert checks["database"]["ok"] is True


async def test_running_health_follows_the_settings(tmp_path: Path, store: FeedbackStore) -> None:
    readiness = Readiness({"database": store.ping})
    settings = make_settings(tmp_path, health_port=0)
    async with running_health(settings, readiness) as off:
        assert off is None  # port 0 = off
    settings = make_settings(tmp_path, health_host="127.0.0.1", health_port=free_port())
    async with running_health(settings, readiness) as server:
        assert server is not None
        assert (await get(f"http://127.0.0.1:{server.port}/healthz"))[0] == 200
    async with running_health(settings, readiness, own_server=False) as none:
        assert none is None


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("log_text", [False, True])
async def test_json_logs_carry_a_request_id_and_no_question_text_unless_enabled(
    kb_engine: SupportEngine,
    store: FeedbackStore,
    monkeypatch: pytest.MonkeyPatch,
    log_text: bool,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("json", "INFO")
    service = SupportService(kb_engine, store, log_text=log_text)
    reply = await service.ask(PUBLIC_QUESTION, ChatContext("slack", "public", "C1", "U1"))
    with request_context(request_id="fixed-id"):
        logging.getLogger("bot.test").warning("inside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (answered,) = [x for x in lines if x.get("logger") == "bot.service"]
    assert answered["level"] == "info" and answered["platform"] == "slack"
    assert len(answered["request_id"]) == 12
    assert answered["answer_id"] == reply.answer_id and answered["generator"] == "extractive"
    assert (PUBLIC_QUESTION in answered["event"]) is log_text
    assert all(PUBLIC_QUESTION not in json.dumps(x) for x in lines if x is not answered)
    (inside,) = [x for x in lines if x.get("logger") == "bot.test"]
    assert inside["request_id"] == "fixed-id" and "timestamp" in inside


def test_configure_logging_rejects_an_unknown_level() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("json", "LOUD")
