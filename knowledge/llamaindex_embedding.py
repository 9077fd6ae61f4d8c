"""Our :class:`~knowledge.embedding.Embedder` as a llama-index ``BaseEmbedding``, so llama-index
components (``VectorStoreIndex``, evaluation baselines) use the same packaged model offline."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from knowledge.embedding import Embedder


class LlamaIndexEmbedding(BaseEmbedding):
    """llama-index embedding model backed by an :class:`Embedder` (vectors of size ``dim``)."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        super().__init__(model_name=embedder.name, **kwargs)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_query(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed_query(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)
