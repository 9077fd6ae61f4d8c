"""The Qdrant collection: local-mode search shortcuts score exactly as Qdrant itself does, and a
collection made before sentence vectors asks for ``ingest --rebuild``, which repairs it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from typer.testing import CliRunner

from bot.cli import app
from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from knowledge.base import KnowledgeBase
from knowledge.index import DENSE, SENTENCES, SPARSE
from knowledge.retrieval import FusionName, Retriever, _sparse, audience_filter
from tests.conftest import INTERNAL_QUESTION, KB, PUBLIC_QUESTION, make_settings

QUESTIONS = (PUBLIC_QUESTION, INTERNAL_QUESTION, "shipping costs for international orders")


@pytest.fixture(scope="module")
def local_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupportEngine]:
    """tests/data/kb in qdrant-client's local mode (``index_engine = "local"``), the engine
    whose in-memory copies these tests check against its own Query API."""
    engine = SupportEngine.from_settings(
        make_settings(tmp_path_factory.mktemp("local-mode"), index_engine="local")
    )
    engine.kb.ingest([KB / "public"], audience="public", progress=False)
    engine.kb.ingest([KB / "internal"], audience="internal", progress=False)
    yield engine
    engine.close()


def _queries(kb: KnowledgeBase, using: str, question: str) -> tuple[Any, Any, Any]:
    """(the local copy for ``using``, its query, the same query for Qdrant)."""
    if using == SPARSE:
        sparse = kb.sparse.encode_query(question)
        return kb.local_sparse, sparse, _sparse(sparse)
    vector = kb.embedder.embed([question])[0]
    if using == DENSE:
        return kb.local_dense, vector, vector.tolist()
    return kb.local_sentences, vector, [vector.tolist()]  # a multivector of one vector


@pytest.mark.parametrize("using", [DENSE, SENTENCES, SPARSE])
@pytest.mark.parametrize("audience", ["public", "internal"])
def test_local_copies_rank_and_score_as_qdrant_search(
    local_engine: SupportEngine, using: str, audience: str
) -> None:
    kb = local_engine.kb
    # BM25 scores are sums of larger numbers than cosines: a relative tolerance.
    tolerance = {"rel": 1e-4} if using == SPARSE else {"abs": 1e-5}
    found = 0
    for question in QUESTIONS:
        copy, ours_query, qdrant_query = _queries(kb, using, question)
        assert copy is not None and copy.n_points == kb.index.count()
        ours = copy.search(ours_query, audience=audience, limit=8)
        theirs = kb.client.query_points(
            kb.settings.collection,
            query=qdrant_query,
            using=using,
            query_filter=audience_filter(audience),
            limit=8,
        ).points
        found += len(ours)
        assert [p.id for p in ours] == [p.id for p in theirs]
        assert [p.score for p in ours] == pytest.approx([p.score for p in theirs], **tolerance)
    assert found  # the comparison was not between two empty lists


def test_a_collection_without_sentence_vectors_asks_for_rebuild_which_repairs_it(
    tmp_path: Path,
) -> None:
    # The schema of earlier versions, in the local mode they used: 'auto' keeps using it.
    settings = make_settings(tmp_path / "data")
    (tmp_path / "data" / "qdrant").mkdir(parents=True)
    assert settings.engine == "local"
    old = QdrantClient(path=str(settings.qdrant_path))
    old.create_collection(  # the schema of earlier versions: dense + sparse only
        settings.collection,
        vectors_config={DENSE: qm.VectorParams(size=384, distance=qm.Distance.COSINE)},
        sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
    )
    old.close()
    env = {"SUPPORTBOT_DATA_DIR": str(settings.data_dir), "COLUMNS": "200"}

    refused = CliRunner().invoke(app, ["ingest", str(KB / "public")], env=env)
    assert refused.exit_code == 1
    assert "without sentence vectors" in refused.output and "--rebuild" in refused.output

    rebuilt = CliRunner().invoke(app, ["ingest", "--rebuild", str(KB / "public")], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    store = FeedbackStore(f"sqlite:///{settings.data_dir / 'feedback.db'}")
    try:  # the ingest records its document inventory for the review console
        inventory = asyncio.run(store.documents())
    finally:
        store.close()
    files = sorted(p.name for p in (KB / "public").iterdir() if p.is_file())
    assert sorted(d.doc_id for _, d in inventory) == files
    engine = SupportEngine.from_settings(settings)
    try:
        assert engine.kb.index.count() > 0
        assert engine.kb.local_sentences is not None
        assert engine.kb.local_sentences.n_points == engine.kb.index.count()
    finally:
        engine.close()


@pytest.mark.parametrize("fusion", ["dbsf", "rrf"])
def test_local_mode_shortcuts_rank_as_the_query_api_a_qdrant_server_runs(
    local_engine: SupportEngine, fusion: FusionName
) -> None:
    # Without the in-memory copies the retriever sends one Query API call with three prefetches
    # and Qdrant's fusion: the path a Qdrant server takes (here executed by qdrant-client's local
    # mode, which implements the same API).
    kb = local_engine.kb
    shortcut = kb.make_retriever(fusion=fusion)
    query_api = Retriever(
        kb.client,
        kb.settings.collection,
        kb.embedder,
        kb.sparse,
        fusion=fusion,
        sentences=True,
    )
    assert shortcut.local_sparse is not None and shortcut.local_sentences is not None
    for question in QUESTIONS:
        for audience in ("public", "internal"):
            ours = shortcut.retrieve(question, audience=audience, limit=6).hits
            theirs = query_api.retrieve(question, audience=audience, limit=6).hits
            assert [h.chunk.chunk_id for h in ours] == [h.chunk.chunk_id for h in theirs]
            assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=1e-4)
            # The sentence-level support abstention uses: the server path computes it from the
            # multivectors the Query API returns, local mode from its matrix copy.
            assert all(h.sentence_similarity is not None for h in theirs)
            assert [h.support for h in ours] == pytest.approx([h.support for h in theirs], abs=1e-4)
