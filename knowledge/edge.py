"""Qdrant Edge as the embedded index: the Qdrant engine in-process, behind qdrant-client's API.

`Qdrant Edge <https://qdrant.tech/documentation/edge/>`_ (``qdrant-edge-py``, beta, pinned)
runs the server's own engine inside the process: HNSW, scalar quantisation, the Query API's
prefetches with RRF/DBSF fusion, MaxSim multivectors, sparse vectors with the IDF modifier and
payload filters, in the server's data format. qdrant-client's local mode, the other embedded
engine, is a pure-Python brute force meant for tests, which the product works around with
in-memory copies (:mod:`knowledge.local_sparse`, :mod:`knowledge.local_vectors`).

:class:`EdgeClient` answers the part of :class:`qdrant_client.QdrantClient` that supportbot
calls (collections, upsert, scroll, retrieve, count, delete, payload updates, ``query_points``
with prefetches and fusion), taking and returning qdrant-client's models. So the retriever, the
index, the sync, the answer memory, the feedback links and ``index migrate`` run one code path
against a server, a cluster or Edge, and the query is built and fused in the engine either way.

Layout: one Edge shard per collection in ``<root>/<collection>/``, and beside it
``<collection>.json`` with what Edge does not keep: the vector parameters as qdrant-client
models and the collection metadata (the calibration, vocabulary and boilerplate keys). A
``.lock`` file held with an exclusive ``portalocker`` lock (as qdrant-client's local mode
does) makes a second process fail at open with :class:`EngineLockedError`, not at first write.

Writes are searchable at once (Edge's appendable segments are searched exactly). Call
:meth:`EdgeClient.optimize` after a batch of writes: Edge then builds the HNSW graphs and the
quantised copies of segments past its indexing threshold (the server's optimiser does that in
the background; Edge only when asked).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import portalocker
import qdrant_edge as qe
from qdrant_client import models as qm

HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
FULL_SCAN_THRESHOLD = 10_000
"""Qdrant's defaults for the graph (``m``, ``ef_construct``; ``full_scan_threshold`` in KB of
vectors, below which a filtered search scans instead of walking the graph)."""
DENSE_EF = 512
SENTENCE_EF = 2048
"""HNSW beam widths (``hnsw_ef``) of single-vector and multivector searches. Measured by
``supportbot bench --scale`` at 10k synthetic chunks, recall of a prefetch's top 40 against
exact search: single vectors 0.64 at ef 128, 0.96 at 512; sentence multivectors (MaxSim over
their graph) 0.37 at 128, 0.68 at 512, 0.90 at 2048."""
OVERSAMPLING = 2.0
"""With quantisation, the quantised scores pick ``OVERSAMPLING ×`` the candidates and the
original vectors re-score them (Qdrant docs, "Quantization: searching with quantization")."""


class EngineLockedError(RuntimeError):
    """Another process (or another client in this one) holds the Edge folder."""


@dataclass(frozen=True)
class EdgeParams:
    """``CollectionConfig.params`` as qdrant-client models (what callers read)."""

    vectors: dict[str, qm.VectorParams]
    sparse_vectors: dict[str, qm.SparseVectorParams] | None


@dataclass(frozen=True)
class EdgeCollectionConfig:
    """The ``config`` of :class:`EdgeCollectionInfo`."""

    params: EdgeParams
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeCollectionInfo:
    """What :meth:`EdgeClient.get_collection` returns: the fields of qdrant-client's
    ``CollectionInfo`` that supportbot reads."""

    config: EdgeCollectionConfig
    points_count: int


def _point_id(pid: Any) -> Any:
    """Edge returns UUID ids as :class:`uuid.UUID`; qdrant-client gives them as strings."""
    return str(pid) if isinstance(pid, uuid.UUID) else pid


def _vector_to_qm(vector: Any) -> Any:
    """An Edge record's vectors in qdrant-client's shapes (sparse → ``qm.SparseVector``)."""
    if not isinstance(vector, dict):
        return vector
    return {
        name: qm.SparseVector(indices=list(v.indices), values=list(v.values))
        if isinstance(v, qe.SparseVector)
        else v
        for name, v in vector.items()
    }


def _vector_to_edge(vector: Any) -> Any:
    """A qdrant-client point's vector(s) as Edge takes them."""
    if isinstance(vector, qm.SparseVector):
        return qe.SparseVector(list(vector.indices), [float(x) for x in vector.values])
    if isinstance(vector, dict):
        return {name: _vector_to_edge(v) for name, v in vector.items()}
    return vector


def _match(match: Any) -> Any:
    if isinstance(match, qm.MatchValue):
        if isinstance(match.value, bool):
            # qdrant-edge-py 0.9.0 reads a bool as the integer 1 or 0, which matches no bool
            # payload: a silently empty result. Filter on the key's presence instead.
            raise NotImplementedError("Edge adapter: a match on a bool value")
        return qe.MatchValue(match.value)
    if isinstance(match, qm.MatchAny):
        return qe.MatchAny(list(match.any))  # type: ignore[arg-type]  # str or int ids
    if isinstance(match, qm.MatchExcept):
        return qe.MatchExcept(list(match.except_))  # type: ignore[arg-type]
    raise NotImplementedError(f"Edge adapter: match {type(match).__name__}")


def _condition(cond: Any) -> Any:
    if isinstance(cond, qm.Filter):
        return _filter(cond)
    if isinstance(cond, qm.FieldCondition):
        if cond.match is None:
            raise NotImplementedError(f"Edge adapter: field condition on {cond.key!r}")
        return qe.FieldCondition(cond.key, match=_match(cond.match))
    if isinstance(cond, qm.IsEmptyCondition):
        return qe.IsEmptyCondition(cond.is_empty.key)
    if isinstance(cond, qm.IsNullCondition):
        return qe.IsNullCondition(cond.is_null.key)
    if isinstance(cond, qm.HasIdCondition):
        return qe.HasIdCondition({_point_id(i) for i in cond.has_id})
    raise NotImplementedError(f"Edge adapter: condition {type(cond).__name__}")


def _conditions(conds: Any) -> list[Any] | None:
    if conds is None:
        return None
    items = conds if isinstance(conds, list) else [conds]
    return [_condition(c) for c in items]


def to_edge_filter(flt: qm.Filter | None) -> qe.Filter | None:
    """A qdrant-client filter as an Edge filter (``None`` stays ``None``; see :func:`_filter`)."""
    return None if flt is None else _filter(flt)


def _filter(flt: qm.Filter) -> qe.Filter:
    """``flt`` as an Edge filter: ``must``/``should``/``must_not`` of field matches, is-empty,
    is-null, has-id and nested filters.

    Raises:
        NotImplementedError: a condition the adapter does not translate (geo, range, …).
    """
    return qe.Filter(
        must=_conditions(flt.must),
        should=_conditions(flt.should),
        must_not=_conditions(flt.must_not),
    )


def _selector(selector: Any) -> list[Any] | qe.Filter:
    """A points selector (ids, ``PointIdsList``, ``FilterSelector`` or a filter) as ids or an
    Edge filter."""
    if isinstance(selector, qm.FilterSelector):
        return _filter(selector.filter)
    if isinstance(selector, qm.Filter):
        return _filter(selector)
    if isinstance(selector, qm.PointIdsList):
        return list(selector.points)
    return list(selector)


def _quantised(params: qm.VectorParams | None, collection: bool) -> bool:
    """Whether a vector with ``params`` has an int8 copy: its own ``quantization_config``, or
    the collection's (``collection``; shards made before quantisation was set per vector)."""
    return collection or (
        params is not None and isinstance(params.quantization_config, qm.ScalarQuantization)
    )


_DATATYPES = {
    qm.Datatype.FLOAT32: qe.VectorStorageDatatype.Float32,
    qm.Datatype.FLOAT16: qe.VectorStorageDatatype.Float16,
    qm.Datatype.UINT8: qe.VectorStorageDatatype.Uint8,
    qm.Datatype.TURBO8: qe.VectorStorageDatatype.Turbo8,
    qm.Datatype.TURBO16: qe.VectorStorageDatatype.Turbo16,
}
"""qdrant-client's vector datatypes and Edge's (Edge 0.9 has no ``turbo4``)."""


class _Collection:
    """One open shard and its sidecar (vector parameters and metadata)."""

    def __init__(self, shard: qe.EdgeShard, sidecar: Path) -> None:
        self.shard = shard
        self.sidecar = sidecar
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
        self.vectors = {k: qm.VectorParams.model_validate(v) for k, v in raw["vectors"].items()}
        self.sparse = {
            k: qm.SparseVectorParams.model_validate(v) for k, v in raw.get("sparse", {}).items()
        }
        self.metadata: dict[str, Any] = raw.get("metadata") or {}
        self.quantized: bool = bool(raw.get("quantized"))

    @staticmethod
    def write_sidecar(
        path: Path,
        vectors: dict[str, qm.VectorParams],
        sparse: dict[str, qm.SparseVectorParams],
        metadata: dict[str, Any],
        quantized: bool,
    ) -> None:
        """Write the sidecar atomically (a temporary file renamed over it)."""
        data = {
            "vectors": {
                k: v.model_dump(mode="json", exclude_none=True) for k, v in vectors.items()
            },
            "sparse": {k: v.model_dump(mode="json", exclude_none=True) for k, v in sparse.items()},
            "metadata": metadata,
            "quantized": quantized,
        }
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)

    def search_params(self, using: str | None, given: qm.SearchParams | None) -> qe.SearchParams:
        """The parameters of a search on vector ``using``: ``given`` where set, else the beam
        width of its kind (:data:`DENSE_EF`, :data:`SENTENCE_EF`) and, when quantised,
        rescoring with :data:`OVERSAMPLING`."""
        params = self.vectors.get(using or "")
        multi = params is not None and params.multivector_config is not None
        ef = SENTENCE_EF if multi else DENSE_EF
        quant = (
            qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
            if _quantised(params, self.quantized)
            else None
        )
        if given is None:
            return qe.SearchParams(hnsw_ef=ef, quantization=quant)
        if given.quantization is not None:
            quant = qe.QuantizationSearchParams(
                ignore=bool(given.quantization.ignore),
                rescore=given.quantization.rescore,
                oversampling=given.quantization.oversampling,
            )
        return qe.SearchParams(
            hnsw_ef=given.hnsw_ef or ef, exact=bool(given.exact), quantization=quant
        )


@dataclass(frozen=True)
class _Response:
    """``query_points``'s answer: ``.points``, as qdrant-client's ``QueryResponse``."""

    points: list[qm.ScoredPoint]


@dataclass(frozen=True)
class _Count:
    count: int


class EdgeClient:
    """The subset of :class:`qdrant_client.QdrantClient` that supportbot calls, on Qdrant Edge
    shards in ``path`` (see the module docstring).

    Thread-safe: Edge shards take concurrent reads and writes (the engine locks inside); the
    adapter's own table of open shards is guarded by a lock.

    Args:
        path: the folder (created if missing).

    Raises:
        EngineLockedError: another client holds ``path``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_file = (self.path / ".lock").open("a")
        try:
            portalocker.lock(
                self._lock_file,
                portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING,
            )
        except portalocker.exceptions.LockException:
            self._lock_file.close()
            raise EngineLockedError(f"{self.path} is held by another process") from None
        self._open: dict[str, _Collection] = {}
        self._guard = threading.RLock()
        self._closed = False

    # -- collections ---------------------------------------------------------------------------

    def _sidecar(self, name: str) -> Path:
        return self.path / f"{name}.json"

    def _get(self, name: str) -> _Collection:
        with self._guard:
            if self._closed:
                raise RuntimeError("EdgeClient is closed")
            col = self._open.get(name)
            if col is None:
                if not self.collection_exists(name):
                    raise ValueError(f"Collection {name} not found")
                col = _Collection(qe.EdgeShard.load(str(self.path / name)), self._sidecar(name))
                self._open[name] = col
            return col

    def collection_exists(self, collection_name: str) -> bool:
        """Whether the collection's shard and sidecar exist."""
        return (self.path / collection_name).is_dir() and self._sidecar(collection_name).exists()

    def create_collection(
        self,
        collection_name: str,
        vectors_config: dict[str, qm.VectorParams],
        sparse_vectors_config: dict[str, qm.SparseVectorParams] | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        on_disk_payload: bool | None = None,
        quantization_config: qm.QuantizationConfig | None = None,
        **_cluster: Any,
    ) -> bool:
        """Create a shard with these named vectors. A vector whose ``quantization_config`` is
        int8 scalar quantisation (the only kind :class:`~knowledge.index.ServerLayout` writes)
        gets an int8 copy, as does every vector when the collection's ``quantization_config``
        is; one whose ``hnsw_config.m`` is 0 gets no graph; ``datatype`` is the storage type
        (float16, turbo8, …; see :data:`_DATATYPES`). The cluster's ``shard_number``,
        ``replication_factor`` and ``write_consistency_factor`` have no meaning in one process
        and are ignored.

        Raises:
            ValueError: it exists already, or a vector's ``datatype`` is one Edge lacks
                (``turbo4``).
        """
        with self._guard:
            for key, p in vectors_config.items():
                if p.datatype is not None and p.datatype not in _DATATYPES:
                    raise ValueError(f"Qdrant Edge cannot store vector {key!r} as {p.datatype}")
            if self.collection_exists(collection_name):
                raise ValueError(f"Collection {collection_name} already exists")
            quant = qe.ScalarQuantizationConfig(
                type=qe.ScalarType.Int8, quantile=0.99, always_ram=True
            )
            collection_quantised = isinstance(quantization_config, qm.ScalarQuantization)
            distance = {
                qm.Distance.COSINE: qe.Distance.Cosine,
                qm.Distance.DOT: qe.Distance.Dot,
                qm.Distance.EUCLID: qe.Distance.Euclid,
            }
            vectors = {
                key: qe.EdgeVectorParams(
                    size=p.size,
                    distance=distance[p.distance],
                    on_disk=p.on_disk,
                    multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim)
                    if p.multivector_config is not None
                    else None,
                    quantization_config=quant if _quantised(p, collection_quantised) else None,
                    datatype=_DATATYPES[p.datatype] if p.datatype is not None else None,
                    hnsw_config=qe.HnswIndexConfig(
                        m=0, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=FULL_SCAN_THRESHOLD
                    )
                    if p.hnsw_config is not None and p.hnsw_config.m == 0
                    else None,
                )
                for key, p in vectors_config.items()
            }
            sparse = {
                key: qe.EdgeSparseVectorParams(
                    modifier=qe.Modifier.Idf if p.modifier == qm.Modifier.IDF else None
                )
                for key, p in (sparse_vectors_config or {}).items()
            }
            config = qe.EdgeConfig(
                vectors=vectors,
                sparse_vectors=sparse,
                on_disk_payload=bool(on_disk_payload),
                hnsw_config=qe.HnswIndexConfig(
                    m=HNSW_M,
                    ef_construct=HNSW_EF_CONSTRUCT,
                    full_scan_threshold=FULL_SCAN_THRESHOLD,
                ),
            )
            folder = self.path / collection_name
            shutil.rmtree(folder, ignore_errors=True)  # a half-made one (no sidecar)
            shard = qe.EdgeShard.create(str(folder), config)
            _Collection.write_sidecar(
                self._sidecar(collection_name),
                dict(vectors_config),
                dict(sparse_vectors_config or {}),
                dict(metadata or {}),
                collection_quantised,
            )
            self._open[collection_name] = _Collection(shard, self._sidecar(collection_name))
            return True

    def get_collection(self, collection_name: str) -> EdgeCollectionInfo:
        """The vector parameters, the metadata and the point count."""
        col = self._get(collection_name)
        return EdgeCollectionInfo(
            EdgeCollectionConfig(EdgeParams(col.vectors, col.sparse or None), dict(col.metadata)),
            col.shard.info().points_count,
        )

    def update_collection(
        self, collection_name: str, *, metadata: dict[str, Any] | None = None, **_: Any
    ) -> bool:
        """Merge ``metadata`` into the collection's (as a server's collection update does)."""
        with self._guard:
            col = self._get(collection_name)
            if metadata:
                col.metadata = {**col.metadata, **metadata}
                _Collection.write_sidecar(
                    col.sidecar, col.vectors, col.sparse, col.metadata, col.quantized
                )
            return True

    def delete_collection(self, collection_name: str) -> bool:
        """Close and remove the shard and its sidecar; whether it existed."""
        with self._guard:
            col = self._open.pop(collection_name, None)
            if col is not None:
                col.shard.close()
            existed = self.collection_exists(collection_name)
            self._sidecar(collection_name).unlink(missing_ok=True)
            shutil.rmtree(self.path / collection_name, ignore_errors=True)
            return existed

    def create_payload_index(
        self, collection_name: str, field_name: str, field_schema: Any = None, **_: Any
    ) -> None:
        """A keyword, bool, integer, float or uuid index on a payload field."""
        kinds = {
            qm.PayloadSchemaType.KEYWORD: qe.PayloadSchemaType.Keyword,
            qm.PayloadSchemaType.BOOL: qe.PayloadSchemaType.Bool,
            qm.PayloadSchemaType.INTEGER: qe.PayloadSchemaType.Integer,
            qm.PayloadSchemaType.FLOAT: qe.PayloadSchemaType.Float,
            qm.PayloadSchemaType.UUID: qe.PayloadSchemaType.Uuid,
        }
        self._get(collection_name).shard.update(
            qe.UpdateOperation.create_field_index(field_name, kinds[field_schema])
        )

    def optimize(self, collection_name: str) -> bool:
        """Build HNSW graphs and quantised copies where Edge's optimiser plans them (blocking);
        whether anything changed. A no-op for a collection that does not exist."""
        if not self.collection_exists(collection_name):
            return False
        col = self._get(collection_name)
        changed = col.shard.optimize()
        col.shard.flush()
        return changed

    # -- points --------------------------------------------------------------------------------

    def upsert(
        self, collection_name: str, points: Sequence[qm.PointStruct], wait: bool = True, **_: Any
    ) -> None:
        """Insert or overwrite points (qdrant-client ``PointStruct``s)."""
        if not points:
            return
        self._get(collection_name).shard.update(
            qe.UpdateOperation.upsert_points(
                [qe.Point(p.id, _vector_to_edge(p.vector), p.payload or {}) for p in points]
            )
        )

    def delete(
        self, collection_name: str, points_selector: Any, wait: bool = True, **_: Any
    ) -> None:
        """Delete points by ids or by a filter."""
        which = _selector(points_selector)
        op = (
            qe.UpdateOperation.delete_points_by_filter(which)
            if isinstance(which, qe.Filter)
            else qe.UpdateOperation.delete_points(which)
        )
        self._get(collection_name).shard.update(op)

    def set_payload(
        self, collection_name: str, payload: dict[str, Any], points: Any, **_: Any
    ) -> None:
        """Set payload keys on points given by ids or a filter."""
        which = _selector(points)
        op = (
            qe.UpdateOperation.set_payload_by_filter(which, payload)
            if isinstance(which, qe.Filter)
            else qe.UpdateOperation.set_payload(which, payload)
        )
        self._get(collection_name).shard.update(op)

    def delete_payload(
        self, collection_name: str, keys: Sequence[str], points: Any, **_: Any
    ) -> None:
        """Delete payload keys from points given by ids or a filter."""
        which = _selector(points)
        op = (
            qe.UpdateOperation.delete_payload_by_filter(which, list(keys))
            if isinstance(which, qe.Filter)
            else qe.UpdateOperation.delete_payload(which, list(keys))
        )
        self._get(collection_name).shard.update(op)

    def count(
        self, collection_name: str, count_filter: qm.Filter | None = None, exact: bool = True
    ) -> _Count:
        """``.count`` of the points (matching ``count_filter``)."""
        shard = self._get(collection_name).shard
        return _Count(
            shard.count(qe.CountRequest(exact=exact, filter=to_edge_filter(count_filter)))
        )

    def scroll(
        self,
        collection_name: str,
        scroll_filter: qm.Filter | None = None,
        limit: int = 10,
        offset: Any = None,
        with_payload: bool | Sequence[str] = True,
        with_vectors: bool | Sequence[str] = False,
        **_: Any,
    ) -> tuple[list[qm.Record], Any]:
        """A page of points in id order and the offset of the next page (``None`` at the end)."""
        records, next_offset = self._get(collection_name).shard.scroll(
            qe.ScrollRequest(
                offset=offset,
                limit=limit,
                filter=to_edge_filter(scroll_filter),
                with_payload=_with(with_payload),
                with_vector=_with(with_vectors),
            )
        )
        return [_record(r) for r in records], _point_id(next_offset)

    def retrieve(
        self,
        collection_name: str,
        ids: Sequence[Any],
        with_payload: bool | Sequence[str] = True,
        with_vectors: bool | Sequence[str] = False,
        **_: Any,
    ) -> list[qm.Record]:
        """The points of ``ids`` that exist."""
        if not ids:
            return []
        records = self._get(collection_name).shard.retrieve(
            list(ids), with_payload=_with(with_payload), with_vector=_with(with_vectors)
        )
        return [_record(r) for r in records]

    def query_points(
        self,
        collection_name: str,
        query: Any = None,
        using: str | None = None,
        prefetch: qm.Prefetch | Sequence[qm.Prefetch] | None = None,
        query_filter: qm.Filter | None = None,
        search_params: qm.SearchParams | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
        with_payload: bool | Sequence[str] = True,
        with_vectors: bool | Sequence[str] = False,
        **_: Any,
    ) -> _Response:
        """The Query API: a nearest-neighbour query on vector ``using`` (dense, multivector or
        sparse), or a fusion (``FusionQuery`` RRF or DBSF) of prefetches, each with its own
        filter and limit, nested prefetches included; ``.points`` best first."""
        col = self._get(collection_name)
        prefetches = [prefetch] if isinstance(prefetch, qm.Prefetch) else list(prefetch or [])
        request = qe.QueryRequest(
            limit,
            query=self._query(query, using),
            prefetches=[self._prefetch(col, p) for p in prefetches] or None,
            filter=to_edge_filter(query_filter),
            score_threshold=score_threshold,
            params=col.search_params(using, search_params)
            if query is not None and not isinstance(query, qm.FusionQuery)
            else None,
            with_payload=_with(with_payload),
            with_vector=_with(with_vectors),
        )
        return _Response(
            [
                qm.ScoredPoint(
                    id=_point_id(p.id),
                    version=p.version,
                    score=p.score,
                    payload=p.payload,
                    vector=_vector_to_qm(p.vector),
                )
                for p in col.shard.query(request)
            ]
        )

    def _query(self, query: Any, using: str | None) -> Any:
        if query is None:
            return None
        if isinstance(query, qm.FusionQuery):
            # k = 2: Qdrant's RRF constant, the server's and qdrant-client's local mode's.
            return qe.Fusion.Rrf(k=2) if query.fusion == qm.Fusion.RRF else qe.Fusion.Dbsf()
        return qe.Query.Nearest(_vector_to_edge(query), using=using)

    def _prefetch(self, col: _Collection, p: qm.Prefetch) -> qe.Prefetch:
        nested = [p.prefetch] if isinstance(p.prefetch, qm.Prefetch) else list(p.prefetch or [])
        is_vector = p.query is not None and not isinstance(p.query, qm.FusionQuery)
        return qe.Prefetch(
            p.limit or 10,
            query=self._query(p.query, p.using),
            prefetches=[self._prefetch(col, n) for n in nested] or None,
            params=col.search_params(p.using, p.params) if is_vector else None,
            filter=to_edge_filter(p.filter),
            score_threshold=p.score_threshold,
        )

    def close(self) -> None:
        """Flush and close every shard and release the folder (idempotent)."""
        with self._guard:
            if self._closed:
                return
            for col in self._open.values():
                col.shard.flush()
                col.shard.close()
            self._open.clear()
            self._closed = True
            portalocker.unlock(self._lock_file)
            self._lock_file.close()


def _with(selector: bool | Sequence[str] | None) -> bool | list[str]:
    if selector is None or isinstance(selector, bool):
        return bool(selector)
    return list(selector)


def _record(r: Any) -> qm.Record:
    return qm.Record(id=_point_id(r.id), payload=r.payload, vector=_vector_to_qm(r.vector))
