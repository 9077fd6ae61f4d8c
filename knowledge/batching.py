"""Micro-batching of query embeddings: concurrent questions share one model call.

A transformer encodes a batch of short queries in little more time than one (the matrix
products are wider, the per-call overhead is paid once), and on a 2-core machine model calls
that run side by side only slow each other down. :class:`QueryBatcher` collects the texts that
arrive within ``max_wait_ms`` of the first one (and all that arrive while a batch is being
encoded), encodes them in one call in a worker thread, and hands each caller its rows. One
batch is encoded at a time. This is the dynamic batching of model servers (e.g. NVIDIA Triton's
``max_queue_delay_microseconds``, TorchServe's ``maxBatchDelay``), inside the bot's process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from knowledge.embedding import Embedder


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[NDArray[np.float32]]


@dataclass
class QueryBatcher:
    """Batch :meth:`Embedder.embed` calls made concurrently on one event loop.

    Args:
        embedder: the model.
        max_wait_ms: how long the first text of a batch waits for others (milliseconds).
        max_batch: at most this many texts per model call; more wait for the next.
    """

    embedder: Embedder
    max_wait_ms: float = 3.0
    max_batch: int = 64
    _queue: list[_Pending] = field(default_factory=list)
    _worker: asyncio.Task[None] | None = None
    batches: int = 0
    """Model calls made (for tests and the load benchmark)."""
    texts: int = 0
    """Texts encoded."""

    async def embed(self, texts: list[str], *, alone: bool = False) -> NDArray[np.float32]:
        """Embeddings of ``texts``, shape ``(len(texts), dim)``, unit rows, as
        :meth:`Embedder.embed` gives them. ``alone``: the caller knows no other question is in
        flight, so a batch it starts does not wait ``max_wait_ms`` for company.

        Raises:
            Exception: what the model raised for the batch this call was part of.
        """
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        busy = self._worker is not None and not self._worker.done()
        if busy and self._worker is not None and self._worker.get_loop() is not loop:
            # Another event loop is batching (e.g. an evaluation thread): encode alone.
            return await asyncio.to_thread(self.embedder.embed, list(texts))
        future: asyncio.Future[NDArray[np.float32]] = loop.create_future()
        self._queue.append(_Pending(list(texts), future))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain(wait=not alone), name="query-batcher")
        return await future

    async def _drain(self, *, wait: bool = True) -> None:
        while self._queue:
            if wait and sum(len(p.texts) for p in self._queue) < self.max_batch:
                await asyncio.sleep(self.max_wait_ms / 1000)  # let the others arrive
            wait = True
            batch: list[_Pending] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_batch):
                pending = self._queue.pop(0)
                batch.append(pending)
                size += len(pending.texts)
            texts = [t for p in batch for t in p.texts]
            try:
                vectors = await asyncio.to_thread(self.embedder.embed, texts)
            except Exception as exc:  # every caller of this batch gets the model's error
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(texts)
            start = 0
            for p in batch:
                if not p.future.done():  # a caller may have been cancelled meanwhile
                    p.future.set_result(vectors[start : start + len(p.texts)])
                start += len(p.texts)
