"""``supportbot index migrate``: an index moved to another Qdrant retrieves, calibrates and
serves verified answers as the source did, with nothing re-embedded; a target that holds data
is refused unless ``--replace``; the server layout is a request Qdrant's API schema accepts.

The target here is a local-mode folder: no Qdrant server can be installed on the development
machine. The copy goes through the same qdrant-client calls a server target gets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from qdrant_client import models as qm
from typer.testing import CliRunner

from bot.cli import app
from bot.memory import AnswerMemory, VerifiedAnswer, memory_collection
from knowledge.base import KnowledgeBase
from knowledge.index import DENSE, SENTENCES, ServerLayout
from knowledge.transfer import MigrationError
from tests.conftest import INTERNAL_QUESTION, KB, PUBLIC_QUESTION, make_settings

runner = CliRunner()
ASKED = (
    (PUBLIC_QUESTION, "public"),
    (INTERNAL_QUESTION, "internal"),
    ("shipping costs for international orders", "public"),
)


def _answers(kb: KnowledgeBase) -> dict[str, list[tuple[str, float]]]:
    """Per question, the retrieved chunk ids with their fused scores."""
    return {
        q: [(h.chunk.chunk_id, h.score) for h in kb.retrieve(q, audience=a, limit=8).hits]
        for q, a in ASKED
    }


def test_a_migrated_index_answers_as_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    kb = KnowledgeBase.open(make_settings(source_dir))
    try:
        kb.ingest([KB / "public"], audience="public", progress=False)
        kb.ingest([KB / "internal"], audience="internal", progress=False)
        before = _answers(kb)
        metadata, chunks, calibrations = kb.index.metadata(), kb.index.count(), kb.calibrations
        hit = kb.retrieve(PUBLIC_QUESTION, audience="public", limit=1).hits[0]
        memory = AnswerMemory(kb.index, kb.embedder)
        verified = VerifiedAnswer(
            "a1", PUBLIC_QUESTION, "30 days [1]", (hit.chunk.chunk_id,), "public", "lead"
        )
        memory.refresh([verified])
    finally:
        kb.close()
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(source_dir))

    itself = runner.invoke(app, ["index", "migrate", "--to", str(source_dir)])
    assert itself.exit_code == 1 and "the configured index itself" in itself.output
    moved = runner.invoke(app, ["index", "migrate", "--to", str(target_dir)])
    assert moved.exit_code == 0, moved.output
    assert f"supportbot: {chunks} points" in moved.output
    assert f"{memory_collection('supportbot')}: 1 points" in moved.output
    assert f"SUPPORTBOT_DATA_DIR={target_dir}" in moved.output
    refused = runner.invoke(app, ["index", "migrate", "--to", str(target_dir)])
    # A KnowledgeError: the entry point (bot.cli.main) shows it as one line, exit code 1.
    assert isinstance(refused.exception, MigrationError) and "--replace" in str(refused.exception)
    again = runner.invoke(app, ["index", "migrate", "--to", str(target_dir), "--replace"])
    assert again.exit_code == 0, again.output

    moved_kb = KnowledgeBase.open(make_settings(target_dir))
    try:
        assert moved_kb.index.count() == chunks
        # Calibration, vocabulary and boilerplate came along: nothing was recalibrated.
        assert moved_kb.index.metadata() == metadata
        assert moved_kb.calibrations == calibrations
        after = _answers(moved_kb)
        for question, hits in before.items():
            assert hits, question
            assert [c for c, _ in after[question]] == [c for c, _ in hits]
            assert [s for _, s in after[question]] == pytest.approx([s for _, s in hits])
        served = AnswerMemory(moved_kb.index, moved_kb.embedder).lookup(PUBLIC_QUESTION, "public")
        assert served is not None and served.entry.text == "30 days [1]"
        assert [c.chunk_id for c in served.chunks] == [hit.chunk.chunk_id]
    finally:
        moved_kb.close()


def test_an_empty_source_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "empty"))
    result = runner.invoke(app, ["index", "migrate", "--to", str(tmp_path / "target")])
    assert isinstance(result.exception, MigrationError)
    assert "nothing to migrate" in str(result.exception)


def test_the_server_layout_is_a_valid_create_collection_request(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        qdrant_shards=6,
        qdrant_replicas=2,
        qdrant_write_consistency=2,
        qdrant_on_disk=True,
        qdrant_quantization="int8",
    )
    layout = ServerLayout.from_settings(settings)
    dense = qm.VectorParams(size=384, distance=qm.Distance.COSINE)
    sentences = dense.model_copy(
        update={
            "multivector_config": qm.MultiVectorConfig(comparator=qm.MultiVectorComparator.MAX_SIM)
        }
    )
    # Qdrant's REST schema (extra fields forbidden): a misspelt parameter fails here.
    body = qm.CreateCollection(
        vectors={
            DENSE: layout.vector_params(DENSE, dense),
            SENTENCES: layout.vector_params(SENTENCES, sentences),
        },
        **layout.collection_kwargs(),
    )
    assert (body.shard_number, body.replication_factor, body.write_consistency_factor) == (6, 2, 2)
    assert body.on_disk_payload is True
    assert isinstance(body.vectors, dict)
    assert all(v.on_disk for v in body.vectors.values())
    assert body.vectors[SENTENCES].multivector_config is not None
    for params in body.vectors.values():  # set per vector (see ServerLayout.vector_params)
        quantization = params.quantization_config
        assert isinstance(quantization, qm.ScalarQuantization)
        assert quantization.scalar.type == qm.ScalarType.INT8 and quantization.scalar.always_ram
        assert params.hnsw_config is None
    assert ServerLayout().vector_params(DENSE, dense).quantization_config is None
    # sentence_rescore: the sentence vectors only re-score candidates, so no graph, no copy.
    rescoring = ServerLayout.from_settings(
        make_settings(tmp_path, qdrant_quantization="int8", sentence_rescore=True)
    )
    plain = qm.CreateCollection(
        vectors={
            DENSE: rescoring.vector_params(DENSE, dense),
            SENTENCES: rescoring.vector_params(SENTENCES, sentences),
        }
    )
    assert isinstance(plain.vectors, dict)
    assert isinstance(plain.vectors[DENSE].quantization_config, qm.ScalarQuantization)
    no_graph = plain.vectors[SENTENCES]
    assert no_graph.quantization_config is None
    assert no_graph.hnsw_config is not None and no_graph.hnsw_config.m == 0
    assert no_graph.datatype is None and plain.vectors[DENSE].datatype is None
    # sentence_datatype: only the sentence vectors (most of the bytes) change storage type.
    turbo = ServerLayout.from_settings(make_settings(tmp_path, sentence_datatype="turbo8"))
    request = qm.CreateCollection(
        vectors={
            DENSE: turbo.vector_params(DENSE, dense),
            SENTENCES: turbo.vector_params(SENTENCES, sentences),
        }
    ).model_dump(mode="json", exclude_none=True)
    assert request["vectors"][SENTENCES]["datatype"] == "turbo8"
    assert "datatype" not in request["vectors"][DENSE]

    with pytest.raises(ValidationError, match="exceeds qdrant_replicas"):
        make_settings(tmp_path, qdrant_replicas=1, qdrant_write_consistency=2)
