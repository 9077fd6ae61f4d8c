"""``KnowledgeBase``: the index, encoders, ingestion and retrieval wired from settings."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console

from knowledge.calibration import METHOD, SUPPORT_SOURCES, Calibration, calibrate, support_score
from knowledge.chunking import Chunker
from knowledge.embedding import Embedder, get_embedder
from knowledge.furniture import boilerplate_sentences, is_boilerplate
from knowledge.index import (
    BOILERPLATE_KEY,
    CALIBRATION_KEY,
    DENSE,
    SENTENCES,
    STATISTICS_KEY,
    VOCABULARY_KEY,
    IndexUnavailableError,
    QdrantIndex,
    ServerLayout,
    index_unreachable,
    open_client,
    optimize_index,
)
from knowledge.local_sparse import LocalSparseIndex
from knowledge.local_vectors import LocalVectorIndex
from knowledge.retrieval import (
    RETRIEVAL_DEPTH,
    Mode,
    RetrievalResult,
    Retriever,
    keep_top_sources,
)
from knowledge.settings import KnowledgeSettings
from knowledge.sources import Source, make_source
from knowledge.sources.config import SourceConfig
from knowledge.sparse import SparseEncoder
from knowledge.sync import Syncer, SyncReport
from knowledge.vocabulary import Vocabulary

log = logging.getLogger(__name__)

# Kept tokens per chunk token: stop words and punctuation dropped by the sparse tokenizer make a
# chunk of N model tokens about N/2 BM25 terms; only dl/avgdl matters, so an estimate suffices.
TERMS_PER_TOKEN = 0.5


def load_reranker(name: str) -> Any:
    """Load a sentence-transformers ``CrossEncoder`` from a local folder or model package."""
    from sentence_transformers import CrossEncoder

    from knowledge.embedding import resolve_model_path

    return CrossEncoder(str(resolve_model_path(name)), device="cpu", local_files_only=True)


class KnowledgeBase:
    """Everything on the knowledge side for one collection.

    Use :meth:`open`; call :meth:`close` when done (local mode holds a folder lock).

    ``lock`` (re-entrant) serialises the index's readers and writers within the process: Qdrant
    local mode is not meant for concurrent calls from several threads, and a sync's writes and
    the refresh of the in-memory copies must not interleave with a retrieval.
    """

    def __init__(self, settings: KnowledgeSettings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.lock = threading.RLock()
        self.client = open_client(settings)
        self.index = QdrantIndex(
            self.client,
            settings.collection,
            embedder.dim,
            local=settings.in_memory_copies,
            layout=ServerLayout.from_settings(settings),
        )
        self.sparse = SparseEncoder(avg_doc_len=settings.chunk_size * TERMS_PER_TOKEN)
        self.chunker = Chunker(
            embedder.tokenizer_length_fn(),
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            base_url=settings.source_base_url,
        )
        # An empty collection answers "nothing found" (abstention) instead of "no collection".
        try:
            self.index.ensure_collection()
        except Exception as exc:
            self.client.close()  # release the local-mode folder lock for the next opener
            if settings.qdrant_url and index_unreachable(exc):
                raise IndexUnavailableError(
                    f"Cannot reach the Qdrant server at {settings.qdrant_url} ({exc}). Start it "
                    "or check QDRANT_URL; 'supportbot doctor' checks the whole setup."
                ) from exc
            raise
        local = settings.in_memory_copies
        # Local mode only: an in-memory copy of the sparse vectors for fast sparse search (local
        # mode scores sparse vectors in a Python loop). A server has a real inverted index.
        self.local_sparse = LocalSparseIndex(self.client, settings.collection) if local else None
        # Local mode only: matrix copies for fast (and fast filtered) vector search.
        self.local_dense = (
            LocalVectorIndex(self.client, settings.collection, DENSE) if local else None
        )
        self.local_sentences = (
            LocalVectorIndex(self.client, settings.collection, SENTENCES)
            if local and settings.sentence_vectors
            else None
        )
        reranker = load_reranker(settings.rerank_model) if settings.rerank_model else None
        self.retriever = self.make_retriever(reranker=reranker)
        self.vocabulary = Vocabulary((), self.sparse)
        self.calibrations: dict[str, Calibration] = {}
        self.boilerplate: set[str] = set()
        self.statistics_id: str | None = None
        """The :data:`~knowledge.index.STATISTICS_KEY` of the statistics in use."""
        self._load_calibration()

    @classmethod
    def open(cls, settings: KnowledgeSettings) -> KnowledgeBase:
        """Load the embedding model (shared per process) and connect to Qdrant.

        Raises:
            knowledge.embedding.ModelNotFoundError, knowledge.index.IndexLockedError,
            knowledge.index.IndexUnavailableError (server mode, the server cannot be reached)
        """
        embedder = get_embedder(
            settings.embedding_model,
            batch_size=settings.embedding_batch_size,
            threads=settings.embedding_threads,
            quantize=settings.embedding_quantize,
        )
        return cls(settings, embedder)

    @property
    def fingerprint(self) -> str:
        """Changes when a setting that shapes the stored vectors changes."""
        s = self.settings
        return (
            f"{s.embedding_model}|{s.chunk_size}|{s.chunk_overlap}|{s.source_base_url}"
            f"|sentences={s.sentence_vectors}|v5"
            + (f"|{s.embedding_quantize}" if s.embedding_quantize != "none" else "")
        )

    def make_retriever(
        self,
        *,
        mode: Mode = "hybrid",
        fusion: str | None = None,
        reranker: Any | None = None,
        sentences: bool | None = None,
    ) -> Retriever:
        """A retriever over this collection with other options (used by the evaluation);
        ``sentences`` defaults to the ``sentence_vectors`` setting."""
        return Retriever(
            self.client,
            self.settings.collection,
            self.embedder,
            self.sparse,
            mode=mode,
            fusion=fusion or self.settings.fusion,  # type: ignore[arg-type]
            reranker=reranker,
            local_sparse=self.local_sparse,
            sentences=self.settings.sentence_vectors if sentences is None else sentences,
            local_dense=self.local_dense,
            local_sentences=self.local_sentences,
            sentence_rescore=self.settings.sentence_rescore,
        )

    def sync(
        self,
        sources: Sequence[Source],
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        console: Console | None = None,
        progress: bool = True,
        recalibrate: bool = True,
    ) -> SyncReport:
        """Sync sources into the index (blocking; see :mod:`knowledge.sync`). When anything
        changed, the in-memory copies are refreshed with the writes, and (unless
        ``recalibrate`` is false: the caller then runs :meth:`recalibrate` itself, as the
        running bot does in the background) the vocabulary, the boilerplate keys and the
        abstention calibration after them."""
        syncer = Syncer(
            self.index,
            self.embedder,
            self.sparse,
            self.chunker,
            fingerprint=self.fingerprint,
            default_audience=self.settings.default_audience,
            sentence_vectors=self.settings.sentence_vectors,
            known_boilerplate=self.boilerplate,
            lock=self.lock,
        )
        report = syncer.run(
            sources,
            dry_run=dry_run,
            allow_mass_delete=allow_mass_delete,
            console=console,
            progress=progress,
            on_written=self._refresh_copies,
        )
        if report.wrote:
            self.boilerplate |= report.boilerplate
            if recalibrate:
                self.recalibrate()
        return report

    def _refresh_copies(self) -> None:
        """Reload the local-mode in-memory copies, or let Qdrant Edge index what was written
        (called under :attr:`lock` after writes)."""
        for copy in (self.local_sparse, self.local_dense, self.local_sentences):
            if copy is not None:
                copy.refresh()
        optimize_index(self.client, self.settings.collection)

    def folder_source(self, path: Path, *, audience: str | None = None) -> Source:
        """The ad-hoc source of ``supportbot ingest PATH``: the folder (or file), with bare
        relative paths as document ids and the configured ``source_base_url``; its id is the
        resolved path, so pruning never reaches documents ingested from elsewhere."""
        config = SourceConfig(
            id="path",
            kind="folder",
            location=str(path),
            audience=audience,  # type: ignore[arg-type]
            base_url=self.settings.source_base_url,
            prefix_ids=False,
        )
        # The id pattern is for sources files; an ad-hoc source is named by its path.
        return make_source(config.model_copy(update={"id": f"path:{path.resolve()}"}))

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        audience: str | None = None,
        allow_mass_delete: bool = False,
        console: Console | None = None,
        progress: bool = True,
    ) -> SyncReport:
        """Sync files/folders as ad-hoc sources (blocking): new and changed files are indexed,
        files gone from a folder removed; ``audience`` defaults to the configured default."""
        sources = [self.folder_source(p, audience=audience) for p in paths]
        return self.sync(
            sources, allow_mass_delete=allow_mass_delete, console=console, progress=progress
        )

    # -- calibration ---------------------------------------------------------------------------
    def _load_calibration(self) -> None:
        """Read the vocabulary and calibration stored with the collection; compute them when a
        non-empty collection has none (made by an older version) or one of another method or
        embedding model."""
        meta = self.index.metadata()
        if not self._apply_statistics(meta) and self.index.count():
            log.info("calibrating abstention for collection %r", self.settings.collection)
            self.recalibrate()

    def _apply_statistics(self, meta: dict[str, Any]) -> bool:
        """Take the boilerplate keys, calibrations and vocabulary from the collection metadata
        ``meta``; false (calibrations and vocabulary left as they are) when the calibrations
        are missing or of another method or embedding model."""
        self.boilerplate |= set(meta.get(BOILERPLATE_KEY) or ())
        try:
            stored = {
                audience: Calibration.from_dict(d)
                for audience, d in dict(meta[CALIBRATION_KEY]).items()
                if d is not None
            }
        except (KeyError, TypeError, ValueError, AttributeError):
            stored = {}
        stale = "internal" not in stored or any(
            c.method != METHOD or c.model != self.settings.embedding_model for c in stored.values()
        )
        if stale:
            return False
        self.vocabulary = Vocabulary(meta.get(VOCABULARY_KEY) or (), self.sparse)
        self.calibrations = stored
        self.statistics_id = meta.get(STATISTICS_KEY)
        return True

    def reload_statistics(self) -> bool:
        """Take the vocabulary, boilerplate keys and calibrations from the collection when
        another process (a sync worker beside bots that share a Qdrant server) rewrote them
        since this one last read or wrote them (blocking: one collection-info request). Returns
        whether anything was reloaded."""
        with self.lock:
            meta = self.index.metadata()
        if meta.get(STATISTICS_KEY) in (None, self.statistics_id):
            return False
        return self._apply_statistics(meta)

    @property
    def calibration(self) -> Calibration | None:
        """The calibration over the whole collection (the ``internal`` audience's)."""
        return self.calibrations.get("internal")

    def calibration_for(self, audience: str) -> Calibration | None:
        """The calibration of an audience's view of the collection: its own when some chunks
        are hidden from it, else the whole collection's; ``None`` before any ingestion."""
        return self.calibrations.get(audience) or self.calibration

    def support_of(self, questions: Sequence[str], *, audience: str = "internal") -> list[float]:
        """The support score (:func:`knowledge.calibration.support_score`) of each question,
        retrieved as the engine retrieves a question (blocking)."""
        out = []
        for q in questions:
            with self.lock:  # per question: a sync's writes wait for one retrieval at most
                hits = self.retriever.retrieve(q, audience=audience, limit=RETRIEVAL_DEPTH).hits
            out.append(support_score(keep_top_sources(hits, SUPPORT_SOURCES)))
        return out

    def recalibrate(self) -> Calibration | None:
        """Rebuild the vocabulary, the boilerplate keys and the abstention calibrations (the whole
        collection's and, when some chunks are internal, the public view's) and store them in
        the collection's metadata (blocking; seconds: 120 retrievals per audience). Returns the
        whole collection's calibration; ``None`` for an empty collection, which keeps none."""
        with self.lock:
            chunks = self.index.all_chunks()
        self.vocabulary = Vocabulary.from_texts((c.embedding_text for c in chunks), self.sparse)
        by_doc: dict[str, list[str]] = {}
        for c in chunks:
            by_doc.setdefault(c.doc_id, []).append(c.text)
        # Keys found before stay: the copies they stripped no longer count towards them.
        self.boilerplate |= boilerplate_sentences(by_doc)
        model = self.settings.embedding_model
        calibrations: dict[str, Calibration] = {}
        if chunks:
            calibrations["internal"] = calibrate(self.support_of, n_chunks=len(chunks), model=model)
            public = sum(1 for c in chunks if c.audience == "public")
            if 0 < public < len(chunks):  # a public view that differs from the whole
                calibrations["public"] = calibrate(
                    lambda qs: self.support_of(qs, audience="public"),
                    n_chunks=public,
                    model=model,
                    audience="public",
                )
        self.calibrations = calibrations  # one assignment: answers never see a partial one
        self.statistics_id = uuid.uuid4().hex
        with self.lock:
            self.index.set_metadata(
                {
                    CALIBRATION_KEY: {a: c.to_dict() for a, c in calibrations.items()},
                    VOCABULARY_KEY: self.vocabulary.words,
                    BOILERPLATE_KEY: sorted(self.boilerplate),
                    STATISTICS_KEY: self.statistics_id,
                }
            )
        return self.calibration

    def is_boilerplate(self, sentence: str) -> bool:
        """Whether ``sentence`` is boilerplate repeated across this corpus's documents
        (:mod:`knowledge.furniture`), e.g. a disclaimer indexed before its third copy arrived."""
        return bool(self.boilerplate) and is_boilerplate(sentence, self.boilerplate)

    def unknown_terms(self, text: str) -> list[str]:
        """Content words of ``text`` that the corpus does not know, typos tolerated (see
        :mod:`knowledge.vocabulary`)."""
        return self.vocabulary.unknown_terms(text)

    def retrieve(
        self,
        query: str,
        *,
        audience: str = "public",
        limit: int = 10,
        context: str | None = None,
        vectors: NDArray[np.float32] | None = None,
    ) -> RetrievalResult:
        """See :meth:`knowledge.retrieval.Retriever.retrieve` (blocking; takes :attr:`lock`
        for the search, not for embedding the query)."""
        if vectors is None:
            vectors = self.embedder.embed(Retriever.query_texts(query, context))
        with self.lock:
            return self.retriever.retrieve(
                query, audience=audience, limit=limit, context=context, vectors=vectors
            )

    def close(self) -> None:
        """Release the Qdrant client (and the local-mode folder lock)."""
        self.client.close()
