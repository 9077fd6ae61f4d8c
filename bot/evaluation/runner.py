"""The evaluation harness behind ``supportbot eval``.

For each dataset (a documents folder and its labelled question files) it ingests the documents
into a fresh temporary collection (which also calibrates abstention on that corpus, as a real
ingestion does), then runs every labelled question through one or more configurations:

- ``default``: the full pipeline (hybrid retrieval, abstention, the configured generator), which
  gives retrieval, answer, citation and abstention metrics, and the rule behind each refusal;
- with ``--compare``, retrieval-only variants of our index: ``dense`` (chunk vectors),
  ``sparse`` (BM25), ``hybrid-chunks`` (those two fused, no sentence vectors), ``hybrid-rrf`` and
  ``hybrid-dbsf`` (all three lists); the ablation ``same-chunks-vector`` (LlamaIndex's
  ``VectorStoreIndex`` retriever over *our* chunks and chunk vectors, which isolates the
  retriever); and two baselines that are not ours: ``llamaindex-starter`` (what a user gets
  from LlamaIndex's documented starter: ``SimpleDirectoryReader`` over the folder, the default
  node parser and ``VectorStoreIndex`` with the same embedding model) and ``bm25s`` (plain BM25
  over our chunk texts with bm25s' own tokenizer and stemmer).

Datasets come from repeated ``--dataset DOCS,QA[,UNANSWERABLE]`` options or a TOML file (see
:func:`load_dataset_file`). Results go to :mod:`bot.evaluation.report` (a Rich table per
dataset and a macro average, JSON, HTML with plots).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.engine import SupportEngine
from bot.evaluation.dataset import EvalQuestion, load_questions
from bot.evaluation.metrics import QuestionResult, summarize
from bot.evaluation.report import ConfigRun, EvalRun, now_iso
from bot.settings import Settings
from knowledge.chunking import Chunk
from knowledge.retrieval import RETRIEVAL_DEPTH, Retriever

RANK_DEPTH = 10
RETRIEVAL_CONFIGS = (
    "dense",
    "sparse",
    "hybrid-chunks",
    "hybrid-rrf",
    "hybrid-dbsf",
    "same-chunks-vector",
    "llamaindex-starter",
    "bm25s",
)
DESCRIPTIONS = {
    "default": (
        "our full pipeline: chunk + sentence vectors + BM25 (configured fusion), abstention, "
        "generator"
    ),
    "dense": "ours, chunk vectors only (MiniLM, context headers)",
    "sparse": "ours, BM25 sparse vectors only (Qdrant IDF modifier)",
    "hybrid-chunks": "ours, chunk vectors + BM25 fused with DBSF, no sentence vectors",
    "hybrid-rrf": "ours, chunk + sentence vectors + BM25, Reciprocal Rank Fusion",
    "hybrid-dbsf": "ours, chunk + sentence vectors + BM25, Distribution-Based Score Fusion",
    "same-chunks-vector": (
        "ablation: LlamaIndex VectorStoreIndex default retriever over our chunks and vectors"
    ),
    "llamaindex-starter": (
        "baseline: LlamaIndex starter (SimpleDirectoryReader, default node parser, "
        "VectorStoreIndex), same embedding model"
    ),
    "bm25s": "baseline: plain BM25 (bm25s, English stop words, Snowball stemmer) over chunk texts",
}

Ranker = Callable[[str], tuple[list[str], list[float], dict[str, float]]]


@dataclass(frozen=True)
class EvalInputs:
    """What to evaluate: a documents folder and labelled question files.

    ``name`` labels the dataset in tables, reports and dataset-specific gates; by default the
    name of the folder holding the first question file (``contoso_hr_benefits``).
    """

    docs: Path
    questions: Sequence[Path]
    unanswerable: Sequence[Path] = ()
    sample: int | None = None
    name: str = ""

    @property
    def label(self) -> str:
        """``name``, or the folder name of the first question file."""
        if self.name:
            return self.name
        first = next(iter([*self.questions, *self.unanswerable]), None)
        return first.resolve().parent.name if first is not None else self.docs.name

    def missing(self) -> list[Path]:
        """The given paths that do not exist (the documents folder, question files)."""
        return [p for p in (self.docs, *self.questions, *self.unanswerable) if not p.exists()]


_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def parse_dataset_spec(spec: str, *, sample: int | None = None) -> EvalInputs:
    """``DOCS,QA[,UNANSWERABLE]`` (an optional ``NAME=`` in front) → :class:`EvalInputs`.

    Raises:
        ValueError: fewer than two or more than three paths, or a bad name.
    """
    name, sep, rest = spec.partition("=")
    if not sep or "," in name:
        name, rest = "", spec
    if name and not _NAME.match(name):
        raise ValueError(f"dataset name {name!r}: use letters, digits, '_', '-' and '.'")
    parts = [p.strip() for p in rest.split(",") if p.strip()]
    if len(parts) not in (2, 3):
        raise ValueError(
            f"--dataset {spec!r}: expected DOCS,QA or DOCS,QA,UNANSWERABLE (comma-separated)"
        )
    return EvalInputs(
        Path(parts[0]), [Path(parts[1])], [Path(parts[2])] if len(parts) == 3 else [], sample, name
    )


def load_dataset_file(path: Path, *, sample: int | None = None) -> list[EvalInputs]:
    """Datasets from a TOML file of ``[[dataset]]`` tables, paths relative to the file::

        [[dataset]]
        name = "contoso_hr_benefits"           # optional
        docs = "contoso"                       # the documents folder
        questions = ["qa.jsonl"]               # labelled questions (a string or a list)
        unanswerable = ["qa_dontknows.jsonl"]  # optional: questions the documents don't answer

    Raises:
        ValueError: invalid TOML, no dataset, or a table without ``docs`` or ``questions``.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from exc
    base = path.parent
    out = []

    def paths(value: object) -> list[Path]:
        items = [value] if isinstance(value, str) else list(value or [])  # type: ignore[call-overload]
        return [(base / str(v)).resolve() for v in items]

    for i, table in enumerate(data.get("dataset", []), start=1):
        if "docs" not in table or "questions" not in table:
            raise ValueError(f"{path}: dataset {i} needs 'docs' and 'questions'")
        out.append(
            EvalInputs(
                (base / str(table["docs"])).resolve(),
                paths(table["questions"]),
                paths(table.get("unanswerable")),
                sample,
                str(table.get("name", "")),
            )
        )
    if not out:
        raise ValueError(f"{path}: no [[dataset]] table")
    return out


def load_all(inputs: EvalInputs) -> list[EvalQuestion]:
    """Questions from all files; with ``sample``, an evenly spaced subset of each file."""
    out: list[EvalQuestion] = []
    for path, answerable in [(p, None) for p in inputs.questions] + [
        (p, False) for p in inputs.unanswerable
    ]:
        qs = load_questions(path, answerable=answerable)
        if inputs.sample and inputs.sample < len(qs):
            idx = np.linspace(0, len(qs) - 1, inputs.sample).round().astype(int)
            qs = [qs[i] for i in sorted(set(idx.tolist()))]
        out.extend(qs)
    return out


def _dedupe(ids: Sequence[str], scores: Sequence[float]) -> tuple[list[str], list[float]]:
    seen: dict[str, float] = {}
    for i, s in zip(ids, scores, strict=True):
        seen.setdefault(i, s)
    return list(seen)[:RANK_DEPTH], list(seen.values())[:RANK_DEPTH]


def _retriever_ranker(retriever: Retriever) -> Ranker:
    def rank(question: str) -> tuple[list[str], list[float], dict[str, float]]:
        r = retriever.retrieve(question, audience="internal", limit=RETRIEVAL_DEPTH * 2)
        ids, scores = _dedupe([h.chunk.source_id for h in r.hits], [h.score for h in r.hits])
        return ids, scores, {"embed": r.embed_ms, "search": r.search_ms}

    return rank


def _bm25s_ranker(chunks: Sequence[Chunk]) -> Ranker:
    import bm25s
    import Stemmer

    # bm25s sets its own logger to DEBUG on import, which leaks into any configured root handler.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    stemmer = Stemmer.Stemmer("english")
    model = bm25s.BM25()
    model.index(
        bm25s.tokenize(
            [c.text for c in chunks], stopwords="en", stemmer=stemmer, show_progress=False
        ),
        show_progress=False,
    )

    def rank(question: str) -> tuple[list[str], list[float], dict[str, float]]:
        t0 = time.perf_counter()
        q = bm25s.tokenize([question], stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = model.retrieve(
            q, k=min(RETRIEVAL_DEPTH * 2, len(chunks)), show_progress=False
        )
        ms = (time.perf_counter() - t0) * 1000
        ids, sc = _dedupe([chunks[i].source_id for i in docs[0]], [float(s) for s in scores[0]])
        return ids, sc, {"search": ms}

    return rank


def _llamaindex_starter_ranker(engine: SupportEngine, docs: Path) -> Ranker:
    """LlamaIndex's documented starter over the documents folder: ``SimpleDirectoryReader``,
    the default node parser (``SentenceSplitter``, 1,024 tokens) and an in-memory
    ``VectorStoreIndex``, with our embedding model so that only the pipeline differs."""
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

    from knowledge.llamaindex_embedding import LlamaIndexEmbedding

    documents = SimpleDirectoryReader(str(docs), recursive=True).load_data()
    index = VectorStoreIndex.from_documents(
        documents, embed_model=LlamaIndexEmbedding(engine.kb.embedder)
    )
    retriever = index.as_retriever(similarity_top_k=RETRIEVAL_DEPTH * 2)
    root = docs.resolve()

    def source_id(metadata: dict[str, object]) -> str:
        path = Path(str(metadata.get("file_path", "")))
        try:
            doc_id = path.resolve().relative_to(root).as_posix()
        except ValueError:
            doc_id = os.path.basename(path)
        page = str(metadata.get("page_label", ""))
        return f"{doc_id}#page={page}" if page.isdigit() else doc_id

    def rank(question: str) -> tuple[list[str], list[float], dict[str, float]]:
        t0 = time.perf_counter()
        found = retriever.retrieve(question)
        ms = (time.perf_counter() - t0) * 1000
        ids, sc = _dedupe(
            [source_id(n.node.metadata) for n in found], [float(n.score or 0) for n in found]
        )
        return ids, sc, {"search": ms}

    return rank


def _same_chunks_ranker(engine: SupportEngine, chunks: Sequence[Chunk]) -> Ranker:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    from knowledge.llamaindex_embedding import LlamaIndexEmbedding

    kb = engine.kb
    vectors = {
        str(p.id): p.vector
        for p in kb.client.scroll(
            kb.settings.collection,
            limit=len(chunks) + 1,
            with_vectors=["dense"],
            with_payload=False,
        )[0]
    }
    nodes = [
        TextNode(
            id_=c.chunk_id,
            text=c.text,
            metadata={"source_id": c.source_id},
            embedding=list(vectors[c.chunk_id]["dense"]),  # type: ignore[index,call-overload]
        )
        for c in chunks
    ]
    embed_model = LlamaIndexEmbedding(kb.embedder)
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    retriever = index.as_retriever(similarity_top_k=RETRIEVAL_DEPTH * 2)

    def rank(question: str) -> tuple[list[str], list[float], dict[str, float]]:
        t0 = time.perf_counter()
        found = retriever.retrieve(question)
        ms = (time.perf_counter() - t0) * 1000
        ids, sc = _dedupe(
            [n.node.metadata["source_id"] for n in found], [float(n.score or 0) for n in found]
        )
        return ids, sc, {"search": ms}

    return rank


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def _run_default(
    engine: SupportEngine, questions: Sequence[EvalQuestion], progress: Progress
) -> list[QuestionResult]:
    task = progress.add_task("default (full pipeline)", total=len(questions))
    if engine.llm is not None:
        # Latency is measured in the steady state: a server that caches the prompt's constant
        # part reads it once, before the first question (see OpenAICompatibleGenerator.warm_up).
        await engine.llm.warm_up()
    out = []
    for q in questions:
        a = await engine.answer(q.question, audience="internal")
        ids, scores = _dedupe([r.source_id for r in a.retrieved], [r.score for r in a.retrieved])
        t = a.timings
        out.append(
            QuestionResult(
                question=q.question,
                answerable=q.answerable,
                gold=q.gold,
                ranked=tuple(ids),
                scores=tuple(scores),
                support_score=a.support,
                answer_text=None if a.abstained else a.text,
                gold_answer=q.answer,
                cited=tuple(c.source_id for c in a.citations),
                abstained=a.abstained,
                abstain_reason=a.abstain_reason,
                unknown_terms=a.unknown_terms,
                generator=a.generator,
                degraded=a.degraded,
                uncited=a.uncited,
                model=a.model,
                tokens_in=a.tokens_in,
                tokens_out=a.tokens_out,
                partially_supported=a.partially_supported,
                unsupported_claims=a.unsupported_claims,
                stage_ms={
                    "embed": t.embed_ms,
                    "search": t.search_ms,
                    "rerank": t.rerank_ms,
                    "generate": t.generate_ms,
                    "total": t.total_ms,
                },
            )
        )
        progress.advance(task)
    return out


def _run_ranker(
    name: str, rank: Ranker, questions: Sequence[EvalQuestion], progress: Progress
) -> list[QuestionResult]:
    task = progress.add_task(name, total=len(questions))
    out = []
    for q in questions:
        ids, scores, ms = rank(q.question)
        ms["total"] = sum(ms.values())
        out.append(
            QuestionResult(
                question=q.question,
                answerable=q.answerable,
                gold=q.gold,
                ranked=tuple(ids),
                scores=tuple(scores),
                stage_ms=ms,
            )
        )
        progress.advance(task)
    return out


def run_evaluation(
    inputs: EvalInputs,
    settings: Settings,
    *,
    configs: Sequence[str] = ("default",),
    console: Console | None = None,
) -> EvalRun:
    """Ingest ``inputs.docs`` into a temporary collection and evaluate ``configs``.

    Raises:
        ValueError: an unknown configuration name, or a malformed question file.
    """
    console = console or Console()
    unknown = [c for c in configs if c != "default" and c not in RETRIEVAL_CONFIGS]
    if unknown:
        raise ValueError(
            f"unknown configuration(s) {unknown}; choose from default, {RETRIEVAL_CONFIGS}"
        )
    questions = load_all(inputs)
    with tempfile.TemporaryDirectory(prefix="supportbot-eval-") as tmp:
        # Qdrant local mode in a fresh folder, even when a server is configured: the run must not
        # touch the production collection.
        eval_settings = settings.model_copy(
            update={"data_dir": Path(tmp), "qdrant_url": None, "collection": "eval"}
        )
        engine = SupportEngine.from_settings(eval_settings)
        try:
            report = engine.kb.ingest([inputs.docs], audience="public", console=console)
            for s in report.skipped:
                console.print(f"[yellow]skipped[/] {s.path}: {s.reason}")
            chunks = engine.kb.index.all_chunks()
            calibration = engine.kb.calibration
            run = EvalRun(
                dataset_name=inputs.label,
                dataset_path=", ".join(str(p) for p in [*inputs.questions, *inputs.unanswerable]),
                docs_path=str(inputs.docs),
                created=now_iso(),
                ingest_seconds=report.seconds,
                n_chunks=len(chunks),
                threshold=engine.threshold,
                unknown_term_threshold=engine.unknown_term_threshold,
                generator=engine.generator_name,
                calibration=calibration.to_dict() if calibration else None,
            )
            with _progress(console) as progress:
                for name in configs:
                    if name == "default":
                        results = asyncio.run(_run_default(engine, questions, progress))
                    else:
                        results = _run_ranker(
                            name,
                            _make_ranker(name, engine, chunks, inputs.docs),
                            questions,
                            progress,
                        )
                    run.configs.append(
                        ConfigRun(name, DESCRIPTIONS[name], results, summarize(results))
                    )
        finally:
            engine.close()
    return run


def _make_ranker(name: str, engine: SupportEngine, chunks: Sequence[Chunk], docs: Path) -> Ranker:
    kb = engine.kb
    if name == "dense":
        return _retriever_ranker(kb.make_retriever(mode="dense"))
    if name == "sparse":
        return _retriever_ranker(kb.make_retriever(mode="sparse"))
    if name == "hybrid-chunks":
        return _retriever_ranker(kb.make_retriever(fusion="dbsf", sentences=False))
    if name in ("hybrid-rrf", "hybrid-dbsf"):
        return _retriever_ranker(kb.make_retriever(fusion=name.removeprefix("hybrid-")))
    if name == "bm25s":
        return _bm25s_ranker(chunks)
    if name == "same-chunks-vector":
        return _same_chunks_ranker(engine, chunks)
    if name == "llamaindex-starter":
        return _llamaindex_starter_ranker(engine, docs)
    raise ValueError(name)


def run_datasets(
    datasets: Sequence[EvalInputs],
    settings: Settings,
    *,
    configs: Sequence[str] = ("default",),
    console: Console | None = None,
) -> list[EvalRun]:
    """:func:`run_evaluation` for each dataset in turn (each ingested into its own temporary
    collection), in order.

    Raises:
        ValueError: as :func:`run_evaluation`, or two datasets with the same name.
    """
    labels = [d.label for d in datasets]
    twice = sorted({n for n in labels if labels.count(n) > 1})
    if twice:
        raise ValueError(f"two datasets are named {', '.join(twice)}; give each a NAME=")
    console = console or Console()
    runs = []
    for d in datasets:
        console.rule(f"[bold]{d.label}")
        runs.append(run_evaluation(d, settings, configs=configs, console=console))
    return runs
