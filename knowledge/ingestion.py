"""Ingestion: files → chunks → embeddings (per chunk and per sentence) → Qdrant, incrementally.

A document whose bytes, audience and chunking settings are unchanged since the last run is
skipped without re-embedding (its ``doc_hash`` is stored on every chunk). A changed document is
re-chunked, its points upserted under the same stable ids and any leftover points deleted. A file
that cannot be read is reported and skipped; the rest of the run goes on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from llama_index.core import Document
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from knowledge.chunking import Chunk, Chunker
from knowledge.documents import (
    LoadError,
    Skipped,
    SourceFile,
    discover,
    file_sha256,
    load_file,
)
from knowledge.embedding import Embedder
from knowledge.furniture import boilerplate_sentences, repeated_lines, strip_furniture
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
    boilerplate: set[str] = field(default_factory=set)  # keys stripped (knowledge.furniture)


@dataclass(frozen=True)
class _Loaded:
    doc_id: str
    chunks: list[Chunk]


def distinct_sentences(per_chunk: Iterable[Sequence[str]]) -> list[str]:
    """Each sentence once, in first-seen order: overlapping chunks share sentences, and each
    is embedded once (ingestion, and the benchmark's embedding floor)."""
    return list(dict.fromkeys(s for group in per_chunk for s in group))


class Ingestor:
    """Runs ingestion into one index (see module docstring).

    Args:
        index: the target collection (created if missing).
        embedder: dense encoder.
        sparse: sparse encoder.
        chunker: splits documents.
        fingerprint: a string that changes when chunking or embedding settings change, so such
            a change re-ingests unchanged files.
        sentence_vectors: also embed each chunk's sentences (the ``sentences`` multivector).
        known_boilerplate: boilerplate keys found by earlier runs (:mod:`knowledge.furniture`):
            the copies indexed then were stripped, so they no longer count towards a new one.
    """

    def __init__(
        self,
        index: QdrantIndex,
        embedder: Embedder,
        sparse: SparseEncoder,
        chunker: Chunker,
        *,
        fingerprint: str,
        sentence_vectors: bool = True,
        known_boilerplate: set[str] | None = None,
    ) -> None:
        self.known_boilerplate = known_boilerplate or set()
        self.sentence_vectors = sentence_vectors
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.chunker = chunker
        self.fingerprint = fingerprint

    def _doc_hash(self, path: Path, audience: str) -> str:
        return hashlib.sha256(
            f"{file_sha256(path)}|{audience}|{self.fingerprint}".encode()
        ).hexdigest()

    def _embed(
        self, texts: list[str], label: str, bar: Progress | None, report: IngestReport
    ) -> NDArray[np.float32]:
        """Embed ``texts`` in fixed batches with a progress bar → shape ``(len(texts), dim)``."""
        task = bar.add_task(label, total=len(texts)) if bar is not None else None
        parts = []
        for begin in range(0, len(texts), EMBED_BATCH):
            batch = texts[begin : begin + EMBED_BATCH]
            t0 = time.perf_counter()
            parts.append(self.embedder.embed(batch))
            report.embed_seconds += time.perf_counter() - t0
            if bar is not None and task is not None:
                bar.advance(task, len(batch))
        if not parts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.concatenate(parts)

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
            read: list[tuple[SourceFile, str, str, list[Document], str]] = []
            for source in sources:
                try:
                    doc_hash = self._doc_hash(source.path, audience)
                    if known.get(source.doc_id) == doc_hash:
                        report.unchanged += 1
                    else:
                        title, docs, fmt = load_file(source)
                        read.append((source, doc_hash, title, docs, fmt))
                except (LoadError, OSError) as exc:
                    report.skipped.append(Skipped(source.path, str(exc)))
                if bar is not None and read_task is not None:
                    bar.advance(read_task)

            # Page furniture (knowledge.furniture): boilerplate counted over the documents read
            # now and those already indexed (unchanged ones), then stripped before chunking.
            texts = {src.doc_id: [d.text for d in docs] for src, _, _, docs, _ in read}
            if read and set(known) - set(texts):
                for c in self.index.all_chunks():
                    if c.doc_id not in texts:
                        texts.setdefault("\x00" + c.doc_id, []).append(c.text)
            boilerplate = boilerplate_sentences(texts) | self.known_boilerplate
            report.boilerplate = boilerplate
            loaded: list[_Loaded] = []
            for source, doc_hash, title, docs, fmt in read:
                lines = repeated_lines([d.text for d in docs])
                clean = [
                    Document(text=strip_furniture(d.text, lines, boilerplate), metadata=d.metadata)
                    for d in docs
                ]
                clean = [d for d in clean if d.text.strip()]
                chunks = (
                    self.chunker.chunk(
                        source, title, clean, fmt, audience=audience, doc_hash=doc_hash
                    )
                    if clean
                    else []
                )
                if not chunks:
                    report.skipped.append(Skipped(source.path, "no text left after chunking"))
                    continue
                loaded.append(_Loaded(source.doc_id, chunks))

            # Embed across documents in fixed batches (many small files fill a batch too), then
            # write each document's points together.
            chunks = [c for d in loaded for c in d.chunks]
            dense = self._embed([c.embedding_text for c in chunks], "Embedding chunks", bar, report)
            per_chunk: list[NDArray[np.float32]] | None = None
            if self.sentence_vectors:
                # Overlapping chunks share sentences: embed each distinct sentence once.
                sentences = [c.sentences for c in chunks]
                distinct = distinct_sentences(sentences)
                row = {s: i for i, s in enumerate(distinct)}
                vectors = self._embed(distinct, "Embedding sentences", bar, report)
                per_chunk = [vectors[[row[s] for s in group]] for group in sentences]
            offset = 0
            for doc in loaded:
                n = len(doc.chunks)
                sparse = [self.sparse.encode_document(c.embedding_text) for c in doc.chunks]
                self.index.upsert(
                    doc.chunks,
                    dense[offset : offset + n],
                    sparse,
                    per_chunk[offset : offset + n] if per_chunk is not None else None,
                )
                self.index.delete_stale(doc.doc_id, [c.chunk_id for c in doc.chunks])
                offset += n
                report.documents += 1
                report.chunks += n
                report.ingested_ids.append(doc.doc_id)
        report.seconds = time.perf_counter() - start
        return report
