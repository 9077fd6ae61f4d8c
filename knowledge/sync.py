"""Sync: sources → plan (added / changed / removed per source) → embed → write atomically.

For each source (:mod:`knowledge.sources`):

1. **Plan.** The index's documents of that source (its ``origin``) are compared with what the
   source holds now. A document whose ``doc_hash`` (its content hash, audience and the settings
   that shape the vectors) is unchanged is not loaded or re-embedded. One that the source no
   longer holds is *removed*, but only within that source: one source never deletes another's
   documents, and two sources may hold the same relative path (ids are prefixed by the source).
2. **Safety.** A source that cannot be listed raises ``SourceUnavailable``: nothing of it is
   touched and the error is reported. A plan that would remove more than half of a source's
   indexed documents (:data:`MASS_DELETE_SHARE`) is not applied unless ``allow_mass_delete``.
   A document that cannot be read now (a corrupt replacement, an HTTP 500) keeps its indexed
   version and is reported as skipped.
3. **Apply.** New versions are chunked and embedded outside the index lock; then, under the
   lock, each document's new points are written unpublished (:data:`knowledge.index.PENDING`,
   their ids carry the version), published in one payload update when all are written, and
   only then are its old version's points deleted, so a question sees the old or the new
   version whole, never half of one: also from another process sharing a Qdrant server, and
   after the sync was killed mid-write (the next run deletes the unpublished leftovers of its
   sources before writing, and, since the plan never saw the new version, writes it again).
   Removed documents are deleted last.

``dry_run`` stops after the plan (files are still read, so corrupt ones are reported).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np
from llama_index.core import Document
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from knowledge.chunking import Chunk, Chunker
from knowledge.documents import Skipped
from knowledge.embedding import Embedder
from knowledge.furniture import boilerplate_sentences, repeated_lines, strip_furniture
from knowledge.index import IndexedDoc, QdrantIndex
from knowledge.sources import Failed, Fetched, Kept, KnownDoc, Source, SourceUnavailable
from knowledge.sparse import SparseEncoder

EMBED_BATCH = 256
MASS_DELETE_SHARE = 0.5
"""A run may remove at most this share of a source's indexed documents without
``allow_mass_delete`` (an emptied mount or a broken sitemap must not empty the index)."""


@dataclass(frozen=True)
class DocumentInfo:
    """One document a source holds in the index after a sync: its id, title, link, audience
    and number of chunks (the inventory the review console lists, e.g. documents never cited)."""

    doc_id: str
    title: str
    uri: str
    audience: str
    chunks: int


@dataclass
class SourceReport:
    """What a sync did (or, on a dry run, would do) to one source. Times are seconds."""

    source: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    error: str | None = None  # the source could not be listed: nothing was applied
    blocked: str | None = None  # the mass-delete guard stopped it: nothing was applied
    chunks: int = 0  # chunks written
    seconds: float = 0.0  # listing and reading the source (embedding and writing: the run's)
    # What the source holds in the index after an applied run (None: a dry run, or nothing
    # was applied, so the index holds what it held before).
    documents: list[DocumentInfo] | None = None

    @property
    def ok(self) -> bool:
        """Listed and applied (skipped documents aside)."""
        return self.error is None and self.blocked is None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (sync history, the admin socket)."""
        return {
            "source": self.source,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
            "error": self.error,
            "blocked": self.blocked,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SyncReport:
    """What a sync run did, per source; the totals below add them up."""

    sources: list[SourceReport] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0
    embed_seconds: float = 0.0
    embedded: int = 0  # texts embedded (chunks + distinct sentences)
    boilerplate: set[str] = field(default_factory=set)  # keys stripped (knowledge.furniture)

    @property
    def documents(self) -> int:
        """Documents added or changed."""
        return sum(len(s.added) + len(s.changed) for s in self.sources)

    @property
    def removed(self) -> int:
        """Documents removed."""
        return sum(len(s.removed) for s in self.sources)

    @property
    def unchanged(self) -> int:
        """Documents left as they were."""
        return sum(s.unchanged for s in self.sources)

    @property
    def chunks(self) -> int:
        """Chunks written."""
        return sum(s.chunks for s in self.sources)

    @property
    def skipped(self) -> list[Skipped]:
        """Files and pages left out, with reasons."""
        return [k for s in self.sources for k in s.skipped]

    @property
    def errors(self) -> list[str]:
        """Sources that could not be listed, or that the mass-delete guard stopped."""
        return [e for s in self.sources for e in (s.error, s.blocked) if e]

    @property
    def ingested_ids(self) -> list[str]:
        """Ids of the documents added or changed."""
        return [d for s in self.sources for d in s.added + s.changed]

    @property
    def wrote(self) -> bool:
        """Whether the index changed (something written or removed)."""
        return not self.dry_run and (self.documents > 0 or self.removed > 0)


@dataclass
class _Plan:
    source: Source
    audience: str
    report: SourceReport
    indexed: dict[str, IndexedDoc]
    fetched: list[tuple[Fetched, str]]  # (document, doc_hash)


def distinct_sentences(per_chunk: Iterable[Sequence[str]]) -> list[str]:
    """Each sentence once, in first-seen order: overlapping chunks share sentences, and each
    is embedded once (ingestion, and the benchmark's embedding floor)."""
    return list(dict.fromkeys(s for group in per_chunk for s in group))


class Syncer:
    """Runs sync into one index (see module docstring).

    Args:
        index: the target collection (created if missing).
        embedder: dense encoder.
        sparse: sparse encoder.
        chunker: splits documents.
        fingerprint: changes when chunking or embedding settings change (then every document
            is re-embedded).
        default_audience: audience of a source that sets none.
        sentence_vectors: also embed each chunk's sentences (the ``sentences`` multivector).
        known_boilerplate: boilerplate keys found by earlier runs (:mod:`knowledge.furniture`).
        lock: held while the index is written (the running bot's retrievals take it too).
    """

    def __init__(
        self,
        index: QdrantIndex,
        embedder: Embedder,
        sparse: SparseEncoder,
        chunker: Chunker,
        *,
        fingerprint: str,
        default_audience: str = "public",
        sentence_vectors: bool = True,
        known_boilerplate: set[str] | None = None,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.chunker = chunker
        self.fingerprint = fingerprint
        self.default_audience = default_audience
        self.sentence_vectors = sentence_vectors
        self.known_boilerplate = known_boilerplate or set()
        self.lock: AbstractContextManager[object] = lock or threading.RLock()

    def doc_hash(self, source_hash: str, audience: str) -> str:
        """The version key of a document's points: content, audience and vector settings."""
        return hashlib.sha256(f"{source_hash}|{audience}|{self.fingerprint}".encode()).hexdigest()

    # -- plan ---------------------------------------------------------------------------------
    def _plan(self, source: Source, allow_mass_delete: bool) -> _Plan:
        config = source.config
        audience = config.audience or self.default_audience
        started = time.perf_counter()
        report = SourceReport(config.id)
        indexed = self.index.documents(config.id)
        known = {
            doc_id: KnownDoc(d.source_hash, d.version)
            for doc_id, d in indexed.items()
            if d.doc_hash == self.doc_hash(d.source_hash, audience)
        }
        plan = _Plan(source, audience, report, indexed, [])
        try:
            scan = source.scan(known)
        except SourceUnavailable as exc:
            report.error = str(exc)
            report.seconds = time.perf_counter() - started
            return plan
        report.skipped.extend(scan.ignored)
        present: set[str] = set()
        for item in scan.items:
            present.add(item.doc_id)
            if isinstance(item, Kept):
                report.unchanged += 1
            elif isinstance(item, Failed):
                kept = " (its indexed version stays)" if item.doc_id in indexed else ""
                report.skipped.append(Skipped(item.where, item.reason + kept))
            else:
                h = self.doc_hash(item.source_hash, audience)
                before = indexed.get(item.doc_id)
                if before is not None and before.doc_hash == h:
                    report.unchanged += 1
                else:
                    plan.fetched.append((item, h))
                    (report.changed if before is not None else report.added).append(item.doc_id)
        report.removed = sorted(set(indexed) - present)
        if (
            not allow_mass_delete
            and indexed
            and len(report.removed) > MASS_DELETE_SHARE * len(indexed)
        ):
            report.blocked = (
                f"source {config.id!r}: this run would remove {len(report.removed)} of its "
                f"{len(indexed)} documents; nothing was changed. If that is intended, rerun "
                "with --allow-mass-delete."
            )
            plan.fetched = []
        report.seconds = time.perf_counter() - started
        return plan

    # -- apply --------------------------------------------------------------------------------
    def _embed(
        self, texts: list[str], label: str, bar: Progress | None, report: SyncReport
    ) -> NDArray[np.float32]:
        """Embed ``texts`` in fixed batches with a progress bar → shape ``(len(texts), dim)``."""
        task = bar.add_task(label, total=len(texts)) if bar is not None else None
        parts = []
        for begin in range(0, len(texts), EMBED_BATCH):
            batch = texts[begin : begin + EMBED_BATCH]
            t0 = time.perf_counter()
            parts.append(self.embedder.embed(batch))
            report.embed_seconds += time.perf_counter() - t0
            report.embedded += len(batch)
            if bar is not None and task is not None:
                bar.advance(task, len(batch))
        if not parts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.concatenate(parts)

    def _chunk(
        self, plans: list[_Plan], report: SyncReport
    ) -> list[tuple[_Plan, str, list[Chunk]]]:
        """Strip page furniture (boilerplate counted over the documents read now and those
        already indexed) and chunk every fetched document → ``(plan, doc_hash, chunks)``."""
        texts: dict[str, list[str]] = {}
        for plan in plans:
            for doc, _ in plan.fetched:
                texts[f"{plan.source.config.id}\x00{doc.doc_id}"] = [d.text for d in doc.docs]
        if texts:
            fresh = {k.split("\x00", 1)[1] for k in texts}
            for c in self.index.all_chunks():
                if c.doc_id not in fresh:
                    texts.setdefault("\x01" + c.doc_id, []).append(c.text)
        boilerplate = boilerplate_sentences(texts) | self.known_boilerplate
        report.boilerplate = boilerplate
        out: list[tuple[_Plan, str, list[Chunk]]] = []
        for plan in plans:
            kept: list[tuple[Fetched, str]] = []
            for doc, h in plan.fetched:
                lines = repeated_lines([d.text for d in doc.docs])
                clean = [
                    Document(text=strip_furniture(d.text, lines, boilerplate), metadata=d.metadata)
                    for d in doc.docs
                ]
                clean = [d for d in clean if d.text.strip()]
                chunks = (
                    self.chunker.chunk(
                        doc.file,
                        doc.title,
                        clean,
                        doc.fmt,
                        audience=plan.audience,
                        doc_hash=h,
                        origin=plan.source.config.id,
                        source_hash=doc.source_hash,
                        version=doc.version,
                    )
                    if clean
                    else []
                )
                if not chunks:
                    # Nothing to index: the old version (if any) stays, as for a corrupt file.
                    plan.report.skipped.append(
                        Skipped(doc.file.path or doc.file.url or doc.doc_id, "no text left")
                    )
                    for bucket in (plan.report.added, plan.report.changed):
                        if doc.doc_id in bucket:
                            bucket.remove(doc.doc_id)
                    continue
                kept.append((doc, h))
                out.append((plan, h, chunks))
            plan.fetched = kept
        return out

    def run(
        self,
        sources: Sequence[Source],
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        console: Console | None = None,
        progress: bool = True,
        on_written: Callable[[], None] | None = None,
    ) -> SyncReport:
        """Sync ``sources`` (blocking; see the module docstring). Never raises for a source
        that cannot be listed: its :class:`SourceReport` carries the error.

        ``on_written`` runs under the lock right after the writes (when anything changed), so
        what readers keep in memory is refreshed before any of them sees the new points.
        """
        start = time.perf_counter()
        report = SyncReport(dry_run=dry_run)
        self.index.ensure_collection()
        plans = [self._plan(s, allow_mass_delete) for s in sources]
        report.sources = [p.report for p in plans]
        active = [p for p in plans if p.report.ok]
        if dry_run or not active:
            report.seconds = time.perf_counter() - start
            return report
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
            written = self._chunk(active, report)
            chunks = [c for _, _, cs in written for c in cs]
            dense = self._embed([c.embedding_text for c in chunks], "Embedding chunks", bar, report)
            per_chunk: list[NDArray[np.float32]] | None = None
            if self.sentence_vectors:
                sentences = [c.sentences for c in chunks]
                distinct = distinct_sentences(sentences)
                row = {s: i for i, s in enumerate(distinct)}
                vectors = self._embed(distinct, "Embedding sentences", bar, report)
                per_chunk = [vectors[[row[s] for s in group]] for group in sentences]
            sparse = [self.sparse.encode_document(c.embedding_text) for c in chunks]
            # Writes: under the lock, new version first (unpublished until it is whole), then
            # the old one's points go. What a run killed mid-write left is deleted first.
            with self.lock:
                for plan in active:
                    self.index.delete_pending(plan.source.config.id)
                offset = 0
                for plan, h, doc_chunks in written:
                    n = len(doc_chunks)
                    doc_id = doc_chunks[0].doc_id
                    self.index.upsert(
                        doc_chunks,
                        dense[offset : offset + n],
                        sparse[offset : offset + n],
                        per_chunk[offset : offset + n] if per_chunk is not None else None,
                        pending=True,
                    )
                    self.index.publish(doc_id, h)
                    self.index.delete_versions(plan.source.config.id, doc_id, keep_hash=h)
                    plan.report.chunks += n
                    offset += n
                for plan in active:
                    for doc_id in plan.report.removed:
                        self.index.delete_versions(plan.source.config.id, doc_id)
                if on_written is not None and (written or any(p.report.removed for p in active)):
                    on_written()
        for plan in active:
            plan.report.documents = _inventory(plan, written)
        report.seconds = time.perf_counter() - start
        return report


def _inventory(
    plan: _Plan, written: Sequence[tuple[_Plan, str, list[Chunk]]]
) -> list[DocumentInfo]:
    """What ``plan``'s source holds after the writes: what was indexed, less what was removed,
    with the documents just written in their new version (no second scroll of the index)."""
    removed = set(plan.report.removed)
    docs = {
        doc_id: DocumentInfo(
            doc_id, d.title or doc_id, d.uri, d.audience or plan.audience, d.chunks
        )
        for doc_id, d in plan.indexed.items()
        if doc_id not in removed
    }
    for p, _, chunks in written:
        if p is plan and chunks:
            first = chunks[0]
            docs[first.doc_id] = DocumentInfo(
                first.doc_id, first.title, first.uri, first.audience, len(chunks)
            )
    return sorted(docs.values(), key=lambda d: d.doc_id)
