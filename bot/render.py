"""Plain-text pieces of an answer that every surface (console, Slack, Discord) shows alike."""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import Answer

SNIPPET_CHARS = 160


@dataclass(frozen=True)
class SourceLine:
    """One numbered source: ``[n] label`` linking to ``uri``, with a short quoted snippet."""

    number: int
    label: str
    uri: str
    snippet: str


def source_lines(answer: Answer) -> list[SourceLine]:
    """The numbered sources of an answer, in citation order (empty for an abstention)."""
    out = []
    for c in answer.citations:
        snippet = " ".join(c.snippet.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
        out.append(SourceLine(c.number, c.label, c.uri, snippet))
    return out


def status_note(answer: Answer) -> str | None:
    """A one-line caveat to show under the answer, if any (degraded or uncited answers)."""
    if answer.notice:
        return answer.notice
    if answer.uncited:
        return "This answer cites no source; check it before relying on it."
    return None
