"""Qdrant Edge as the embedded index (``index_engine = "edge"``, :mod:`knowledge.edge`).

The same knowledge base ingested into local mode and into Edge retrieves the same chunks in
the same order with the same fused scores (so the dev-set figures carry over; the README gives
them), internal chunks never reach a public search, a second process is refused the folder,
the collection metadata (calibration, vocabulary) survives a restart, a quantised Edge index
answers as the exact one, and ``index migrate --engine`` moves an index between the engines
without re-embedding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import models as qm
from typer.testing import CliRunner

from bot.cli import app
from knowledge.base import KnowledgeBase
from knowledge.edge import EdgeClient
from knowledge.index import DENSE, SENTENCES, IndexLockedError
from tests.conftest import INTERNAL_QUESTION, KB, PUBLIC_QUESTION, make_settings

runner = CliRunner()
ASKED = (
    (PUBLIC_QUESTION, "public"),
    (INTERNAL_QUESTION, "internal"),
    (INTERNAL_QUESTION, "public"),
    ("shipping costs for international orders", "public"),
    ("and for part-timers?", "internal"),
)


def _ingest(data_dir: Path, **overrides: object) -> KnowledgeBase:
    kb = KnowledgeBase.open(make_settings(data_dir, **overrides))
    kb.ingest([KB / "public"], audience="public", progress=False)
    kb.ingest([KB / "internal"], audience="internal", progress=False)
    return kb


Results = list[list[tuple[str, float, float, float | None, str]]]
Both = tuple[Results, Results, KnowledgeBase]


def _results(kb: KnowledgeBase) -> Results:
    """Per question: each hit's chunk id, fused score, similarity, sentence similarity and
    audience."""
    out = []
    for question, audience in ASKED:
        hits = kb.retrieve(
            question, audience=audience, limit=8, context="returns" if "?" in question else None
        ).hits
        out.append(
            [
                (h.chunk.chunk_id, h.score, h.similarity, h.sentence_similarity, h.chunk.audience)
                for h in hits
            ]
        )
    return out


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    """The results of local mode, those of Edge, and the open Edge knowledge base."""
    local = _ingest(tmp_path_factory.mktemp("local"), index_engine="local")
    try:
        local_results = _results(local)
    finally:
        local.close()
    edge = _ingest(tmp_path_factory.mktemp("edge"), index_engine="edge")
    yield local_results, _results(edge), edge
    edge.close()


def test_edge_retrieves_as_local_mode(both: Both) -> None:
    local, edge, kb = both
    assert isinstance(kb.client, EdgeClient) and kb.local_dense is None  # no in-memory copies
    assert sum(len(hits) for hits in edge) > 10
    for ours, theirs in zip(edge, local, strict=True):
        assert [h[0] for h in ours] == [h[0] for h in theirs]
        for a, b in zip(ours, theirs, strict=True):
            assert a[1:4] == pytest.approx(b[1:4], abs=1e-4)


def test_edge_keeps_internal_chunks_from_public_searches(
    both: Both,
) -> None:
    _, edge, _ = both
    for (_, audience), hits in zip(ASKED, edge, strict=True):
        if audience == "public":
            assert hits and {h[4] for h in hits} == {"public"}
    assert "internal" in {h[4] for h in edge[1]}  # the internal question finds internal chunks


def test_edge_folder_is_held_by_one_process_and_keeps_its_metadata(tmp_path: Path) -> None:
    kb = _ingest(tmp_path, index_engine="edge")
    calibrations, count = kb.calibrations, kb.index.count()
    try:
        with pytest.raises(IndexLockedError, match="in use by another"):
            KnowledgeBase.open(make_settings(tmp_path, index_engine="edge"))
    finally:
        kb.close()
    again = KnowledgeBase.open(make_settings(tmp_path, index_engine="edge"))
    try:
        assert again.index.count() == count > 0
        assert again.calibrations == calibrations and again.calibrations
        assert again.retrieve(PUBLIC_QUESTION, audience="public", limit=1).hits
    finally:
        again.close()


def test_quantised_edge_index_answers_as_the_exact_one(tmp_path: Path, both: Both) -> None:
    _, exact, _ = both
    kb = _ingest(tmp_path, index_engine="edge", qdrant_quantization="int8")
    try:
        assert kb.client.get_collection(kb.settings.collection).config.params.vectors
        quantised = _results(kb)
    finally:
        kb.close()
    for ours, theirs in zip(quantised, exact, strict=True):
        assert [h[0] for h in ours] == [h[0] for h in theirs]


def test_sentence_rescore_index_has_no_sentence_graph_and_answers_as_local_mode(
    tmp_path: Path,
) -> None:
    """With ``sentence_rescore`` the sentence vectors only re-score candidates: Edge builds no
    graph and no int8 copy of them (the largest part of a big index), and still returns what
    local mode's exact MaxSim re-scoring returns, scores included."""
    local = _ingest(tmp_path / "local", index_engine="local", sentence_rescore=True)
    try:
        expected = _results(local)
    finally:
        local.close()
    kb = _ingest(
        tmp_path / "edge", index_engine="edge", sentence_rescore=True, qdrant_quantization="int8"
    )
    try:
        vectors = kb.client.get_collection(kb.settings.collection).config.params.vectors
        assert isinstance(vectors, dict)
        sentences, dense = vectors[SENTENCES], vectors[DENSE]
        assert sentences.hnsw_config is not None and sentences.hnsw_config.m == 0
        assert sentences.quantization_config is None
        assert isinstance(dense.quantization_config, qm.ScalarQuantization)
        assert dense.hnsw_config is None
        got = _results(kb)
    finally:
        kb.close()
    assert sum(len(hits) for hits in got) > 10
    for ours, theirs in zip(got, expected, strict=True):
        assert [h[0] for h in ours] == [h[0] for h in theirs]
        for a, b in zip(ours, theirs, strict=True):
            assert a[1:4] == pytest.approx(b[1:4], abs=1e-4)


def test_sentence_vectors_stored_as_turbo8_answer_as_float32(tmp_path: Path) -> None:
    """``sentence_datatype = "turbo8"``: Edge stores the sentence vectors as TurboQuant 8-bit
    codes (a quarter of the bytes) and the sample's questions get the same chunks, in the
    same order, with sentence similarities within 0.01 of float32's."""
    plain = _ingest(tmp_path / "f32", index_engine="edge", sentence_rescore=True)
    try:
        expected = _results(plain)
    finally:
        plain.close()
    kb = _ingest(
        tmp_path / "t8", index_engine="edge", sentence_rescore=True, sentence_datatype="turbo8"
    )
    try:
        vectors = kb.client.get_collection(kb.settings.collection).config.params.vectors
        assert isinstance(vectors, dict)
        assert vectors[SENTENCES].datatype == qm.Datatype.TURBO8
        assert vectors[DENSE].datatype is None
        got = _results(kb)
    finally:
        kb.close()
    codes = list((tmp_path / "t8").rglob("vector_storage-sentences/tq_vectors"))
    assert codes, "no TurboQuant storage was written"
    assert sum(len(hits) for hits in got) > 10
    for ours, theirs in zip(got, expected, strict=True):
        assert [h[0] for h in ours] == [h[0] for h in theirs]
        for a, b in zip(ours, theirs, strict=True):
            assert a[3] is not None and b[3] is not None
            assert a[3] == pytest.approx(b[3], abs=0.01)


def test_index_migrates_between_engines_without_reembedding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    kb = _ingest(source, index_engine="local")
    try:
        before, metadata = _results(kb), kb.index.metadata()
    finally:
        kb.close()
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(source))
    monkeypatch.setenv("SUPPORTBOT_INDEX_ENGINE", "local")
    moved = runner.invoke(app, ["index", "migrate", "--to", str(target), "--engine", "edge"])
    assert moved.exit_code == 0, moved.output
    assert "SUPPORTBOT_INDEX_ENGINE=edge" in moved.output
    assert (target / "edge").is_dir() and not (target / "qdrant").exists()
    wrong = runner.invoke(app, ["index", "migrate", "--to", str(target), "--engine", "chroma"])
    assert wrong.exit_code == 1 and "--engine" in wrong.output
    edge = KnowledgeBase.open(make_settings(target, index_engine="edge"))
    try:
        assert isinstance(edge.client, EdgeClient)
        assert edge.index.metadata() == metadata
        after = _results(edge)
    finally:
        edge.close()
    for ours, theirs in zip(after, before, strict=True):
        assert [h[0] for h in ours] == [h[0] for h in theirs]
        assert [h[1] for h in ours] == pytest.approx([h[1] for h in theirs], abs=1e-4)


def test_auto_is_edge_but_keeps_an_earlier_local_mode_index_until_it_is_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = make_settings(tmp_path / "fresh")
    assert fresh.index_engine == "auto" and fresh.engine == "edge"
    assert fresh.qdrant_path == tmp_path / "fresh" / "edge"

    data = tmp_path / "data"
    kb = _ingest(data, index_engine="local")  # what an earlier version built by default
    try:
        before = _results(kb)
    finally:
        kb.close()
    kb = KnowledgeBase.open(make_settings(data))  # auto: the local-mode index is used
    try:
        assert kb.settings.engine == "local" and not isinstance(kb.client, EdgeClient)
        assert _results(kb) == before
    finally:
        kb.close()

    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data))
    moved = runner.invoke(app, ["index", "migrate", "--to", str(data), "--engine", "edge"])
    assert moved.exit_code == 0, moved.output
    kb = KnowledgeBase.open(make_settings(data))  # auto: now Edge, beside the old folder
    try:
        assert kb.settings.engine == "edge" and isinstance(kb.client, EdgeClient)
        after = _results(kb)
    finally:
        kb.close()
    for ours, theirs in zip(after, before, strict=True):
        assert [h[0] for h in ours] == [h[0] for h in theirs]
