"""The scale benchmark's engines on a tiny synthetic corpus: both report every figure, and
exact searches through local mode and through Qdrant Edge return the same chunks (so the
benchmark compares like with like)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.cli import app
from knowledge import scale_bench as sb

N = 400
runner = CliRunner()


def test_both_engines_report_every_figure(tmp_path: Path) -> None:
    keys = {"upsert_per_s", "build_s", "startup_s", "query_ms_p50", "query_ms_p95", "disk_mb",
            "peak_rss_mb", "index_rss_mb"}  # fmt: skip
    local = sb.run_one("local", N, tmp_path)
    edge = sb.run_one("edge", N, tmp_path)
    assert keys <= set(local) and keys <= set(edge)
    assert local["chunks"] == edge["chunks"] == N
    assert 0.5 <= edge["recall_at_10_vs_exact"] <= 1.0
    assert not (tmp_path / f"local-{N}").exists()  # the indexes are removed afterwards


def test_exact_search_agrees_across_engines(tmp_path: Path) -> None:
    local, edge = sb.LocalEngine(tmp_path / "l"), sb.EdgeEngine(tmp_path / "e")
    for engine in (local, edge):
        engine.create()
        for batch in sb.corpus(N):
            engine.upsert(batch)
        engine.finish()
        engine.close()
        engine.open()
    queries = sb.queries(N)[:40]
    overlap = [
        len(set(local.query(*q)) & set(edge.query(*q, exact=True))) / sb.LIMIT for q in queries
    ]
    # Not 1.0: DBSF normalises each list by its score spread, so near-tied synthetic chunks
    # can swap places at the 10th rank between numpy's and Qdrant's float arithmetic
    # (0.9475-0.9575 over five runs here). A wrong filter, fusion or vector would be far lower.
    assert float(np.mean(overlap)) >= 0.9
    # And only public chunks come back (the audience filter holds in both engines).
    audience = {c.point_id: c.payload["audience"] for batch in sb.corpus(N) for c in batch}
    for q in queries:
        assert {audience[i] for i in local.query(*q) + edge.query(*q)} == {"public"}
    local.close()
    edge.close()


def test_edge_rerank_reports_every_figure(tmp_path: Path) -> None:
    """The design the README recommends at scale (sentence_rescore): no sentence graph or
    int8 copy, and only public chunks come back."""
    figures = sb.run_one("edge-rerank", N, tmp_path)
    assert figures["engine"] == "edge-rerank" and figures["chunks"] == N
    assert figures["query_ms_p50"] > 0 and 0.0 <= figures["recall_at_10_vs_exact"] <= 1.0


def test_the_worker_anonymous_memory_is_sampled() -> None:
    """A child that holds 200 MiB of anonymous memory for a second is seen doing so."""
    code = (
        "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1)"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    (_, err), peak = sb.watch_anon_memory(worker, every_s=0.05)
    assert worker.returncode == 0, err
    assert peak is not None and 200 <= peak < 400


def test_memory_cgroup_writes_the_limit_for_either_cgroup_version(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    procs = sb.memory_cgroup(6144, root=v2)
    assert procs.name == "cgroup.procs" and procs.parent.parent == v2
    assert (procs.parent / "memory.max").read_text() == str(6144 * 2**20)
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    procs = sb.memory_cgroup(512, root=v1)
    assert procs.parent.parent == v1 / "memory"
    assert (procs.parent / "memory.limit_in_bytes").read_text() == str(512 * 2**20)


def test_memory_cgroup_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(sb.MemoryLimitError, match="needs Linux cgroups and root"):
        sb.memory_cgroup(512, root=tmp_path / "no-such-cgroup-fs")


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["bench", "--scale", "--sizes", "10", "--engines", "edge,chroma", "--out", str(tmp_path)],
    )
    assert result.exit_code != 0
    assert "unknown engine 'chroma'" in result.output
    result = runner.invoke(
        app, ["bench", "--scale", "--engines", "local:turbo8", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0 and "local mode has none" in result.output


def test_a_sentence_datatype_is_part_of_the_engine_name(tmp_path: Path) -> None:
    """``edge-rerank:turbo8`` stores the sentence vectors as TurboQuant 8-bit codes (388 B
    each instead of 1,536), and still finds what the float32 shard finds."""
    assert sb.parse_engine("edge-rerank:turbo8") == ("edge-rerank", "turbo8")
    assert sb.parse_engine("edge") == ("edge", "float32")
    shards = {}
    for datatype in ("float32", "turbo8"):
        engine = sb.EdgeEngine(
            tmp_path / datatype, sentence_graph=False, sentence_datatype=datatype
        )
        engine.create()
        for batch in sb.corpus(N):
            engine.upsert(batch)
        engine.finish()
        shards[datatype] = engine
    storage = {
        d: {p.parent.name for p in (tmp_path / d).rglob("vector_storage-sentences/*/config.json")}
        for d in shards
    }
    assert "tq_vectors" in storage["turbo8"] and "tq_vectors" not in storage["float32"]
    queries = sb.queries(N)[:40]
    overlap = [
        len(set(shards["float32"].query(*q)) & set(shards["turbo8"].query(*q))) / sb.LIMIT
        for q in queries
    ]
    assert float(np.mean(overlap)) >= 0.9
    row = sb.run_one("edge-rerank:turbo8", N, tmp_path)
    assert row["engine"] == "edge-rerank:turbo8" and row["query_ms_p50"] > 0


def test_a_run_merges_into_an_earlier_report() -> None:
    earlier = [
        {"engine": "edge", "chunks": 10, "query_ms_p50": 1.0},
        {"engine": "edge-rerank", "chunks": 1000, "query_ms_p50": 9.0},
    ]
    new = [
        {"engine": "edge-rerank", "chunks": 10, "query_ms_p50": 2.0},
        {"engine": "edge", "chunks": 10, "query_ms_p50": 3.0},
    ]
    merged = sb.merge_rows(earlier, new)
    assert [(r["engine"], r["chunks"], r["query_ms_p50"]) for r in merged] == [
        ("edge", 10, 3.0),
        ("edge-rerank", 10, 2.0),
        ("edge-rerank", 1000, 9.0),
    ]
