"""Ingestion: files → chunks → embeddings → Qdrant, incrementally.

A document whose bytes, audience and chunking settings are unchanged since the last run is
skipped without re-embedding (its ``doc_hash`` is stored on every chunk). A changed document is
re-chunked, its points upserted under the same stable ids and any leftover points deleted. A file
that cannot be read is reported and skipped; the rest of the run goes on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from knowledge.chunking import Chunk, Chunker
from knowledge.documents import LoadError, Skipped, discover, file_sha256, load_file
from knowledge.embedding import Embedder
from knowledge.index import QdrantIndex
from knowledge.sparse import SparseEncoder

EMBED_BATCH = 256


@dataclass
class IngestReport:
    """What an ingestion run did. Times are seconds of wall clock."""

    documents: int = 0
    unchanged: int = 0
    chunks: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    ingested_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Loaded:
    doc_id: str
    chunks: list[Chunk]


class Ingestor:
    """Runs ingestion into one index (see module docstring).

    Args:
        index: the target collection (created if missing).
        embedder: dense encoder.
        sparse: sparse encoder.
        chunker: splits documents.
        fingerprint: a string that changes when chunking or embedding settings change, so such
            a change re-ingests unchanged files.
    """

    def __init__(
        self,
        index: QdrantIndex,
        embedder: Embedder,
        sparse: SparseEncoder,
        chunker: Chunker,
        *,
        fingerprint: str,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.chunker = chunker
        self.fingerprint = fingerprint

    def _doc_hash(self, path: Path, audience: str) -> str:
        return hashlib.sha256(
            f"{file_sha256(path)}|{audience}|{self.fingerprint}".encode()
        ).hexdigest()

    def run(
        self,
        paths: Sequence[Path],
        *,
        audience: str,
        console: Console | None = None,
        progress: bool = True,
    ) -> IngestReport:
        """Ingest files and folders with the given audience tag (``public``/``internal``)."""
        start = time.perf_counter()
        report = IngestReport()
        self.index.ensure_collection()
        sources, skipped = discover(paths)
        report.skipped.extend(skipped)
        known = self.index.doc_hashes()

        bar = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            if progress
            else None
        )
        with bar if bar is not None else nullcontext():
            read_task = bar.add_task("Reading documents", total=len(sources)) if bar else None
            loaded: list[_Loaded] = []
            for source in sources:
                try:
                    doc_hash = self._doc_hash(source.path, audience)
                    if known.get(source.doc_id) == doc_hash:
                        report.unchanged += 1
                    else:
                        title, docs, fmt = load_file(source)
                        chunks = self.chunker.chunk(
                            source, title, docs, fmt, audience=audience, doc_hash=doc_hash
                        )
                        if not chunks:
                            raise LoadError("no text left after chunking")
                        loaded.append(_Loaded(source.doc_id, chunks))
                except (LoadError, OSError) as exc:
                    report.skipped.append(Skipped(source.path, str(exc)))
                if bar is not None and read_task is not None:
                    bar.advance(read_task)

            # Embed across documents in fixed batches (many small files fill a batch too), then
            # write each document's points together.
            chunks = [c for d in loaded for c in d.chunks]
            embed_task = bar.add_task("Embedding chunks", total=len(chunks)) if bar else None
            dense_parts = []
            for begin in range(0, len(chunks), EMBED_BATCH):
                texts = [c.embedding_text for c in chunks[begin : begin + EMBED_BATCH]]
                t0 = time.perf_counter()
                dense_parts.append(self.embedder.embed(texts))
                report.embed_seconds += time.perf_counter() - t0
                if bar is not None and embed_task is not None:
                    bar.advance(embed_task, len(texts))
            dense = (
                np.concatenate(dense_parts)
                if dense_parts
                else np.zeros((0, self.embedder.dim), dtype=np.float32)
            )
            offset = 0
            for doc in loaded:
                n = len(doc.chunks)
                sparse = [self.sparse.encode_document(c.embedding_text) for c in doc.chunks]
                self.index.upsert(doc.chunks, dense[offset : offset + n], sparse)
                self.index.delete_stale(doc.doc_id, [c.chunk_id for c in doc.chunks])
                offset += n
                report.documents += 1
                report.chunks += n
                report.ingested_ids.append(doc.doc_id)
        report.seconds = time.perf_counter() - start
        return report
