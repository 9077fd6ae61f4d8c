"""The Qdrant collection: local-mode search shortcuts score exactly as Qdrant itself does, and a
collection made before sentence vectors asks for ``ingest --rebuild``, which repairs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from typer.testing import CliRunner

from bot.cli import app
from bot.engine import SupportEngine
from knowledge.index import DENSE, SENTENCES, SPARSE
from knowledge.retrieval import FusionName, Retriever, _sparse, audience_filter
from tests.conftest import INTERNAL_QUESTION, KB, PUBLIC_QUESTION, make_settings

QUESTIONS = (PUBLIC_QUESTION, INTERNAL_QUESTION, "shipping costs for international orders")


@pytest.mark.parametrize("audience", ["public", "internal"])
def test_local_sentence_maxsim_ranks_and_scores_as_qdrant_multivector_search(
    kb_engine: SupportEngine, audience: str
) -> None:
    kb = kb_engine.kb
    assert kb.local_sentences is not None
    assert kb.local_sentences.n_points == kb.index.count()
    for question in QUESTIONS:
        vector = kb.embedder.embed([question])[0]
        ours = kb.local_sentences.search(vector, audience=audience, limit=8)
        theirs = kb.client.query_points(
            kb.settings.collection,
            query=[vector.tolist()],
            using=SENTENCES,
            query_filter=audience_filter(audience),
            limit=8,
        ).points
        assert [p.id for p in ours] == [p.id for p in theirs]
        assert [p.score for p in ours] == pytest.approx([p.score for p in theirs], abs=1e-5)


@pytest.mark.parametrize("audience", ["public", "internal"])
def test_local_sparse_bm25_ranks_and_scores_as_qdrant_sparse_search(
    kb_engine: SupportEngine, audience: str
) -> None:
    kb = kb_engine.kb
    assert kb.local_sparse is not None
    found = 0
    for question in QUESTIONS:
        query = kb.sparse.encode_query(question)
        ours = kb.local_sparse.search(query, audience=audience, limit=8)
        theirs = kb.client.query_points(
            kb.settings.collection,
            query=_sparse(query),
            using=SPARSE,
            query_filter=audience_filter(audience),
            limit=8,
        ).points
        found += len(ours)
        assert [p.id for p in ours] == [p.id for p in theirs]
        assert [p.score for p in ours] == pytest.approx([p.score for p in theirs], rel=1e-4)
    assert found  # the comparison was not between two empty lists


def test_a_collection_without_sentence_vectors_asks_for_rebuild_which_repairs_it(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data")
    settings.qdrant_path.mkdir(parents=True)
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
    engine = SupportEngine.from_settings(settings)
    try:
        assert engine.kb.index.count() > 0
        assert engine.kb.local_sentences is not None
        assert engine.kb.local_sentences.n_points == engine.kb.index.count()
    finally:
        engine.close()


@pytest.mark.parametrize("fusion", ["dbsf", "rrf"])
def test_local_mode_shortcuts_rank_as_the_query_api_a_qdrant_server_runs(
    kb_engine: SupportEngine, fusion: FusionName
) -> None:
    # Without the in-memory copies the retriever sends one Query API call with three prefetches
    # and Qdrant's fusion: the path a Qdrant server takes (here executed by qdrant-client's local
    # mode, which implements the same API).
    kb = kb_engine.kb
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
