"""Types shared by the generators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class GeneratorError(RuntimeError):
    """The generator could not produce an answer (timeout, HTTP error, bad response)."""


SourceOrder = Literal["best_first", "best_last"]
"""Where the best source stands in an LLM's prompt (:func:`bot.prompt.format_sources`)."""

DEFAULT_MAX_TOKENS = 160
"""About 120 words: five sentences or list items with their markers. Measured with a 1.5B model
on a 2-core CPU (README, Measured): answers above 160 tokens were 6 of 44 and set the latency
p95; a reply stopped here ends at its last full sentence
(:func:`bot.generators.openai_compat.drop_unfinished`)."""


@dataclass(frozen=True)
class SourceText:
    """A numbered source handed to a generator: ``[number] label`` and its text;
    ``support`` is how well it supports the question (best sentence cosine, see
    :attr:`knowledge.retrieval.Hit.support`)."""

    number: int
    label: str
    text: str
    support: float = 0.0


@dataclass(frozen=True)
class Generation:
    """Generated answer text with ``[n]`` markers referring to ``SourceText.number``.

    ``model`` is the model the endpoint says answered (``None`` for the extractive generator);
    ``tokens_in``/``tokens_out`` are the prompt and completion tokens the endpoint reported
    (``usage``), ``None`` when it reported none; ``cut`` is true when the reply was cut where it
    started repeating itself, or at its last full sentence after ``max_tokens`` stopped it.
    """

    text: str
    generator: str
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cut: bool = False
