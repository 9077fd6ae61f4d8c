"""The async core: ``SupportEngine.answer(question, history=..., audience=...) -> Answer``.

Pipeline: retrieve (hybrid, audience-filtered) → decide whether the sources support an answer
(abstention) → generate with the configured generator → validate citations → ``Answer``.
Blocking work (embedding, Qdrant local mode, the extractive generator) runs in worker threads,
so the event loop stays free and many questions can be answered concurrently.

Follow-up questions: the most recent earlier *user* turn is passed to retrieval as context; the
retriever searches with the question alone and with "previous question + question", and fuses
all lists (see :mod:`knowledge.retrieval`). A self-contained question still ranks its own hits
first; an elliptic one ("and for part-timers?") borrows its topic from the previous turn.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console

from bot import abstention, metrics
from bot.citations import MARKER, cited_numbers, strip_invalid
from bot.compression import SourceCompressor
from bot.generators.base import Generation, GeneratorError, SourceText
from bot.generators.extractive import ExtractiveGenerator
from bot.generators.openai_compat import OnText, OpenAICompatibleGenerator
from bot.grounding import GroundingChecker, GroundingResult, named_sources
from bot.memory import (
    AnswerMemory,
    FeedbackLinks,
    LinkedAnswer,
    MemoryHit,
    RefreshReport,
    VerifiedAnswer,
)
from bot.models import Answer, Citation, RetrievedChunk, Timings, Turn
from bot.prompt import FewShotExample, load_few_shot, reveals_instructions, without_injections
from bot.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.batching import QueryBatcher
from knowledge.index import IndexUnavailableError
from knowledge.retrieval import RETRIEVAL_DEPTH, Hit, RetrievalResult, Retriever, keep_top_sources
from knowledge.sources import Source
from knowledge.sync import SyncReport

log = logging.getLogger(__name__)

ABSTAIN_TEXT = (
    "I couldn't find this in the documents I have, so I'd rather not guess. "
    "Please ask {human}, who can help."
)
FALLBACK_NOTICE = (
    "The language model did not respond, so this answer quotes the most relevant passages."
)
UNGROUNDED_NOTICE = (
    "No sentence of the language model's answer could be matched to the documents, so this "
    "answer quotes the most relevant passages instead."
)
MOSTLY_UNGROUNDED_NOTICE = (
    "Most of the language model's answer could not be matched to the documents, so this "
    "answer quotes the most relevant passages instead."
)
INSTRUCTIONS_NOTICE = (
    "The language model's answer repeated its own instructions, so this answer quotes the most "
    "relevant passages instead."
)
VERIFIED_NOTICE = {
    "lead": "Verified answer: a support lead checked this answer to the same question.",
    "votes": "Verified answer: people who asked the same question confirmed it.",
}
UNAVAILABLE_TEXT = (
    "The language model is not responding right now and no passage answers this directly. "
    "Please try again later or ask {human}."
)


def _renumber(text: str, numbers: Sequence[int]) -> str:
    """Rewrite cited numbers to 1..m in order of first citation (``numbers`` is that order)."""
    new = {old: i for i, old in enumerate(numbers, start=1)}

    def fix(m: re.Match[str]) -> str:
        return "".join(f"[{new[int(x)]}]" for x in m.group(1).split(",") if int(x) in new)

    return MARKER.sub(fix, text)


class SupportEngine:
    """Answers questions from the knowledge base. Build it with :meth:`from_settings`.

    Safe to call :meth:`answer` concurrently from one event loop.
    """

    def __init__(self, settings: Settings, kb: KnowledgeBase) -> None:
        self.settings = settings
        self.kb = kb
        self.extractive = ExtractiveGenerator(kb.sparse, skip=kb.is_boilerplate)
        self.llm: OpenAICompatibleGenerator | None = None
        if settings.generator == "openai":
            key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            self.llm = OpenAICompatibleGenerator(
                base_url=settings.openai_base_url,
                model=settings.openai_model,
                api_key=key,
                timeout_s=settings.llm_timeout_s,
                max_retries=settings.llm_max_retries,
                temperature=settings.llm_temperature,
                max_tokens=settings.llm_max_tokens,
                stop=settings.llm_stop,
                stream=settings.llm_stream,
                source_order=settings.llm_source_order,
                examples=load_few_shot(settings.few_shot_path),
                human_contact=settings.human_contact,
            )
        self.grounder = (
            GroundingChecker(kb.embedder.embed, kb.sparse)
            if self.llm is not None and settings.grounding != "off"
            else None
        )
        self.compressor = (
            SourceCompressor(kb.embedder.embed, settings.llm_source_words)
            if self.llm is not None and settings.llm_source_words
            else None
        )
        self._in_flight = 0  # questions between arrival and their embedding (for the batcher)
        self.batcher = QueryBatcher(
            kb.embedder, max_wait_ms=settings.embedding_batch_wait_ms, max_batch=64
        )
        self.memory = (
            AnswerMemory(kb.index, kb.embedder, threshold=settings.memory_threshold)
            if settings.memory_enabled
            else None
        )
        self.links = (
            FeedbackLinks(
                kb.index,
                kb.embedder,
                strength=settings.feedback_boost,
                min_similarity=settings.feedback_min_similarity,
            )
            if settings.memory_enabled
            else None
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SupportEngine:
        """Load the model, open the index. Raises what :meth:`KnowledgeBase.open` raises."""
        settings = settings or Settings()
        return cls(settings, KnowledgeBase.open(settings))

    @property
    def _retrieval_deadline_s(self) -> float | None:
        """How long retrieval may take: ``qdrant_timeout_s`` against a server; unbounded with
        the embedded index, where no network can hang and a sync may hold the index for a while."""
        return float(self.settings.qdrant_timeout_s) if self.settings.qdrant_url else None

    @property
    def generator_name(self) -> str:
        """The configured generator: ``extractive`` or ``openai:MODEL``."""
        return f"openai:{self.llm.model}" if self.llm is not None else self.extractive.name

    def bars(self, audience: str = "internal") -> tuple[float, float]:
        """``(threshold, unknown_term_threshold)`` in force for an audience: the settings where
        set, else the collection's calibration for that audience's view
        (:meth:`knowledge.base.KnowledgeBase.calibration_for`)."""
        c = self.kb.calibration_for(audience)
        threshold = self.settings.abstain_threshold
        if threshold is None:
            threshold = c.threshold if c is not None else abstention.FALLBACK_THRESHOLD
        unknown = self.settings.abstain_threshold_unknown_terms
        if unknown is None:
            unknown = (
                c.unknown_term_threshold
                if c is not None
                else abstention.FALLBACK_UNKNOWN_TERM_THRESHOLD
            )
        return threshold, unknown

    @property
    def threshold(self) -> float:
        """The support bar over the whole collection (the ``internal`` audience's)."""
        return self.bars()[0]

    @property
    def unknown_term_threshold(self) -> float:
        """The bar for questions with an unknown term over the whole collection."""
        return self.bars()[1]

    # -- ingestion ----------------------------------------------------------------------------
    async def ingest(
        self, paths: Sequence[Path], *, audience: str | None = None, progress: bool = False
    ) -> SyncReport:
        """Ingest files/folders in a worker thread (see :meth:`KnowledgeBase.ingest`)."""
        return await asyncio.to_thread(self.kb.ingest, paths, audience=audience, progress=progress)

    async def sync(
        self,
        sources: Sequence[Source],
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        recalibrate: bool = True,
        console: Console | None = None,
    ) -> SyncReport:
        """Sync sources in a worker thread while answers go on (see :mod:`knowledge.sync`):
        questions see each document's old or new version whole; the calibration is refreshed
        before this returns unless ``recalibrate`` is false (then call :meth:`recalibrate`).
        With a ``console``, progress bars are shown on it (the CLI)."""
        return await asyncio.to_thread(
            self.kb.sync,
            sources,
            dry_run=dry_run,
            allow_mass_delete=allow_mass_delete,
            console=console,
            progress=console is not None,
            recalibrate=recalibrate,
        )

    async def recalibrate(self) -> None:
        """Rebuild the vocabulary and abstention calibration in a worker thread (seconds; see
        :meth:`KnowledgeBase.recalibrate`); answers go on with the previous ones meanwhile."""
        await asyncio.to_thread(self.kb.recalibrate)

    async def reload_statistics(self) -> bool:
        """Take the vocabulary and calibration another process stored with the collection, if
        they changed (a worker thread; see :meth:`KnowledgeBase.reload_statistics`)."""
        return await asyncio.to_thread(self.kb.reload_statistics)

    # -- answering ----------------------------------------------------------------------------
    def _retrieve(
        self,
        question: str,
        audience: str,
        context: str | None,
        vectors: NDArray[np.float32] | None = None,
    ) -> tuple[RetrievalResult, list[str]]:
        result = self.kb.retrieve(
            question, audience=audience, limit=RETRIEVAL_DEPTH, context=context, vectors=vectors
        )
        links = self.links
        if links is not None and links.size and links.strength > 0:
            boosts = links.boosts(question, audience, None if vectors is None else vectors[0])
            if boosts:
                result = replace(result, hits=links.rerank(result.hits, boosts))
        return result, self.kb.unknown_terms(question)

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        audience: str = "public",
        on_text: OnText | None = None,
    ) -> Answer:
        """Answer one question.

        Args:
            question: the user's message.
            history: earlier turns, oldest first (used for retrieval context and by LLMs).
            audience: ``public`` (never sees internal chunks) or ``internal``.
            on_text: with an LLM generator, awaited with the raw text so far while the answer
                streams (for a placeholder message the adapter edits); the returned
                :class:`Answer` is the grounded final text, which replaces it. Not called for
                extractive answers or abstentions.

        Raises:
            ValueError: empty question or unknown audience.
            knowledge.index.IndexUnavailableError: server mode, and the answer memory and
                retrieval took longer than ``qdrant_timeout_s`` together. Other failures of an
                unreachable server come as qdrant-client raises them
                (:func:`knowledge.index.index_unreachable` tells them apart).
        """
        question = question.strip()
        if not question:
            raise ValueError("empty question")
        if audience not in ("public", "internal"):
            raise ValueError(f"audience must be 'public' or 'internal', not {audience!r}")
        t0 = time.perf_counter()
        context = next((t.text for t in reversed(history) if t.role == "user"), None)
        # Concurrent questions share one model call (knowledge/batching.py).
        self._in_flight += 1
        try:
            vectors = await self.batcher.embed(
                Retriever.query_texts(question, context), alone=self._in_flight == 1
            )
        finally:
            self._in_flight -= 1
        embed_ms = (time.perf_counter() - t0) * 1000
        try:
            async with asyncio.timeout(self._retrieval_deadline_s):
                if self.memory is not None and not history:
                    # A follow-up in a thread depends on its context; only a question on its own
                    # can be the same question as a verified one.
                    hit = await asyncio.to_thread(
                        self._memory_lookup, question, audience, vectors[0]
                    )
                    if hit is not None:
                        return self._verified(question, audience, hit, t0)
                result, unknown = await asyncio.to_thread(
                    self._retrieve, question, audience, context, vectors
                )
                result = replace(result, embed_ms=result.embed_ms + embed_ms)
        except TimeoutError:
            raise IndexUnavailableError(
                f"the index did not answer within {self._retrieval_deadline_s:g} s"
            ) from None
        retrieved = tuple(
            RetrievedChunk(
                h.chunk.chunk_id, h.chunk.doc_id, h.score, h.chunk.page, h.chunk.source_id
            )
            for h in result.hits
        )
        sources = keep_top_sources(result.hits, self.settings.top_k)
        threshold, unknown_bar = self.bars(audience)
        decision = abstention.decide(
            sources,
            unknown_terms=unknown,
            threshold=threshold,
            unknown_term_threshold=unknown_bar,
        )
        t1 = time.perf_counter()

        def finish(
            text: str,
            cited: tuple[Citation, ...],
            generator: str,
            *,
            abstained: bool = False,
            degraded: bool = False,
            notice: str | None = None,
            reason: abstention.Reason | None = None,
            generation: Generation | None = None,
            grounded: GroundingResult | None = None,
        ) -> Answer:
            t2 = time.perf_counter()
            timings = Timings(
                embed_ms=result.embed_ms,
                search_ms=result.search_ms,
                rerank_ms=result.rerank_ms,
                generate_ms=(t2 - t1) * 1000,
                total_ms=(t2 - t0) * 1000,
            )
            return Answer(
                question=question,
                text=text,
                citations=cited,
                abstained=abstained,
                confidence=decision.confidence,
                generator=generator,
                audience=audience,
                timings=timings,
                retrieved=retrieved,
                support=decision.support,
                degraded=degraded,
                uncited=not abstained and generator != "unavailable" and not cited,
                notice=notice,
                abstain_reason=reason,
                unknown_terms=decision.unknown_terms,
                model=generation.model if generation else None,
                tokens_in=generation.tokens_in if generation else None,
                tokens_out=generation.tokens_out if generation else None,
                partially_supported=bool(grounded and grounded.partially_supported),
                unsupported_claims=tuple(
                    c.text
                    for c in (grounded.claims if grounded else ())
                    if c.action == "unsupported"
                ),
            )

        human = self.settings.human_contact

        def abstain(
            generator: str,
            reason: abstention.Reason | None,
            generation: Generation | None = None,
            grounded: GroundingResult | None = None,
        ) -> Answer:
            """The abstention answer: no sources, and who to ask instead."""
            text = ABSTAIN_TEXT.format(human=human)
            return finish(
                text,
                (),
                generator,
                abstained=True,
                reason=reason,
                generation=generation,
                grounded=grounded,
            )

        if decision.abstain:
            return abstain("abstention", decision.reason)

        texts = [
            SourceText(i, h.chunk.label, without_injections(h.chunk.text), h.support)
            for i, h in enumerate(sources, start=1)
        ]
        picked = list(range(len(texts)))
        if self.llm is not None and self.settings.llm_named_sources:
            picked = named_sources(question, [t.text for t in texts], self.kb.sparse)
        picked = picked[: self.settings.llm_top_k or len(picked)]
        # An LLM reads its own list, numbered from 1; its markers refer to it.
        llm_sources = [sources[j] for j in picked]
        llm_texts = [replace(texts[j], number=i) for i, j in enumerate(picked, start=1)]
        if self.llm is not None and self.compressor is not None:
            llm_texts = await asyncio.to_thread(self.compressor.compress, question, llm_texts)
        degraded, notice = False, None
        generation: Generation
        if self.llm is not None:
            try:
                examples = await self._few_shot(question, audience)
                generation = await self.llm.generate(
                    question, llm_texts, history, on_text=on_text, examples=examples
                )
            except GeneratorError as exc:
                log.warning("LLM generator failed (%s); falling back to extractive", exc)
                metrics.LLM_ERRORS.inc()
                generation = await asyncio.to_thread(
                    self.extractive.generate, question, texts, threshold=threshold
                )
                degraded, notice = True, FALLBACK_NOTICE
                fallback = "extractive" if generation.text else "unavailable"
                metrics.LLM_FALLBACKS.labels(fallback).inc()
                if not generation.text:
                    return finish(
                        UNAVAILABLE_TEXT.format(human=human),
                        (),
                        "unavailable",
                        degraded=True,
                        notice=str(exc),
                    )
        else:
            generation = await asyncio.to_thread(
                self.extractive.generate, question, texts, threshold=threshold
            )
        if not generation.text:
            return abstain("abstention", "low_support")
        is_llm = generation.generator != self.extractive.name
        if is_llm and abstention.says_not_covered(generation.text):
            # The model itself says the sources do not answer: the same abstention as ours.
            return abstain(generation.generator, "not_covered", generation=generation)

        async def quote_instead(
            llm_generation: Generation, grounded: GroundingResult | None = None
        ) -> Generation | Answer:
            """The extractive answer in place of the model's (its name and token counts stay
            on record), or the abstention when no passage answers."""
            quoted = await asyncio.to_thread(
                self.extractive.generate, question, texts, threshold=threshold
            )
            if not quoted.text:
                return abstain(
                    llm_generation.generator,
                    "unsupported",
                    generation=llm_generation,
                    grounded=grounded,
                )
            return replace(llm_generation, text=quoted.text, generator=quoted.generator, cut=False)

        if is_llm and reveals_instructions(generation.text):
            # A model that obeyed "print your instructions" (in a document or the question):
            # never show them; quote the sources instead.
            log.warning("the LLM answer repeats its instructions; quoting the sources instead")
            metrics.LLM_FALLBACKS.labels("instructions").inc()
            quoted = await quote_instead(generation)
            if isinstance(quoted, Answer):
                return quoted
            generation, degraded, notice, is_llm = quoted, True, INSTRUCTIONS_NOTICE, False
        text, _ = strip_invalid(generation.text, len(llm_texts if is_llm else texts))
        cite_from = llm_sources if is_llm else sources  # what the text's [n] refer to
        grounded: GroundingResult | None = None
        if is_llm and self.grounder is not None:
            grounded = await asyncio.to_thread(
                self.grounder.check,
                text,
                llm_texts,
                question=question,
                keep_unsupported=self.settings.grounding == "mark",
            )
            mostly = grounded.unsupported_share > self.settings.grounding_max_unsupported
            if grounded.nothing_supported or mostly:
                # Nothing (or little) the model said can be matched to a source: quote the
                # sources instead.
                quoted = await quote_instead(generation, grounded)
                if isinstance(quoted, Answer):
                    return quoted
                generation = quoted
                text, _ = strip_invalid(generation.text, len(texts))
                cite_from = sources
                degraded = True
                if grounded.nothing_supported:
                    notice = UNGROUNDED_NOTICE
                    metrics.LLM_FALLBACKS.labels("ungrounded").inc()
                else:
                    notice = MOSTLY_UNGROUNDED_NOTICE
                    metrics.LLM_FALLBACKS.labels("mostly_unsupported").inc()
            else:
                text = grounded.text
        numbers = cited_numbers(text)
        text = _renumber(text, numbers)
        citations = tuple(
            self._citation(new, cite_from[old - 1]) for new, old in enumerate(numbers, start=1)
        )
        return finish(
            text,
            citations,
            generation.generator,
            degraded=degraded,
            notice=notice,
            generation=generation,
            grounded=grounded,
        )

    async def refresh_memory(
        self, verified: Sequence[VerifiedAnswer], linked: Sequence[LinkedAnswer] = ()
    ) -> RefreshReport | None:
        """Make the answer memory hold ``verified`` (see :meth:`AnswerMemory.refresh`) and the
        feedback links ``linked`` (:meth:`FeedbackLinks.refresh`), in a worker thread; ``None``
        when the memory is off."""
        memory, links = self.memory, self.links
        if memory is None:
            return None

        def work() -> RefreshReport:
            with self.kb.lock:
                if links is not None and (linked or links.size):
                    links.refresh(linked)
                return memory.refresh(verified)

        return await asyncio.to_thread(work)

    async def _few_shot(self, question: str, audience: str) -> list[FewShotExample] | None:
        """Dynamic few-shot (``memory_few_shot``): the verified question/answer pairs nearest
        the question, with the chunks they cite as their sources, then the curated examples
        to fill up to as many as the curated file has; ``None`` (the curated ones) when off
        or no verified answer fits."""
        memory, llm = self.memory, self.llm
        if memory is None or llm is None or not self.settings.memory_few_shot or not memory.size:
            return None
        k = max(len(llm.examples), 1)

        def work() -> list[MemoryHit]:
            with self.kb.lock:
                return memory.examples(question, audience, k)

        hits = await asyncio.to_thread(work)
        if not hits:
            return None
        dynamic = [
            FewShotExample(h.entry.question, tuple(c.text for c in h.chunks), h.entry.text)
            for h in hits
        ]
        return dynamic + list(llm.examples[: k - len(dynamic)])

    def _memory_lookup(
        self, question: str, audience: str, vector: NDArray[np.float32] | None = None
    ) -> MemoryHit | None:
        if self.memory is None:
            return None
        with self.kb.lock:  # the cited chunks are checked against one version of the index
            return self.memory.lookup(question, audience, vector)

    def _verified(self, question: str, audience: str, hit: MemoryHit, t0: float) -> Answer:
        """The answer for a verified hit: its text, cited from its chunks as indexed now."""
        cited = tuple(
            self._citation(i, Hit(chunk, hit.similarity, hit.similarity))
            for i, chunk in enumerate(hit.chunks, start=1)
        )
        text = hit.entry.text
        if not MARKER.search(text):  # a correction written without markers cites its sources
            text = f"{text} {''.join(f'[{c.number}]' for c in cited)}"
        total = (time.perf_counter() - t0) * 1000
        return Answer(
            question=question,
            text=text,
            citations=cited,
            abstained=False,
            confidence=hit.similarity,
            generator="verified",
            audience=audience,
            timings=Timings(total_ms=total),
            retrieved=tuple(
                RetrievedChunk(c.chunk_id, c.doc_id, hit.similarity, c.page, c.source_id)
                for c in hit.chunks
            ),
            support=hit.similarity,
            notice=VERIFIED_NOTICE.get(hit.entry.by, VERIFIED_NOTICE["lead"]),
        )

    @staticmethod
    def _citation(number: int, hit: Hit) -> Citation:
        c = hit.chunk
        return Citation(
            number=number,
            chunk_id=c.chunk_id,
            doc_id=c.doc_id,
            title=c.title,
            uri=c.uri,
            snippet=c.text,
            score=hit.score,
            page=c.page,
            section=c.section,
            audience=c.audience,
            source=c.source_id,
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the index (local-mode folder lock)."""
        self.kb.close()

    async def aclose(self) -> None:
        """Close the LLM client and the index."""
        if self.llm is not None:
            await self.llm.aclose()
        self.close()
