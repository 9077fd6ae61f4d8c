"""The Qdrant collection: one point per chunk, with three named vectors.

- ``dense``: the embedding of the chunk (with its context header), cosine.
- ``bm25``: BM25 term weights, sparse, with Qdrant's IDF modifier.
- ``sentences``: a multivector, one embedding per sentence of the chunk, compared with MaxSim
  (Qdrant multivectors; Khattab & Zaharia 2020, ColBERT). A query vector's score against a chunk
  is its best sentence's cosine: a precise statement buried in a long chunk still ranks the
  chunk (Chen et al. 2023, "Dense X Retrieval", finds finer units retrieve better with dense
  models; we keep both granularities and fuse them).

Qdrant Edge (:mod:`knowledge.edge`, a folder in the data directory) is the embedded default,
qdrant-client's local mode the earlier one (``index_engine``); ``QDRANT_URL`` (and
``QDRANT_API_KEY``) switch to a Qdrant server or cluster with no code change. Point ids are
UUID5s of (document id, chunk index), so re-ingesting a document overwrites its points instead
of duplicating them.

We talk to Qdrant through ``qdrant-client`` rather than llama-index's ``QdrantVectorStore``
because hybrid search here is fused by Qdrant itself (the Query API's RRF/DBSF), with an
IDF-modified sparse vector; the llama-index store fuses dense and sparse results client-side.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx
import numpy as np
from numpy.typing import NDArray
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from knowledge.chunking import Chunk
from knowledge.errors import KnowledgeError
from knowledge.settings import KnowledgeSettings
from knowledge.sparse import SparseVector

DENSE = "dense"
SPARSE = "bm25"
SENTENCES = "sentences"
# Keyword payload indexes a server collection gets (filters by audience, sync by document).
PAYLOAD_INDEXES = ("audience", "doc_id", "origin", "doc_hash")
PENDING = "pending"
"""Payload flag of points a sync has written but not yet published: searches, the document
list and the chunk reads leave them out, so a document being replaced is seen whole in its old
version until its new one is complete (also by other processes on a server, and after a crash
mid-write, whose leftovers the next sync deletes). Its value is ``true`` or the key is absent
(publishing deletes it), so filters test the key's presence (:data:`PUBLISHED`,
:data:`UNPUBLISHED`), not its value: presence is answered from the payload index on every
engine, and Qdrant Edge 0.9.0 cannot match a bool value (it reads ``True`` as the integer 1)."""
PUBLISHED: qm.Condition = qm.IsEmptyCondition(is_empty=qm.PayloadField(key=PENDING))
"""Filter condition of published points (no ``pending`` key)."""
UNPUBLISHED: qm.Condition = qm.Filter(must_not=[PUBLISHED])
"""Filter condition of points a sync wrote but has not published (a ``pending`` key)."""
# Keys of the collection metadata (Qdrant collection ``metadata``) that this project writes.
CALIBRATION_KEY = "supportbot_calibration"
VOCABULARY_KEY = "supportbot_vocabulary"
BOILERPLATE_KEY = "supportbot_boilerplate"
STATISTICS_KEY = "supportbot_statistics_id"
"""A new random id each time the three above are rewritten: a process that did not write them
(a bot beside a sync worker, against a server) sees that they changed by reading it."""


def scroll_vectors(
    client: QdrantClient, collection: str, using: str, *, batch: int = 1024
) -> Iterator[tuple[Any, bool, Any]]:
    """Every published point's ``(id, is public, vector named using or None)``; nothing if the
    collection does not exist. Feeds the in-memory copies that local mode searches."""
    if not client.collection_exists(collection):
        return
    offset: Any = None
    while True:
        points, offset = client.scroll(
            collection,
            limit=batch,
            offset=offset,
            with_payload=["audience", PENDING],
            with_vectors=[using],
        )
        for p in points:
            payload = p.payload or {}
            if payload.get(PENDING):
                continue  # not published (see PENDING)
            vector = p.vector.get(using) if isinstance(p.vector, dict) else None
            yield p.id, payload.get("audience") == "public", vector
        if offset is None:
            return


@dataclass(frozen=True)
class ServerLayout:
    """How a collection created on a Qdrant server or cluster is laid out (Qdrant's collection
    parameters, "Distributed deployment" and "Quantization" in the Qdrant docs; local mode
    ignores them).

    Attributes:
        shards: ``shard_number``; more shards than nodes lets a cluster grow by moving shards.
        replicas: ``replication_factor``; 2 keeps every shard readable while a node is down.
        write_consistency: ``write_consistency_factor``, replicas that acknowledge a write
            before it returns (1 ≤ it ≤ ``replicas``).
        on_disk: original vectors and payload memory-mapped from disk instead of RAM.
        quantization: ``int8`` scalar quantisation (quantile 0.99, the Qdrant docs' example)
            of the dense and sentence vectors, held in RAM (``always_ram``) with the originals
            used to rescore; 4× less vector RAM.
        sentence_graph: the sentence vectors get an HNSW graph (and, with ``quantization``, an
            int8 copy) so that they can be searched on their own. ``False`` (the
            ``sentence_rescore`` setting): they only re-score the other lists' candidates by
            MaxSim, so they get neither (``m = 0``, no quantisation): at 1M chunks that is
            2.3–3.1 GB of int8 copies (6–8 sentences per chunk × 384 B) and the slowest graph
            to build, neither of which the search would use (README, "Sizing").
        sentence_datatype: how the sentence vectors are stored (Qdrant's ``datatype``):
            ``float32`` (1,536 B per 384-d vector), ``float16`` (768 B) or ``turbo8``
            (TurboQuant 8-bit: a random rotation and 8-bit codes, 388 B; Qdrant 1.19+). The
            sentence vectors are 6–8 per chunk, so they are most of an index's bytes.
    """

    shards: int = 1
    replicas: int = 1
    write_consistency: int = 1
    on_disk: bool = False
    quantization: str = "none"
    sentence_graph: bool = True
    sentence_datatype: str = "float32"

    @classmethod
    def from_settings(cls, settings: KnowledgeSettings) -> ServerLayout:
        """The layout the ``qdrant_*`` settings describe."""
        return cls(
            shards=settings.qdrant_shards,
            replicas=settings.qdrant_replicas,
            write_consistency=settings.qdrant_write_consistency,
            on_disk=settings.qdrant_on_disk,
            quantization=settings.qdrant_quantization,
            sentence_graph=not settings.sentence_rescore,
            sentence_datatype=settings.sentence_datatype,
        )

    def vector_params(self, name: str, params: qm.VectorParams) -> qm.VectorParams:
        """The parameters vector ``name`` is created with: ``params`` (size, distance,
        multivector) stored on disk when :attr:`on_disk`, with an int8 copy when
        :attr:`quantization` is ``int8``; the sentence vectors get neither graph (``m = 0``)
        nor copy unless :attr:`sentence_graph`, and are stored as :attr:`sentence_datatype`.
        Quantisation is set per vector, not for the collection, because Qdrant's create
        request cannot exempt one vector from the collection's."""
        update: dict[str, Any] = {
            "on_disk": True if self.on_disk else params.on_disk,
            "quantization_config": self.quantization_config(),
            "hnsw_config": None,
        }
        if name == SENTENCES:
            if not self.sentence_graph:
                update.update(quantization_config=None, hnsw_config=qm.HnswConfigDiff(m=0))
            if self.sentence_datatype != "float32":
                update["datatype"] = qm.Datatype(self.sentence_datatype)
        return params.model_copy(update=update)

    def quantization_config(self) -> qm.ScalarQuantization | None:
        """The int8 scalar quantisation :attr:`quantization` asks for, or ``None``."""
        if self.quantization != "int8":
            return None
        return qm.ScalarQuantization(
            scalar=qm.ScalarQuantizationConfig(
                type=qm.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )

    def collection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``QdrantClient.create_collection`` beyond the vectors."""
        return {
            "shard_number": self.shards,
            "replication_factor": self.replicas,
            "write_consistency_factor": self.write_consistency,
            "on_disk_payload": self.on_disk,
        }


@dataclass(frozen=True)
class IndexedDoc:
    """What the index holds of one document (see :meth:`QdrantIndex.documents`)."""

    doc_hash: str
    source_hash: str
    version: str | None
    chunks: int
    title: str = ""
    uri: str = ""
    audience: str = ""


def sparse_params(*, on_disk: bool = False) -> qm.SparseVectorParams:
    """The BM25 vectors' parameters: Qdrant's IDF modifier (the engine supplies BM25's IDF
    from its own document counts), the inverted index on disk when ``on_disk``."""
    return qm.SparseVectorParams(
        modifier=qm.Modifier.IDF, index=qm.SparseIndexParams(on_disk=True) if on_disk else None
    )


class IndexUnavailableError(KnowledgeError):
    """The Qdrant server cannot be reached, drops the connection, answers 5xx or does not
    answer within ``qdrant_timeout_s``."""


_UNAVAILABLE_STATUS = frozenset({502, 503, 504})


def index_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the Qdrant server is down or
    unreachable, rather than a bug or a bad request.

    True for :class:`IndexUnavailableError`, qdrant-client's ``ResponseHandlingException``
    around an ``httpx.TransportError`` (refused, reset or dropped connections, timeouts), and an
    ``UnexpectedResponse`` of 502, 503 or 504 (a proxy or a node that is down). Other errors,
    the LLM's and the database's included, are not.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, IndexUnavailableError):
            return True
        if isinstance(current, ResponseHandlingException) and isinstance(
            current.source, httpx.TransportError
        ):
            return True
        if isinstance(current, UnexpectedResponse) and current.status_code in _UNAVAILABLE_STATUS:
            return True
        current = current.__cause__ or current.__context__
    return False


class IndexLockedError(KnowledgeError):
    """Qdrant local mode allows one process per storage folder and another one holds it."""


class IndexDimensionError(KnowledgeError):
    """The collection was built with another embedding model (vector size differs)."""


class IndexSchemaError(KnowledgeError):
    """The collection was created by an older version, without a vector this one needs."""


def open_client(settings: KnowledgeSettings) -> QdrantClient:
    """Connect to the configured Qdrant: a server if ``qdrant_url`` is set, else the embedded
    engine of ``settings.engine`` (Qdrant Edge through
    :class:`knowledge.edge.EdgeClient`, which answers the same calls, or local mode).

    Raises:
        IndexLockedError: embedded, and another process uses the same folder.
    """
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantClient(url=settings.qdrant_url, api_key=key, timeout=settings.qdrant_timeout_s)
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    try:
        if settings.engine == "edge":
            from knowledge.edge import EdgeClient

            # EdgeClient implements the part of QdrantClient that supportbot calls.
            return cast(QdrantClient, EdgeClient(settings.qdrant_path))
        return QdrantClient(path=str(settings.qdrant_path))
    except RuntimeError as exc:  # local mode's message, or knowledge.edge.EngineLockedError
        if "already accessed" not in str(exc) and "held by another" not in str(exc):
            raise
        raise IndexLockedError(
            f"The index at {settings.qdrant_path} is in use by another supportbot process "
            "(the embedded index allows one process per folder). Stop that process (e.g. a "
            "running 'supportbot serve' or 'chat'), use another SUPPORTBOT_DATA_DIR, or run a "
            "Qdrant server and set QDRANT_URL so several processes can share the index."
        ) from None


def optimize_index(client: QdrantClient, collection: str) -> None:
    """Let an embedded Qdrant Edge build its HNSW graphs and quantised copies after writes
    (:meth:`knowledge.edge.EdgeClient.optimize`, blocking); nothing for local mode, which has
    none, or a server, whose optimiser runs by itself."""
    optimize = getattr(client, "optimize", None)
    if optimize is not None:
        optimize(collection)


class QdrantIndex:
    """Create, fill and prune the chunk collection.

    Args:
        client: an open Qdrant client.
        collection: collection name.
        dim: dense vector size of the embedding model.
        local: the client is Qdrant local mode (no payload indexes or layout there; Edge
            takes both, less the cluster's shards and replicas).
        layout: how a collection this creates on a server is laid out (default: one shard,
            one replica, in RAM).
    """

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        dim: int,
        *,
        local: bool,
        layout: ServerLayout | None = None,
    ) -> None:
        self.client = client
        self.collection = collection
        self.dim = dim
        self.is_local = local
        self.layout = layout or ServerLayout()

    def ensure_collection(self) -> None:
        """Create the collection if missing.

        Raises:
            IndexDimensionError: it exists with another dense vector size.
            IndexSchemaError: it exists without the sentence vectors (an older version made it).
        """
        if self.client.collection_exists(self.collection):
            info = self.client.get_collection(self.collection)
            vectors = info.config.params.vectors
            size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
            if size != self.dim:
                raise IndexDimensionError(
                    f"Collection {self.collection!r} holds {size}-d vectors but the embedding "
                    f"model makes {self.dim}-d ones; use another collection name or re-create it "
                    "with 'supportbot ingest --rebuild'."
                )
            if not isinstance(vectors, dict) or SENTENCES not in vectors:
                raise IndexSchemaError(
                    f"Collection {self.collection!r} was created by an older supportbot without "
                    "sentence vectors; re-create it with 'supportbot ingest --rebuild DOCS'."
                )
            return
        dense = qm.VectorParams(size=self.dim, distance=qm.Distance.COSINE)
        sentences = qm.VectorParams(
            size=self.dim,
            distance=qm.Distance.COSINE,
            multivector_config=qm.MultiVectorConfig(comparator=qm.MultiVectorComparator.MAX_SIM),
        )
        layout = ServerLayout() if self.is_local else self.layout  # local mode: no layout
        self.client.create_collection(
            self.collection,
            vectors_config={
                DENSE: layout.vector_params(DENSE, dense),
                SENTENCES: layout.vector_params(SENTENCES, sentences),
            },
            sparse_vectors_config={SPARSE: sparse_params(on_disk=layout.on_disk)},
            **({} if self.is_local else layout.collection_kwargs()),
        )
        if not self.is_local:  # payload indexes only matter on a server
            for field in PAYLOAD_INDEXES:
                self.client.create_payload_index(
                    self.collection, field, field_schema=qm.PayloadSchemaType.KEYWORD
                )
            self.client.create_payload_index(
                self.collection, PENDING, field_schema=qm.PayloadSchemaType.BOOL
            )

    def metadata(self) -> dict[str, Any]:
        """The collection's metadata (empty if none, or no collection)."""
        if not self.client.collection_exists(self.collection):
            return {}
        return dict(self.client.get_collection(self.collection).config.metadata or {})

    def set_metadata(self, values: dict[str, Any]) -> None:
        """Merge ``values`` (JSON-serialisable) into the collection's metadata."""
        self.client.update_collection(self.collection, metadata=values)

    def documents(self, origin: str) -> dict[str, IndexedDoc]:
        """``doc_id → IndexedDoc`` of every document indexed from the source ``origin`` (one
        filtered scroll over the payloads; unpublished points left out; several versions of a
        document, seen only in the moment of a replacement, report the newest written)."""
        out: dict[str, IndexedDoc] = {}
        if not self.client.collection_exists(self.collection):
            return out
        offset: Any = None
        flt = qm.Filter(must=[qm.FieldCondition(key="origin", match=qm.MatchValue(value=origin))])
        while True:
            points, offset = self.client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=1024,
                offset=offset,
                with_payload=[
                    "doc_id",
                    "doc_hash",
                    "source_hash",
                    "version",
                    "audience",
                    "title",
                    "uri",
                    PENDING,
                ],
                with_vectors=False,
            )
            for p in points:
                payload = p.payload or {}
                if payload.get(PENDING):
                    continue  # a version not published yet (or left by a crash)
                doc_id = str(payload["doc_id"])
                prev = out.get(doc_id)
                out[doc_id] = IndexedDoc(
                    doc_hash=str(payload["doc_hash"]),
                    source_hash=str(payload.get("source_hash") or ""),
                    version=payload.get("version"),
                    chunks=(prev.chunks if prev else 0) + 1,
                    title=str(payload.get("title") or doc_id),
                    uri=str(payload.get("uri") or ""),
                    audience=str(payload.get("audience") or ""),
                )
            if offset is None:
                return out

    def delete_versions(self, origin: str, doc_id: str, *, keep_hash: str | None = None) -> None:
        """Delete the points of a document of ``origin`` (and any left by versions before
        sources, which have no origin), except those of the version ``keep_hash``."""
        must_not: list[qm.Condition] = (
            [qm.FieldCondition(key="doc_hash", match=qm.MatchValue(value=keep_hash))]
            if keep_hash
            else []
        )
        self.client.delete(
            self.collection,
            points_selector=qm.FilterSelector(
                filter=qm.Filter(
                    must=[
                        qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id)),
                        qm.Filter(
                            should=[
                                qm.FieldCondition(key="origin", match=qm.MatchValue(value=origin)),
                                qm.IsEmptyCondition(is_empty=qm.PayloadField(key="origin")),
                            ]
                        ),
                    ],
                    must_not=must_not,
                )
            ),
            wait=True,
        )

    def upsert(
        self,
        chunks: Sequence[Chunk],
        dense: NDArray[np.float32],
        sparse: Sequence[SparseVector],
        sentences: Sequence[NDArray[np.float32]] | None = None,
        batch_size: int = 256,
        *,
        pending: bool = False,
    ) -> None:
        """Write chunks with their vectors.

        Args:
            dense: shape ``(len(chunks), dim)``.
            sparse: one BM25 vector per chunk.
            sentences: per chunk, shape ``(n_sentences ≥ 1, dim)``; ``None`` stores none (the
                chunk is then invisible to sentence search).
            pending: write them unpublished (:data:`PENDING`); :meth:`publish` shows them.
        """
        for start in range(0, len(chunks), batch_size):
            points = []
            for i, (c, s) in enumerate(
                zip(
                    chunks[start : start + batch_size],
                    sparse[start : start + batch_size],
                    strict=True,
                )
            ):
                vector: dict[str, Any] = {
                    DENSE: dense[start + i].tolist(),
                    SPARSE: qm.SparseVector(indices=s.indices, values=s.values),
                }
                if sentences is not None:
                    vector[SENTENCES] = sentences[start + i].tolist()
                payload = c.payload() | ({PENDING: True} if pending else {})
                points.append(qm.PointStruct(id=c.chunk_id, vector=vector, payload=payload))
            self.client.upsert(self.collection, points=points, wait=True)

    def publish(self, doc_id: str, doc_hash: str) -> None:
        """Make the pending points of one version of a document visible (one filtered payload
        update: a version is published whole)."""
        self.client.delete_payload(
            self.collection,
            keys=[PENDING],
            points=qm.FilterSelector(
                filter=qm.Filter(
                    must=[
                        qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id)),
                        qm.FieldCondition(key="doc_hash", match=qm.MatchValue(value=doc_hash)),
                    ]
                )
            ),
            wait=True,
        )

    def delete_pending(self, origin: str | None = None) -> None:
        """Delete unpublished points (of the source ``origin``, or all): what a sync that was
        killed while writing left behind."""
        must: list[qm.Condition] = [UNPUBLISHED]
        if origin is not None:
            must.append(qm.FieldCondition(key="origin", match=qm.MatchValue(value=origin)))
        self.client.delete(
            self.collection,
            points_selector=qm.FilterSelector(filter=qm.Filter(must=must)),
            wait=True,
        )

    def pending_count(self) -> int:
        """Unpublished points in the collection (0 but while a sync writes, or after a crash)."""
        if not self.client.collection_exists(self.collection):
            return 0
        flt = qm.Filter(must=[UNPUBLISHED])
        return self.client.count(self.collection, count_filter=flt, exact=True).count

    def ping(self) -> None:
        """Check that the index answers and holds the collection (blocking: one round trip in
        server mode).

        Raises:
            KnowledgeError: the collection does not exist (nothing was ingested, or another
                collection name is configured).
            Exception: whatever qdrant-client raises when the server cannot be reached.
        """
        if not self.client.collection_exists(self.collection):
            raise KnowledgeError(
                f"collection {self.collection!r} does not exist: run 'supportbot ingest' or "
                "check SUPPORTBOT_COLLECTION"
            )

    def count(self) -> int:
        """Number of chunks in the collection (0 if it does not exist)."""
        if not self.client.collection_exists(self.collection):
            return 0
        return self.client.count(self.collection, exact=True).count

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """``chunk_id → Chunk`` of those of ``chunk_ids`` the collection holds published (point
        ids are chunk ids; ids not found are left out)."""
        if not chunk_ids or not self.client.collection_exists(self.collection):
            return {}
        points = self.client.retrieve(
            self.collection, list(dict.fromkeys(chunk_ids)), with_payload=True
        )
        return {
            str(p.id): Chunk.from_payload(p.payload or {})
            for p in points
            if not (p.payload or {}).get(PENDING)
        }

    def all_chunks(self) -> list[Chunk]:
        """Every published chunk's payload (for baselines, calibration and diagnostics; reads the
        whole collection)."""
        out: list[Chunk] = []
        offset: Any = None
        while True:
            points, offset = self.client.scroll(
                self.collection, limit=1024, offset=offset, with_payload=True, with_vectors=False
            )
            out.extend(
                Chunk.from_payload(p.payload or {})
                for p in points
                if not (p.payload or {}).get(PENDING)
            )
            if offset is None:
                return sorted(out, key=lambda c: (c.doc_id, c.chunk_index))
