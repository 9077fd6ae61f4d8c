"""Move an index to another Qdrant without re-embedding (``supportbot index migrate``).

A team that outgrows the embedded index (Qdrant local mode in the data directory) moves it to a
Qdrant server or cluster. Local mode has no snapshots, so the points are re-upserted: every
point is scrolled from the source with its payload and all its vectors (dense, sentence
multivector, BM25 sparse) and written to the target as it is, so nothing is embedded again and
the chunk ids, which the feedback store's answers cite, stay the same. The collection metadata
(the abstention calibrations, the corpus vocabulary, the boilerplate keys) travels with the
chunk collection, so the target answers and abstains as the source did without recalibrating.

The target collection is created with the :class:`~knowledge.index.ServerLayout` of the
settings (shards, replicas, write consistency, on-disk storage, int8 quantisation) and, on a
server, the keyword payload indexes the retriever filters on. The same code moves a server's
collections to another server, or to an embedded folder of either engine (local mode or Qdrant
Edge: how the test suite exercises it, and how a team switches engines without re-embedding).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from knowledge.errors import KnowledgeError
from knowledge.index import (
    PAYLOAD_INDEXES,
    IndexLockedError,
    ServerLayout,
    open_client,
    optimize_index,
    sparse_params,
)
from knowledge.settings import KnowledgeSettings


class MigrationError(KnowledgeError):
    """The index cannot be moved: nothing to move, the target already holds data, or the
    copy came out incomplete."""


@dataclass(frozen=True)
class CopiedCollection:
    """One collection moved: its name, the points written, and the seconds it took."""

    name: str
    points: int
    seconds: float


def is_url(target: str) -> bool:
    """Whether ``target`` names a Qdrant server (``http://`` or ``https://``), not a folder."""
    return target.startswith(("http://", "https://"))


def local_path(data_dir: str | Path, engine: str = "local") -> Path:
    """The embedded index's folder in a data directory for ``engine`` (``local`` or ``edge``;
    as ``KnowledgeSettings.qdrant_path``)."""
    return KnowledgeSettings(data_dir=Path(data_dir), index_engine=engine).qdrant_path  # type: ignore[arg-type]


def open_target(target: str, api_key: str | None = None, *, engine: str = "local") -> QdrantClient:
    """A client of the target: a server URL, or a data directory whose embedded index folder
    for ``engine`` (``local``: qdrant-client's local mode in ``qdrant/``; ``edge``: Qdrant Edge
    in ``edge/``) is created if missing.

    Raises:
        MigrationError: that folder is in use by another process.
    """
    if is_url(target):
        return QdrantClient(url=target, api_key=api_key, timeout=60)
    settings = KnowledgeSettings(data_dir=Path(target), index_engine=engine)  # type: ignore[arg-type]
    try:
        return open_client(settings)
    except IndexLockedError as exc:
        raise MigrationError(f"the index at {settings.qdrant_path} is in use: {exc}") from None


def _create_like(
    source: QdrantClient,
    target: QdrantClient,
    name: str,
    *,
    layout: ServerLayout,
    target_local: bool,
    payload_indexes: Sequence[str],
) -> None:
    """Create ``name`` in ``target`` with the source collection's vectors and metadata, laid out
    by ``layout`` (on a server only), with keyword indexes on ``payload_indexes``."""
    config = source.get_collection(name).config
    vectors = config.params.vectors
    if not isinstance(vectors, dict):
        raise MigrationError(f"collection {name!r} has unnamed vectors; not one of supportbot's")
    plan = ServerLayout() if target_local else layout
    sparse = {
        key: qm.SparseVectorParams(
            modifier=params.modifier, index=sparse_params(on_disk=plan.on_disk).index
        )
        for key, params in (config.params.sparse_vectors or {}).items()
    }
    target.create_collection(
        name,
        vectors_config={key: plan.vector_params(key, params) for key, params in vectors.items()},
        sparse_vectors_config=sparse or None,
        metadata=config.metadata,
        **({} if target_local else plan.collection_kwargs()),
    )
    if not target_local:
        for field in payload_indexes:
            target.create_payload_index(name, field, field_schema=qm.PayloadSchemaType.KEYWORD)


def _vectors(record: qm.Record) -> Any:
    """A scrolled record's vectors as written back (named dense, multivector, sparse)."""
    return record.vector or {}


def _copy_points(
    source: QdrantClient,
    target: QdrantClient,
    name: str,
    *,
    batch: int,
    advance: Callable[[int], None],
) -> int:
    """Scroll every point of ``name`` (payload and all vectors) into ``target``; the count."""
    written = 0
    offset: Any = None
    while True:
        records, offset = source.scroll(
            name, limit=batch, offset=offset, with_payload=True, with_vectors=True
        )
        if records:
            target.upsert(
                name,
                points=[
                    qm.PointStruct(id=r.id, vector=_vectors(r), payload=r.payload) for r in records
                ],
                wait=True,
            )
            written += len(records)
            advance(len(records))
        if offset is None:
            return written


def migrate(
    source: QdrantClient,
    target: QdrantClient,
    collection: str,
    *,
    companions: Sequence[str] = (),
    layout: ServerLayout | None = None,
    target_local: bool = False,
    replace: bool = False,
    batch: int = 256,
    on_start: Callable[[str, int], None] | None = None,
    advance: Callable[[int], None] | None = None,
) -> list[CopiedCollection]:
    """Copy the chunk collection ``collection`` and those of ``companions`` that exist (e.g.
    the answer memory's) from ``source`` to ``target`` (blocking).

    Args:
        layout: how collections are laid out on a server target (default: one shard, one
            replica, in RAM); ignored when ``target_local``.
        target_local: the target is Qdrant local mode (no layout, no payload indexes; a Qdrant
            Edge target takes both, less the cluster's shards and replicas).
        replace: delete collections of these names that the target already holds with points;
            otherwise that is an error, raised before anything is written.
        batch: points per scroll page and upsert request.
        on_start: called with each collection's name and point count before it is copied.
        advance: called with the number of points of each batch written (for a progress bar).

    Returns:
        One :class:`CopiedCollection` per collection copied, the chunk collection first.

    Raises:
        MigrationError: the source has no such chunk collection, or it is empty; the target
            holds points in one of the collections and ``replace`` is false; the target's
            count differs from the source's after the copy.
    """
    if not source.collection_exists(collection) or not source.count(collection).count:
        raise MigrationError(
            f"the source index has no chunks in collection {collection!r}: nothing to migrate"
        )
    names = [collection, *(c for c in companions if source.collection_exists(c))]
    if not replace:
        taken = [n for n in names if target.collection_exists(n) and target.count(n).count]
        if taken:
            raise MigrationError(
                f"the target already holds points in {', '.join(taken)}; pass --replace to "
                "overwrite them"
            )
    out = []
    for name in names:
        started = time.perf_counter()
        total = source.count(name, exact=True).count
        if on_start is not None:
            on_start(name, total)
        if target.collection_exists(name):
            target.delete_collection(name)
        _create_like(
            source,
            target,
            name,
            layout=layout or ServerLayout(),
            target_local=target_local,
            payload_indexes=PAYLOAD_INDEXES if name == collection else (),
        )
        written = _copy_points(
            source, target, name, batch=batch, advance=advance or (lambda n: None)
        )
        optimize_index(target, name)  # an Edge target builds its graphs once, at the end
        landed = target.count(name, exact=True).count
        if landed != total:
            raise MigrationError(
                f"collection {name!r}: the source holds {total} points but the target {landed} "
                f"after writing {written}; was the source changed during the copy? Run it again "
                "with --replace while nothing writes to the source"
            )
        out.append(CopiedCollection(name, landed, time.perf_counter() - started))
    return out
