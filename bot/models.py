"""Value objects passed between the core, the adapters and the feedback store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from knowledge.locator import locator

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Turn:
    """One earlier turn of the conversation, oldest first in a history sequence."""

    role: Role
    text: str


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer.

    ``number`` is the ``[n]`` used in the answer text (1-based). ``locator`` is a human label of
    the place in the document: ``"p. 12"`` for a PDF page or the heading path of a section.
    ``score`` is the retrieval score of the chunk (higher is better; its scale depends on the
    retriever, see :class:`knowledge.retrieval.Hit`).
    """

    number: int
    chunk_id: str
    doc_id: str
    title: str
    uri: str
    snippet: str
    score: float
    page: int | None = None
    section: str | None = None
    audience: str = "public"
    source: str | None = None

    @property
    def source_id(self) -> str:
        """The cited unit (:attr:`knowledge.chunking.Chunk.source_id`: a page, a section or a
        part); without ``source``, ``doc_id#page=N`` for a page, else ``doc_id``."""
        if self.source:
            return self.source
        return f"{self.doc_id}#page={self.page}" if self.page is not None else self.doc_id

    @property
    def locator(self) -> str:
        """``"p. N"`` for a page, the section path without the title for a section, else
        ``""`` (see :func:`knowledge.chunking.locator`)."""
        return locator(self.title, self.page, self.section, page_prefix="p. ")

    @property
    def label(self) -> str:
        """Title plus locator, e.g. ``"Employee Handbook, p. 3"``; never the title twice."""
        return f"{self.title}, {self.locator}" if self.locator else self.title


@dataclass(frozen=True)
class Timings:
    """Wall-clock milliseconds spent in each stage of one answer."""

    embed_ms: float = 0.0
    search_ms: float = 0.0
    rerank_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk the retriever returned for the question (whether or not it was cited)."""

    chunk_id: str
    doc_id: str
    score: float
    page: int | None = None
    source: str | None = None

    @property
    def source_id(self) -> str:
        """The chunk's source (see :attr:`Citation.source_id`)."""
        if self.source:
            return self.source
        return f"{self.doc_id}#page={self.page}" if self.page is not None else self.doc_id


@dataclass(frozen=True)
class Answer:
    """The core's answer to one question.

    ``text`` carries ``[n]`` markers that refer to ``citations[n-1].number``. ``abstained`` is
    true when the documents do not support an answer; ``text`` then says so and points to a human.
    ``confidence`` is in [0, 1]; ``support`` is the raw support score the abstention decision used
    (see :mod:`bot.abstention`). ``degraded`` is true when the configured generator failed and a
    fallback answered; ``uncited`` flags an LLM answer left with no valid citation.
    ``abstain_reason`` names the rule that refused (``no_sources``, ``low_support``,
    ``unknown_terms``, ``not_covered`` when an LLM said the sources do not cover it, or
    ``unsupported`` when nothing the LLM said was grounded and no passage could be quoted);
    ``unknown_terms`` lists the question's words that no document contains.
    ``model`` is the LLM that answered and ``tokens_in``/``tokens_out`` the prompt and
    completion tokens it reported (``None`` for the extractive generator or when not reported).
    ``partially_supported`` is true when the grounding check (:mod:`bot.grounding`) found
    sentences of an LLM answer that no source supports; ``unsupported_claims`` are those
    sentences (removed from ``text`` under the default ``grounding = "remove"``).
    """

    question: str
    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    confidence: float
    generator: str
    audience: str
    timings: Timings
    retrieved: tuple[RetrievedChunk, ...] = field(default_factory=tuple)
    support: float = 0.0
    degraded: bool = False
    uncited: bool = False
    notice: str | None = None
    abstain_reason: str | None = None
    unknown_terms: tuple[str, ...] = ()
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    partially_supported: bool = False
    unsupported_claims: tuple[str, ...] = ()
