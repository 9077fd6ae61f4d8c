"""``embedding_quantize = "int8"``: every linear layer becomes an int8 one, vectors stay unit
length and close to fp32's, and the setting changes the index fingerprint (so a sync
re-embeds instead of mixing fp32 and int8 vectors)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from knowledge.base import KnowledgeBase
from knowledge.embedding import Embedder
from knowledge.settings import DEFAULT_EMBEDDING_MODEL, KnowledgeSettings

TEXTS = [
    "The Northwind Standard plan covers preventive care at in-network providers.",
    "Employees accrue vacation days monthly and may carry five days into the next year.",
]


def test_int8_quantises_every_linear_layer_and_stays_close() -> None:
    fp32 = Embedder(DEFAULT_EMBEDDING_MODEL)
    int8 = Embedder(DEFAULT_EMBEDDING_MODEL, quantize="int8")
    assert any(isinstance(m, torch.nn.Linear) for m in fp32._model.modules())
    assert not any(isinstance(m, torch.nn.Linear) for m in int8._model.modules())
    a, b = fp32.embed(TEXTS), int8.embed(TEXTS)
    assert b.shape == a.shape == (2, 384)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(a * b, axis=1)
    assert np.all(cosine > 0.85) and np.all(cosine < 0.9999)  # close, yet really changed
    # Still a useful encoder: each text is nearest its own fp32 vector.
    assert list(np.argmax(b @ a.T, axis=1)) == [0, 1]


def test_the_setting_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    def fingerprint(quantize: str) -> str:
        settings = KnowledgeSettings(data_dir=tmp_path, embedding_quantize=quantize)  # type: ignore[arg-type]
        # The property reads only the settings: no model or index needed.
        return str(KnowledgeBase.fingerprint.fget(SimpleNamespace(settings=settings)))  # type: ignore[attr-defined]

    assert fingerprint("none") != fingerprint("int8")
