"""Bots sharing a Qdrant server with a sync worker take the vocabulary and calibration the
worker stored with the collection, without a restart (``StatisticsWatcher``).

A second process cannot open the same local-mode folder, so the worker's write is made through
the collection metadata, the way :meth:`KnowledgeBase.recalibrate` writes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine import SupportEngine
from bot.ops import StatisticsWatcher
from knowledge.index import STATISTICS_KEY, VOCABULARY_KEY
from tests.conftest import KB, make_settings

NEW_WORD = "zorblaxian"  # a word no test document has


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SupportEngine]:
    engine = SupportEngine.from_settings(make_settings(tmp_path / "data"))
    engine.kb.ingest([KB / "public"], audience="public", progress=False)
    yield engine
    engine.close()


def _worker_recalibrates(engine: SupportEngine) -> None:
    """What a sync worker's recalibration leaves in the collection: a vocabulary with the new
    documents' words, under a new statistics id."""
    meta = engine.kb.index.metadata()
    engine.kb.index.set_metadata(
        {
            VOCABULARY_KEY: [*meta[VOCABULARY_KEY], NEW_WORD],
            STATISTICS_KEY: uuid.uuid4().hex,
        }
    )


def test_reload_takes_statistics_only_when_another_process_rewrote_them(
    engine: SupportEngine,
) -> None:
    kb = engine.kb
    assert kb.statistics_id is not None  # the ingest's own recalibration
    assert kb.reload_statistics() is False  # its own write: nothing to take
    _worker_recalibrates(engine)
    assert NEW_WORD in kb.unknown_terms(f"what is a {NEW_WORD}")
    calibrations = kb.calibrations
    assert kb.reload_statistics() is True
    assert kb.unknown_terms(f"what is a {NEW_WORD}") == []
    assert kb.calibrations == calibrations  # still the stored ones (the worker kept them)
    assert kb.reload_statistics() is False


async def test_the_watcher_takes_them_in_the_background(engine: SupportEngine) -> None:
    watcher = StatisticsWatcher(engine, interval_s=0.05)
    watcher.start()
    try:
        _worker_recalibrates(engine)
        for _ in range(200):
            if not engine.kb.unknown_terms(f"what is a {NEW_WORD}"):
                break
            await asyncio.sleep(0.05)
        assert engine.kb.unknown_terms(f"what is a {NEW_WORD}") == []
    finally:
        await watcher.stop()
