"""Retriever adaptation: fine-tune the embedding model on (question, cited chunk) pairs.

The pairs come from verified answers (``supportbot tune`` reads them from the feedback store,
see :func:`training_questions`): each verified question with the text of each chunk its
answer cites, as the index embeds it (:attr:`knowledge.chunking.Chunk.embedding_text`).

Training is sentence-transformers' ``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss`` (Henderson et al., 2017, "Efficient Natural Language Response
Suggestion for Smart Reply"; https://sbert.net/docs/package_reference/sentence_transformer/
losses.html#multiplenegativesrankingloss): every other positive in the batch is a negative
(in-batch negatives), and each pair also carries one **hard negative**, the chunk BM25 ranks
highest for the question among chunks of *other* sources (a chunk of the cited page or section
is never a negative). Batches never hold the same text twice (``BatchSamplers.NO_DUPLICATES``),
so two questions that cite one chunk are not each other's negatives.

The defaults are sentence-transformers' documented ones for this loss (learning rate 2e-5,
10% warm-up), with :data:`DEFAULT_EPOCHS` passes because feedback gives hundreds of pairs, not
the hundreds of thousands of the library's examples.

The report compares the base and the tuned model on held-out verified questions (a seeded
share, never trained on): hit@5 and MRR@10 of their cited sources when every chunk is ranked
by the model alone (dense cosine, no BM25 or fusion), with the definitions of
:mod:`bot.evaluation.metrics`.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.feedback import FeedbackStore
from knowledge.chunking import Chunk
from knowledge.embedding import resolve_model_path
from knowledge.errors import KnowledgeError

DEFAULT_EPOCHS = 3
DEFAULT_BATCH_SIZE = 16
DEFAULT_LEARNING_RATE = 2e-5
DEFAULT_HOLDOUT = 0.2
MIN_HOLDOUT = 5
"""Fewer held-out questions than this and the report would be noise: all pairs train and
the report says there was no held-out set."""


class TuningError(KnowledgeError):
    """Fine-tuning cannot run: no pairs, or the training libraries are not installed."""


@dataclass(frozen=True)
class TrainingQuestion:
    """A verified question and the chunk ids its answer cites (the positives)."""

    question: str
    chunk_ids: tuple[str, ...]


@dataclass(frozen=True)
class TrainingTriple:
    """One training row: the question (anchor), a cited chunk's embedded text (positive) and
    the BM25-mined hard negative's."""

    anchor: str
    positive: str
    negative: str


@dataclass(frozen=True)
class TuneReport:
    """What :func:`tune` did: the model folder written, the rows trained on, and hit@5 /
    MRR@10 of the held-out questions' cited sources, dense ranking only, base → tuned (empty
    without a held-out set)."""

    out: Path
    questions: int
    triples: int
    held_out: int
    epochs: int
    seconds: float
    before: dict[str, float]
    after: dict[str, float]


async def training_questions(
    store: FeedbackStore, *, min_up_votes: int = 0
) -> list[TrainingQuestion]:
    """The verified answers' questions with the chunks they cite (a correction's: the lead's
    chosen citations), one per distinct question (case and spacing aside; the newest
    verification wins), as :meth:`FeedbackStore.verified_answers` defines verified."""
    latest: dict[str, TrainingQuestion] = {}
    for v in await store.verified_answers(min_up_votes=min_up_votes):
        latest[" ".join(v.question.lower().split())] = TrainingQuestion(v.question, v.chunk_ids)
    return list(latest.values())


def hard_negatives(
    questions: Sequence[TrainingQuestion], chunks: Sequence[Chunk]
) -> list[TrainingTriple]:
    """``(question, cited chunk, hard negative)`` rows: one per cited chunk that the index
    still holds; the negative is BM25's best chunk of another source (bm25s, English stemming
    as the index's sparse vectors). Questions none of whose chunks remain are dropped."""
    import bm25s
    import Stemmer

    by_id = {c.chunk_id: c for c in chunks}
    texts = [c.embedding_text for c in chunks]
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    out: list[TrainingTriple] = []
    for q in questions:
        positives = [by_id[c] for c in q.chunk_ids if c in by_id]
        if not positives:
            continue
        cited_sources = {c.source_id for c in positives}
        k = min(len(chunks), 20)
        ranked, _ = retriever.retrieve(
            bm25s.tokenize([q.question], stopwords="en", stemmer=stemmer, show_progress=False),
            k=k,
            show_progress=False,
        )
        negative = next(
            (chunks[int(i)] for i in ranked[0] if chunks[int(i)].source_id not in cited_sources),
            None,
        )
        if negative is None:
            continue
        out.extend(
            TrainingTriple(q.question, p.embedding_text, negative.embedding_text) for p in positives
        )
    return out


def dense_ranking_figures(
    embed: Callable[[list[str]], np.ndarray],
    questions: Sequence[TrainingQuestion],
    chunks: Sequence[Chunk],
) -> dict[str, float]:
    """hit@5 and MRR@10 of each question's cited sources when all ``chunks`` are ranked by
    cosine with ``embed`` (texts → unit rows) alone; ``{}`` without questions."""
    from bot.evaluation.metrics import hit_at_k, reciprocal_rank_at_k

    if not questions:
        return {}
    by_id = {c.chunk_id: c for c in chunks}
    chunk_vecs = embed([c.embedding_text for c in chunks])
    query_vecs = embed([q.question for q in questions])
    hits, rrs = [], []
    for q, vec in zip(questions, query_vecs, strict=True):
        gold = [by_id[c].source_id for c in q.chunk_ids if c in by_id]
        order = np.argsort(-(chunk_vecs @ vec))
        ranked = list(dict.fromkeys(chunks[int(i)].source_id for i in order[:50]))
        hits.append(hit_at_k(ranked, gold, 5))
        rrs.append(reciprocal_rank_at_k(ranked, gold, 10))
    return {"hit@5": float(np.mean(hits)), "mrr@10": float(np.mean(rrs))}


def tune(
    questions: Sequence[TrainingQuestion],
    chunks: Sequence[Chunk],
    *,
    base_model: str,
    out: Path,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    holdout: float = DEFAULT_HOLDOUT,
    seed: int = 7,
    progress: bool = True,
) -> TuneReport:
    """Fine-tune ``base_model`` (a model setting, see :func:`resolve_model_path`) on
    ``questions`` over ``chunks`` and save it to ``out`` (a sentence-transformers folder that
    ``embedding_model`` accepts). ``holdout`` (0–1) of the questions, seeded, are kept out of
    training for the report.

    Raises:
        TuningError: no question has a cited chunk in the index, or ``datasets`` /
            ``accelerate`` are missing (``pip install 'supportbot[tune]'``).
        ModelNotFoundError: ``base_model`` cannot be found.
    """
    import time

    try:
        import accelerate  # noqa: F401  (the Trainer needs it; fail before the slow part)
        from datasets import Dataset
    except ImportError:
        raise TuningError(
            "Fine-tuning needs the 'datasets' and 'accelerate' packages: "
            "pip install 'supportbot[tune]'"
        ) from None
    import torch
    import transformers
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    known = {c.chunk_id for c in chunks}
    usable = [q for q in questions if any(c in known for c in q.chunk_ids)]
    if not usable:
        raise TuningError(
            "No verified answer cites a chunk the index holds: verify or correct answers in "
            "the review console first (or lower memory_min_up_votes)."
        )
    order = list(range(len(usable)))
    random.Random(seed).shuffle(order)
    n_held = int(len(usable) * holdout)
    if n_held < MIN_HOLDOUT:
        n_held = 0
    held = [usable[i] for i in order[:n_held]]
    train = [usable[i] for i in order[n_held:]]
    triples = hard_negatives(train, chunks)
    if not triples:
        raise TuningError("No training row: every cited chunk's source is the only one indexed.")

    transformers.logging.set_verbosity_error()
    if not progress:
        transformers.logging.disable_progress_bar()
    torch.manual_seed(seed)
    model = SentenceTransformer(
        str(resolve_model_path(base_model)), device="cpu", local_files_only=True
    )

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        )

    before = dense_ranking_figures(embed, held, chunks)
    data = Dataset.from_dict(
        {
            "anchor": [t.anchor for t in triples],
            "positive": [t.positive for t in triples],
            "negative": [t.negative for t in triples],
        }
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="supportbot-tune-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_steps=0.1,  # a float is the warm-up share (transformers 5)
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            report_to="none",
            logging_strategy="no",
            seed=seed,
            use_cpu=True,
            disable_tqdm=not progress,
            dataloader_num_workers=0,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=data,
            loss=MultipleNegativesRankingLoss(model),
        )
        trainer.train()
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    after = dense_ranking_figures(embed, held, chunks)
    return TuneReport(
        out=out,
        questions=len(train),
        triples=len(triples),
        held_out=len(held),
        epochs=epochs,
        seconds=seconds,
        before=before,
        after=after,
    )
