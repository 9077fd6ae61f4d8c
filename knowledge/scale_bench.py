"""The cost curve of the embedded index: ``supportbot bench --scale``.

For each engine and corpus size it reports upsert throughput, the time to open an existing
index and answer a first query (start-up), hybrid retrieval latency p50/p95 (the query
vectors given, so without the query embedding; add the embedding's p50 from
``scripts/quantize_bench.py``, 14 ms here), peak RSS, and the index size on disk.

Engines:

* ``local``: the product's earlier embedded default (``index_engine = "local"``):
  qdrant-client's local mode holding the points, and the product's own in-memory copies
  (:mod:`knowledge.local_sparse`, :mod:`knowledge.local_vectors`) answering the query through
  :meth:`knowledge.retrieval.Retriever._search_local` (dense + sentence MaxSim + sparse
  prefetches, the audience filter, DBSF fusion).
* ``edge``: Qdrant Edge (``qdrant-edge-py``, the Qdrant engine in-process, beta; pinned in
  the dev extras), the same three prefetches fused by DBSF inside the engine, HNSW on both
  dense vectors, int8 scalar quantisation, the sparse vectors with the IDF modifier, and a
  keyword index on ``audience``. Its recall@10 against an exact search of the same shard is
  reported too (how much HNSW and quantisation lose).
* ``edge-rerank`` (not run by default; ``--engines edge-rerank``): the product with
  ``sentence_rescore``: as ``edge``, but the sentence vectors have no graph and no int8 copy,
  and their list is the dense and sparse candidates re-scored by MaxSim (a nested prefetch).
  Its recall@10 is against the same design searched exactly (exact dense and sparse
  candidates, re-scored the same way), so it too counts only what HNSW and quantisation lose.
  (Against the exact three-list result it would also count what the design changes, which the
  dev sets measure instead; and that exact search reads every sentence vector, ~9 GB per query
  at 1M.)

An Edge engine's name may end in ``:DATATYPE`` (``edge-rerank:turbo8``, ``edge:float16``): its
sentence vectors are then stored as that Qdrant datatype (the ``sentence_datatype`` setting;
see :data:`DATATYPES`), so that one run compares them.

The corpus is synthetic but shaped like a real one: 384-d unit vectors clustered around 256
topic centres, 3–9 sentence vectors per chunk near the chunk's vector, ~70 sparse terms per
chunk drawn from a Zipf distribution over 30,000 term ids, and the payload a real chunk has
(ids, title, ~900 characters of text, page, audience with 10 % internal). Queries are noisy
copies of chunks (their vector, five of their terms), asked as the public audience. Vectors
are synthetic so that a million chunks need no hours of embedding; answer quality is measured
on the real dev sets by ``supportbot eval``, not here.

Each (engine, size) runs in its own process, so peak RSS is that run's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from knowledge.edge import (
    DENSE_EF,
    FULL_SCAN_THRESHOLD,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    OVERSAMPLING,
    SENTENCE_EF,
)

DIM = 384
TOPICS = 256
VOCAB = 30_000
TERMS_PER_CHUNK = 70
CANDIDATES = 40  # per prefetch, as the retriever's default
LIMIT = 10
QUERIES = 200
BATCH = 512
LOCAL_MAX = 30_000
"""Largest corpus the local engine is run at by default: local mode keeps every vector in
Python objects (1.9 GB of RSS per 10k chunks measured), so 100k would need ~19 GB."""
ENGINES = ("local", "edge")
"""The engines run by default."""
ALL_ENGINES = ("local", "edge", "edge-rerank")
DATATYPES = ("float32", "float16", "turbo8")
"""Sentence-vector datatypes an Edge engine's name may end in (``edge-rerank:turbo8``)."""


def parse_engine(spec: str) -> tuple[str, str]:
    """``"edge-rerank:turbo8"`` → ``("edge-rerank", "turbo8")``; no suffix means float32.

    Raises:
        ValueError: an engine not in :data:`ALL_ENGINES`, a datatype not in :data:`DATATYPES`,
            or a datatype on the ``local`` engine (local mode stores float32 only).
    """
    name, _, datatype = spec.partition(":")
    if name not in ALL_ENGINES:
        raise ValueError(f"unknown engine {name!r}; one of {', '.join(ALL_ENGINES)}")
    if datatype and (name == "local" or datatype not in DATATYPES):
        raise ValueError(
            f"{spec!r}: an Edge engine's sentence datatype is one of {', '.join(DATATYPES)} "
            "(local mode has none)"
        )
    return name, datatype or "float32"


@dataclass(frozen=True)
class SyntheticChunk:
    """One generated chunk: its id, vectors, sparse terms and payload."""

    point_id: str
    dense: NDArray[np.float32]
    sentences: NDArray[np.float32]
    terms: NDArray[np.int64]
    weights: NDArray[np.float32]
    payload: dict[str, Any]


def _unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def corpus(n: int, seed: int = 7) -> Iterator[list[SyntheticChunk]]:
    """``n`` synthetic chunks in batches of :data:`BATCH`, the same for a given seed."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(TOPICS, DIM)).astype(np.float32))
    ranks = np.arange(1, VOCAB + 1)
    zipf = (1.0 / ranks) / np.sum(1.0 / ranks)
    words = [
        "benefit",
        "plan",
        "claim",
        "leave",
        "policy",
        "employee",
        "coverage",
        "deductible",
        "network",
        "provider",
    ]
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        topic = rng.integers(0, TOPICS, size)
        dense = _unit(centres[topic] + 0.6 * rng.normal(size=(size, DIM)).astype(np.float32))
        batch = []
        for i in range(size):
            k = int(rng.integers(3, 10))
            sents = _unit(dense[i] + 0.5 * rng.normal(size=(k, DIM)).astype(np.float32))
            terms = np.unique(rng.choice(VOCAB, size=TERMS_PER_CHUNK, p=zipf))
            weights = (1.0 + rng.integers(0, 3, size=len(terms))).astype(np.float32)
            number = start + i
            doc = number // 20
            text = " ".join(rng.choice(words, size=130))
            batch.append(
                SyntheticChunk(
                    str(uuid.UUID(int=number + 1)),
                    dense[i],
                    sents,
                    terms,
                    weights,
                    {
                        "chunk_id": str(uuid.UUID(int=number + 1)),
                        "doc_id": f"synthetic/doc-{doc}.pdf",
                        "source_id": f"synthetic/doc-{doc}.pdf#page={number % 20 + 1}",
                        "title": f"Synthetic document {doc}",
                        "uri": f"file:///synthetic/doc-{doc}.pdf",
                        "audience": "internal" if rng.random() < 0.1 else "public",
                        "text": text,
                        "content_hash": f"{number:064x}",
                        "doc_hash": f"{doc:064x}",
                        "chunk_index": number % 20,
                        "page": number % 20 + 1,
                        "section": None,
                        "origin": "synthetic",
                        "source_hash": f"{doc:064x}",
                        "version": None,
                    },
                )
            )
        yield batch


Query = tuple[NDArray[np.float32], list[int], list[float]]


class QuerySampler:
    """Picks :data:`QUERIES` chunks of a corpus of ``n`` and makes a noisy copy of each as it
    streams past (its vector, five of its terms), so the corpus is generated once."""

    def __init__(self, n: int, seed: int = 11) -> None:
        self.rng = np.random.default_rng(seed)
        self.wanted = set(self.rng.choice(n, size=min(QUERIES, n), replace=False).tolist())
        self.queries: list[Query] = []

    def take(self, batch: list[SyntheticChunk]) -> None:
        """Keep a query for each wanted chunk of ``batch``."""
        for c in batch:
            if uuid.UUID(c.point_id).int - 1 in self.wanted:
                vec = _unit(c.dense + 0.3 * self.rng.normal(size=DIM).astype(np.float32))
                pick = self.rng.choice(len(c.terms), size=min(5, len(c.terms)), replace=False)
                self.queries.append((vec, c.terms[pick].tolist(), [1.0] * len(pick)))


def queries(n: int, seed: int = 11) -> list[Query]:
    """The queries of a corpus of ``n``: (dense vector, terms, weights); see QuerySampler."""
    sampler = QuerySampler(n, seed)
    for batch in corpus(n):
        sampler.take(batch)
    return sampler.queries


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _anon_mb(pid: int) -> float | None:
    """Process ``pid``'s anonymous resident memory (``RssAnon`` in ``/proc/PID/status``) in
    MiB; ``None`` where there is no such file (not Linux, or the process has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024  # kB
    return None


def watch_anon_memory(
    worker: subprocess.Popen[str], every_s: float = 0.2
) -> tuple[tuple[str, str], float | None]:
    """Wait for ``worker`` and sample its anonymous resident memory every ``every_s`` seconds.

    Peak RSS (``ru_maxrss``) also counts the pages of memory-mapped files that the process
    touched: Qdrant's segments are such files, and the kernel can drop those pages and read
    them again when memory is short. The anonymous part (heap, graphs being built, in-RAM
    copies) cannot be dropped, so it is the memory the engine needs. A peak shorter than
    ``every_s`` can be missed. The worker cannot sample itself: the engine's calls hold the
    GIL.

    Returns:
        ``((stdout, stderr), peak MiB or None where /proc is missing)``.
    """
    peak: float | None = None
    try:
        while True:
            try:
                out = worker.communicate(timeout=every_s)
                return out, peak
            except subprocess.TimeoutExpired:
                anon = _anon_mb(worker.pid)
                if anon is not None:
                    peak = anon if peak is None else max(peak, anon)
    except BaseException:  # Ctrl-C: the worker must not outlive the benchmark
        worker.kill()
        worker.wait()
        raise


CGROUP_ROOT = Path("/sys/fs/cgroup")


class MemoryLimitError(RuntimeError):
    """A memory limit was asked for but no writable memory cgroup is here (it needs Linux
    cgroups and the right to create one, e.g. root)."""


def memory_cgroup(limit_mb: int, root: Path = CGROUP_ROOT) -> Path:
    """Create a memory cgroup limited to ``limit_mb`` MiB, swap included, and return the file a
    process writes its pid to in order to join it (cgroup v2 ``cgroup.procs``; v1 the memory
    controller's ``cgroup.procs``).

    The limit charges what peak RSS counts: anonymous memory and the page cache of the files the
    process maps or writes. Near the limit the kernel drops file pages (Qdrant's segments are
    read again from disk); if the anonymous memory alone exceeds it, the kernel's OOM killer
    ends the worker, which the benchmark reports as a failed run.

    Raises:
        MemoryLimitError: no cgroup file system, or no right to create a cgroup.
    """
    name = f"supportbot-scale-bench-{os.getpid()}"
    limit = str(limit_mb * 2**20)
    try:
        if (root / "cgroup.controllers").exists():  # v2, the unified hierarchy
            group = root / name
            group.mkdir(exist_ok=True)
            (group / "memory.max").write_text(limit)
            swap = group / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
            return group / "cgroup.procs"
        group = root / "memory" / name  # v1
        group.mkdir(exist_ok=True)
        (group / "memory.limit_in_bytes").write_text(limit)
        memsw = group / "memory.memsw.limit_in_bytes"
        if memsw.exists():  # only when swap accounting is on
            memsw.write_text(limit)
        return group / "cgroup.procs"
    except OSError as exc:
        raise MemoryLimitError(
            f"cannot create a memory cgroup under {root} ({exc.strerror or exc}); "
            "--memory-limit-mb needs Linux cgroups and root"
        ) from None


def _join(procs: Path) -> None:
    """Move the calling process into the cgroup of ``procs`` (run in the worker before exec)."""
    procs.write_text(str(os.getpid()))


def _disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


class LocalEngine:
    """qdrant-client local mode plus the product's in-memory copies (see module docstring)."""

    collection = "bench"

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self) -> None:
        from qdrant_client import QdrantClient

        import knowledge.chunking
        import knowledge.local_sparse
        import knowledge.local_vectors
        import knowledge.retrieval  # noqa: F401  # imported before the RSS baseline
        from knowledge.index import QdrantIndex

        self.client = QdrantClient(path=str(self.path))
        self.index = QdrantIndex(self.client, self.collection, DIM, local=True)
        self.index.ensure_collection()

    def upsert(self, batch: list[SyntheticChunk]) -> None:
        from knowledge.chunking import Chunk
        from knowledge.sparse import SparseVector

        chunks = [Chunk(**c.payload) for c in batch]
        sparse = [SparseVector(c.terms.tolist(), c.weights.tolist()) for c in batch]
        self.index.upsert(
            chunks, np.stack([c.dense for c in batch]), sparse, [c.sentences for c in batch]
        )

    def finish(self) -> None:
        """Nothing to build: local mode searches by brute force."""

    def close(self) -> None:
        self.client.close()

    def open(self) -> None:
        """What :class:`knowledge.base.KnowledgeBase` does at start: open the folder (local
        mode loads every point) and build the sparse, dense and sentence copies."""
        from qdrant_client import QdrantClient

        from knowledge.index import DENSE, SENTENCES
        from knowledge.local_sparse import LocalSparseIndex
        from knowledge.local_vectors import LocalVectorIndex
        from knowledge.retrieval import Retriever

        self.client = QdrantClient(path=str(self.path))
        self.retriever = Retriever(
            self.client,
            self.collection,
            None,  # type: ignore[arg-type]  # the query vectors are given
            None,  # type: ignore[arg-type]
            fusion="dbsf",
            sentences=True,
            local_sparse=LocalSparseIndex(self.client, self.collection),
            local_dense=LocalVectorIndex(self.client, self.collection, DENSE),
            local_sentences=LocalVectorIndex(self.client, self.collection, SENTENCES),
        )

    def query(self, vec: NDArray[np.float32], terms: list[int], weights: list[float]) -> list[str]:
        from qdrant_client import models as qm

        from knowledge.index import DENSE, SENTENCES, SPARSE
        from knowledge.retrieval import audience_filter

        flt = audience_filter("public")
        prefetch = [
            qm.Prefetch(query=vec.tolist(), using=DENSE, limit=CANDIDATES, filter=flt),
            qm.Prefetch(query=[vec.tolist()], using=SENTENCES, limit=CANDIDATES, filter=flt),
            qm.Prefetch(
                query=qm.SparseVector(indices=terms, values=weights),
                using=SPARSE,
                limit=CANDIDATES,
                filter=flt,
            ),
        ]
        points = self.retriever._search_local(prefetch, "public", flt, LIMIT)
        return [str(p.id) for p in points]


class EdgeEngine:
    """Qdrant Edge with HNSW and int8 scalar quantisation (see module docstring).

    Args:
        path: the shard's folder.
        sentence_datatype: how the sentence vectors are stored (:data:`DATATYPES`).
        sentence_graph: ``True`` (engine ``edge``): the sentence vectors get their own HNSW
            graph and their own prefetch, as the product's three lists are today. ``False``
            (engine ``edge-rerank``): no graph on them; the sentence list is the dense and
            sparse candidates re-scored by MaxSim (a nested prefetch), so it never searches the
            whole collection.
    """

    def __init__(
        self, path: Path, *, sentence_graph: bool = True, sentence_datatype: str = "float32"
    ) -> None:
        self.path = path
        self.sentence_graph = sentence_graph
        self.sentence_datatype = sentence_datatype

    def config(self) -> Any:
        import qdrant_edge as qe

        quant = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, always_ram=True)
        return qe.EdgeConfig(
            vectors={
                "dense": qe.EdgeVectorParams(
                    size=DIM, distance=qe.Distance.Cosine, on_disk=True, quantization_config=quant
                ),
                "sentences": qe.EdgeVectorParams(
                    size=DIM,
                    distance=qe.Distance.Cosine,
                    on_disk=True,
                    multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
                    datatype=getattr(qe.VectorStorageDatatype, self.sentence_datatype.title()),
                    # Re-scoring only (edge-rerank): no int8 copy and no graph (m = 0), as
                    # knowledge.index.ServerLayout.vector_params makes them.
                    quantization_config=quant if self.sentence_graph else None,
                    hnsw_config=None
                    if self.sentence_graph
                    else qe.HnswIndexConfig(
                        m=0, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=FULL_SCAN_THRESHOLD
                    ),
                ),
            },
            sparse_vectors={"sparse": qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            on_disk_payload=True,
            hnsw_config=qe.HnswIndexConfig(
                m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=FULL_SCAN_THRESHOLD
            ),
        )

    def create(self) -> None:
        import qdrant_edge as qe

        self.path.mkdir(parents=True, exist_ok=True)
        self.shard = qe.EdgeShard.create(str(self.path), self.config())
        self.shard.update(
            qe.UpdateOperation.create_field_index("audience", qe.PayloadSchemaType.Keyword)
        )

    def upsert(self, batch: list[SyntheticChunk]) -> None:
        import qdrant_edge as qe

        points = [
            qe.Point(
                c.point_id,
                {
                    "dense": c.dense.tolist(),
                    "sentences": c.sentences.tolist(),
                    "sparse": qe.SparseVector(c.terms.tolist(), c.weights.tolist()),
                },
                c.payload,
            )
            for c in batch
        ]
        self.shard.update(qe.UpdateOperation.upsert_points(points))

    def finish(self) -> None:
        """Build the HNSW graphs and quantised copies (Edge optimises when asked)."""
        self.shard.optimize()
        self.shard.flush()

    def close(self) -> None:
        self.shard.close()

    def open(self) -> None:
        import qdrant_edge as qe

        self.shard = qe.EdgeShard.load(str(self.path))

    def query(
        self,
        vec: NDArray[np.float32],
        terms: list[int],
        weights: list[float],
        *,
        exact: bool = False,
    ) -> list[str]:
        import qdrant_edge as qe

        flt = qe.Filter(must=[qe.FieldCondition("audience", match=qe.MatchValue("public"))])
        # Quantised scores pick twice the candidates, the original vectors re-score them.
        rescore = qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
        # The beam widths: see knowledge.edge.DENSE_EF and SENTENCE_EF.
        if exact:
            params = sentence_params = qe.SearchParams(
                exact=True, quantization=qe.QuantizationSearchParams(ignore=True)
            )
        else:
            params = qe.SearchParams(hnsw_ef=DENSE_EF, quantization=rescore)
            sentence_params = qe.SearchParams(hnsw_ef=SENTENCE_EF, quantization=rescore)
        v = vec.tolist()
        dense = qe.Prefetch(
            CANDIDATES, qe.Query.Nearest(v, using="dense"), filter=flt, params=params
        )
        sparse = qe.Prefetch(
            CANDIDATES,
            qe.Query.Nearest(qe.SparseVector(terms, weights), using="sparse"),
            filter=flt,
        )
        if self.sentence_graph:  # three independent lists (exact: each searched exactly)
            sentences = qe.Prefetch(
                CANDIDATES,
                qe.Query.Nearest([v], using="sentences"),
                filter=flt,
                params=sentence_params,
            )
        else:  # re-scoring (exact: of the exact dense and sparse candidates)
            sentences = qe.Prefetch(
                CANDIDATES,
                qe.Query.Nearest([v], using="sentences"),
                prefetches=[dense, sparse],
            )
        prefetches = [dense, sentences, sparse]
        points = self.shard.query(
            qe.QueryRequest(
                LIMIT,
                query=qe.Fusion.Dbsf(),  # type: ignore[arg-type]  # the stub omits Dbsf
                prefetches=prefetches,
                filter=flt,
                with_payload=True,
                with_vector=False,
            )
        )
        return [str(p.id) for p in points]


def run_one(engine_name: str, n: int, workdir: Path) -> dict[str, Any]:
    """Build, reopen and query one engine (``edge-rerank:turbo8``: see :func:`parse_engine`)
    at size ``n``; the figures as a dict."""
    name, datatype = parse_engine(engine_name)
    path = workdir / f"{engine_name.replace(':', '-')}-{n}"
    engine: LocalEngine | EdgeEngine = (
        LocalEngine(path)
        if name == "local"
        else EdgeEngine(path, sentence_graph=name == "edge", sentence_datatype=datatype)
    )
    sampler = QuerySampler(n)
    engine.create()
    baseline = _peak_rss_mb()  # the interpreter, numpy and the engine's imports
    upsert_s = 0.0
    for batch in corpus(n):
        sampler.take(batch)
        t0 = time.perf_counter()
        engine.upsert(batch)
        upsert_s += time.perf_counter() - t0
    qs = sampler.queries
    t0 = time.perf_counter()
    engine.finish()
    build_s = time.perf_counter() - t0
    engine.close()
    disk = _disk_mb(path)
    t0 = time.perf_counter()
    engine.open()
    engine.query(*qs[0])
    startup_s = time.perf_counter() - t0
    for q in qs[:10]:  # warm-up
        engine.query(*q)
    times, results = [], []
    for q in qs:
        t0 = time.perf_counter()
        results.append(engine.query(*q))
        times.append((time.perf_counter() - t0) * 1000)
    figures: dict[str, Any] = {
        "engine": engine_name,
        "chunks": n,
        "upsert_per_s": n / upsert_s,
        "build_s": build_s,
        "startup_s": startup_s,
        "query_ms_p50": float(np.percentile(times, 50)),
        "query_ms_p95": float(np.percentile(times, 95)),
        "disk_mb": disk,
    }
    if isinstance(engine, EdgeEngine):
        print(json.dumps(figures), file=sys.stderr, flush=True)  # kept if the rest fails
        exact = [engine.query(*q, exact=True) for q in qs]
        figures["recall_at_10_vs_exact"] = float(
            np.mean(
                [len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(results, exact, strict=True)]
            )
        )
    engine.close()
    figures["peak_rss_mb"] = _peak_rss_mb()
    figures["index_rss_mb"] = figures["peak_rss_mb"] - baseline
    shutil.rmtree(path, ignore_errors=True)
    return figures


def merge_rows(earlier: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``earlier`` report rows with those of ``new`` added, a new row replacing an earlier one
    of the same engine and size; ordered by engine (as first seen), then size."""
    merged = {(r["engine"], r["chunks"]): r for r in earlier}
    merged.update({(r["engine"], r["chunks"]): r for r in new})
    order = {e: i for i, e in enumerate(dict.fromkeys(r["engine"] for r in [*earlier, *new]))}
    return sorted(merged.values(), key=lambda r: (order[r["engine"]], r["chunks"]))


def _plot(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (
        ("query_ms_p50", "retrieval p50 (ms)"),
        ("peak_rss_mb", "peak RSS (MB)"),
        ("startup_s", "start-up (s)"),
    )
    for ax, (key, label) in zip(axes, panels, strict=True):
        for engine in dict.fromkeys(r["engine"] for r in rows):
            pts = sorted((r["chunks"], r[key]) for r in rows if r["engine"] == engine and key in r)
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=engine)
            anon = sorted(
                (r["chunks"], r["peak_anon_mb"])
                for r in rows
                if key == "peak_rss_mb" and r["engine"] == engine and "peak_anon_mb" in r
            )
            if anon:
                ax.plot(*zip(*anon, strict=True), marker="x", ls="--", label=f"{engine}, anonymous")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out)


def _run_workers(
    args: argparse.Namespace, workdir: Path, procs: Path | None, console: Any
) -> list[dict[str, Any]]:
    """One worker process per (size, engine) of ``args``, in the memory cgroup of ``procs``
    when given; their rows (a failed one with ``error``)."""
    rows: list[dict[str, Any]] = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for engine in args.engines.split(","):
            if parse_engine(engine)[0] == "local" and n > args.local_max:
                reason = f"skipped: above --local-max {args.local_max:,} (see LOCAL_MAX)"
                console.print(f"[yellow]{engine} at {n:,} chunks {reason}[/]")
                rows.append({"engine": engine, "chunks": n, "error": reason})
                continue
            console.print(f"[bold]{engine}[/] at {n:,} chunks…")
            worker = subprocess.Popen(
                [sys.executable, "-m", "knowledge.scale_bench", "--worker", engine, str(n),
                 "--workdir", str(workdir)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
                preexec_fn=None if procs is None else partial(_join, procs),
            )  # fmt: skip
            (stdout, stderr), anon_mb = watch_anon_memory(worker)
            if worker.returncode != 0:
                tail = (stderr.strip().splitlines() or ["no output"])[-1]
                if worker.returncode < 0:  # a signal: SIGKILL is the OOM killer at the limit
                    tail = f"killed by signal {-worker.returncode}" + (
                        " (over the memory limit?)" if procs is not None else ""
                    )
                console.print(f"  [red]failed[/]: {tail}")
                rows.append({"engine": engine, "chunks": n, "error": tail})
                continue
            row = json.loads(stdout.strip().splitlines()[-1])
            if anon_mb is not None:
                row["peak_anon_mb"] = anon_mb
            if args.memory_limit_mb is not None:
                row["memory_limit_mb"] = args.memory_limit_mb
            rows.append(row)
            console.print(f"  {row}")
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark (see the module docstring); returns the rows it wrote."""
    parser = argparse.ArgumentParser(description="The embedded index's cost curve.")
    parser.add_argument(
        "--sizes", default="10000,30000,100000", help="Comma-separated chunk counts."
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help=f"Comma-separated: {', '.join(ALL_ENGINES)}; an Edge engine may end in :DATATYPE "
        f"({', '.join(DATATYPES)}), its sentence vectors' storage.",
    )
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--workdir", type=Path, default=None, help="Where indexes are built.")
    parser.add_argument(
        "--local-max", type=int, default=LOCAL_MAX, help="Skip the local engine above this."
    )
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="Run each worker in a memory cgroup of this size (Linux, root): proves a size runs "
        "in that much memory, page cache included (see memory_cgroup).",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="Keep the rows of other engines and sizes already in OUT/scale_bench.json (the "
        "plot then shows them too), so that a long run at one size need not repeat the others.",
    )
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for spec in args.engines.split(","):
        try:
            parse_engine(spec)
        except ValueError as exc:
            parser.error(str(exc))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    if args.worker:
        print(json.dumps(run_one(args.worker[0], int(args.worker[1]), workdir)))
        return []
    from rich.console import Console
    from rich.table import Table

    console = Console()
    procs = None
    if args.memory_limit_mb is not None:
        try:
            procs = memory_cgroup(args.memory_limit_mb)
        except MemoryLimitError as exc:
            parser.error(str(exc))
        console.print(f"each worker runs in a {args.memory_limit_mb:,} MiB memory cgroup")
    try:
        rows = _run_workers(args, workdir, procs, console)
    finally:
        if procs is not None:
            procs.parent.rmdir()  # empty again: every worker has ended
    table = Table(
        title="Embedded index cost curve (synthetic vectors; see knowledge/scale_bench.py)"
    )
    columns = ("engine", "chunks", "upsert/s", "build s", "start-up s", "p50 ms", "p95 ms",
               "peak RSS MB", "of which index", "anon MB", "disk MB", "recall@10")  # fmt: skip
    for c in columns:
        table.add_column(c, justify="right")
    for r in rows:
        if "error" in r:
            table.add_row(r["engine"], f"{r['chunks']:,}", r["error"][:40], *[""] * 9)
            continue
        recall = r.get("recall_at_10_vs_exact")
        table.add_row(
            r["engine"], f"{r['chunks']:,}", f"{r['upsert_per_s']:,.0f}", f"{r['build_s']:.1f}",
            f"{r['startup_s']:.1f}", f"{r['query_ms_p50']:.1f}", f"{r['query_ms_p95']:.1f}",
            f"{r['peak_rss_mb']:,.0f}", f"{r['index_rss_mb']:,.0f}",
            f"{r['peak_anon_mb']:,.0f}" if "peak_anon_mb" in r else "–", f"{r['disk_mb']:,.0f}",
            "exact" if recall is None else f"{recall:.3f}",
        )  # fmt: skip
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    report = args.out / "scale_bench.json"
    if args.merge and report.is_file():
        rows = merge_rows(json.loads(report.read_text()), rows)
    report.write_text(json.dumps(rows, indent=2))
    ok = [r for r in rows if "error" not in r]
    if ok:
        _plot(ok, args.out / "scale_bench.png")
    console.print(f"wrote {args.out / 'scale_bench.json'} and {args.out / 'scale_bench.png'}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    main()
