"""A sync killed while it writes a document's new version leaves nothing half-indexed in sight:
searches, the document list and the chunk reads still see the old version whole, and the next
sync writes the new one and removes the leftovers.

The kill is real: ``supportbot ingest`` runs in a child process that dies (``os._exit``, no
clean-up, as under SIGKILL) right after its first batch of new points reached the index. Both
embedded engines: on Qdrant Edge the unpublished point comes back from the engine's WAL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.base import KnowledgeBase
from tests.conftest import make_settings

NEW_FACT = "The zorblax loading dock opens at seven in the morning on public holidays."
QUESTION = "When does the zorblax loading dock open on public holidays?"

DIE_AFTER_FIRST_BATCH = """
import os, sys
from knowledge.index import QdrantIndex
upsert = QdrantIndex.upsert
calls = []

def dying_upsert(self, *args, **kwargs):
    kwargs["batch_size"] = 1  # one point per request: the kill lands inside a document
    real = self.client.upsert
    def write(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            os._exit(137)  # killed: the first point of the new version is written
        return real(*a, **k)
    self.client.upsert = write
    try:
        return upsert(self, *args, **kwargs)
    finally:
        self.client.upsert = real

QdrantIndex.upsert = dying_upsert
from bot.cli import main
sys.argv = ["supportbot", "ingest", sys.argv[1]]
main()
"""


def _handbook(extra: str = "") -> str:
    """A document of several chunks (distinct paragraphs about office rules)."""
    rooms = ["north", "south", "east", "west", "upper", "lower", "garden", "library"]
    paragraphs = [
        f"## The {room} wing\n\nThe {room} wing of the office opens at {8 + i % 3} o'clock. "
        f"Visitors to the {room} wing sign in at reception desk {i + 1} and wear a badge. "
        f"Meeting rooms in the {room} wing are booked through the facilities portal, at most "
        f"{i + 2} weeks ahead, and cleaned every evening after {17 + i % 2} o'clock. "
        f"Bicycles are parked in the {room} courtyard racks, never in the corridors."
        for i, room in enumerate(rooms)
    ]
    return "# Office handbook\n\n" + "\n\n".join(paragraphs) + (f"\n\n{extra}\n" if extra else "")


@pytest.mark.parametrize("index_engine", ["local", "edge"])
def test_a_sync_killed_mid_write_leaves_the_old_version_whole(
    tmp_path: Path, index_engine: str
) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    (docs / "handbook.md").write_text(_handbook())
    (docs / "parking.md").write_text("# Parking\n\nStaff park on level two of the garage.\n")
    kb = KnowledgeBase.open(make_settings(data, index_engine=index_engine))
    try:
        kb.ingest([docs], progress=False)
        origin = kb.folder_source(docs).config.id
        before = kb.index.documents(origin)["handbook.md"]
        assert before.chunks >= 3
    finally:
        kb.close()

    (docs / "handbook.md").write_text(_handbook(NEW_FACT))
    child = subprocess.run(
        [sys.executable, "-c", DIE_AFTER_FIRST_BATCH, str(docs)],
        env={
            **os.environ,
            "SUPPORTBOT_DATA_DIR": str(data),
            "SUPPORTBOT_INDEX_ENGINE": index_engine,
            "SUPPORTBOT_CONFIG": "/dev/null",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == 137, child.stderr[-2000:]

    kb = KnowledgeBase.open(make_settings(data, index_engine=index_engine))
    try:
        assert kb.index.pending_count() >= 1  # the dead run's first point is there, unpublished
        assert kb.index.documents(origin)["handbook.md"] == before  # the old version, whole
        texts = [c.text for c in kb.index.all_chunks()]
        assert not any("zorblax" in t for t in texts)
        for audience in ("public", "internal"):
            hits = kb.retrieve(QUESTION, audience=audience, limit=10).hits
            assert hits and not any("zorblax" in h.chunk.text for h in hits)
            assert {h.chunk.doc_hash for h in hits if h.chunk.doc_id == "handbook.md"} <= {
                before.doc_hash
            }

        report = kb.ingest([docs], progress=False)  # the next sync completes the work
        assert report.sources[0].changed == ["handbook.md"]
        after = kb.index.documents(origin)["handbook.md"]
        assert after.doc_hash != before.doc_hash
        assert kb.index.pending_count() == 0
        visible = [c for c in kb.index.all_chunks() if c.doc_id == "handbook.md"]
        assert len(visible) == after.chunks and {c.doc_hash for c in visible} == {after.doc_hash}
        hits = kb.retrieve(QUESTION, audience="public", limit=3).hits
        assert any("zorblax" in h.chunk.text for h in hits)
    finally:
        kb.close()
