"""Labelled evaluation questions (JSONL) and source ids.

A *source id* names one document, optionally one page of it: the document's path relative to the
documents folder with POSIX separators, optionally followed by ``#page=N`` (N is the 1-based PDF
page), e.g. ``pdf/Benefit_Options.pdf#page=3`` or ``faq/returns.md``.

The JSONL format (one object per line, blank lines ignored)::

    {"question": "...", "answer": "...", "gold": ["a.pdf#page=2"], "answerable": true}

``answer`` (alias ``truth``), ``gold`` and ``answerable`` are optional; see :func:`load_questions`.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One trailing citation such as "[Benefit_Options.pdf#page=3]" or "[faq/returns.md]": something
# that looks like a file name (it has an extension), optionally with a page fragment. "[1]" or
# "[see below]" are not citations of a file and are left in the text.
_TRAILING_CITATION = re.compile(r"\[\s*([^\[\]]*?\.[A-Za-z0-9]{1,8}(?:#page=\d+)?)\s*\]\s*$")
_PAGE_FRAGMENT = re.compile(r"^page=(\d+)$")


@dataclass(frozen=True)
class EvalQuestion:
    """One labelled question.

    Attributes:
        question: The question text as a user would ask it.
        answer: The gold answer text with any trailing file citations removed; ``None`` when the
            set has no gold answer or the question is unanswerable.
        gold: Source ids (see the module docstring) of the documents/pages that answer it, in file
            order without duplicates; empty when unknown or unanswerable.
        answerable: ``False`` for questions the documents cannot answer (the bot should abstain).
    """

    question: str
    answer: str | None
    gold: tuple[str, ...]
    answerable: bool


def normalize_source_id(s: str) -> str:
    """Canonical form of a source id: trimmed, POSIX separators, no leading ``./``.

    ``" .\\\\pdf\\\\a.pdf#page=2 "`` becomes ``"pdf/a.pdf#page=2"``. Nothing else is changed (case
    is kept: file names are case-sensitive on the systems we deploy to).
    """
    s = s.strip().replace("\\", "/")
    while s.startswith("./"):
        s = s[2:]
    return s


def _split(source_id: str) -> tuple[str, str | None]:
    """``(path, fragment)`` of a normalised source id; ``#page=03`` is read as ``page=3``."""
    path, sep, fragment = source_id.partition("#")
    if not sep or not fragment:
        return path, None
    m = _PAGE_FRAGMENT.match(fragment)
    return path, f"page={int(m.group(1))}" if m else fragment


def source_matches(retrieved_id: str, gold_id: str) -> bool:
    """Whether a retrieved source id counts as a hit for a gold source id.

    Both ids are normalised with :func:`normalize_source_id` first. Rules:

    * Document: the paths must be equal, except that a gold id with no directory part (a bare
      file name, as in the Contoso set: ``Benefit_Options.pdf#page=3``) matches any retrieved
      path with that base name (``pdf/Benefit_Options.pdf#page=3``). Two documents with the same
      name in different folders are therefore indistinguishable to a bare-name gold id.
    * Place: a gold id without a fragment matches every page, section and part of the document
      (and the document itself); a gold id with ``#page=N`` or ``#section-anchor`` only matches
      a retrieved id with the same fragment.

    Examples:
        ``source_matches("pdf/x.pdf#page=3", "x.pdf") -> True``;
        ``source_matches("docs/faq.md#billing", "docs/faq.md") -> True``;
        ``source_matches("pdf/x.pdf#page=3", "x.pdf#page=4") -> False``;
        ``source_matches("a/x.pdf", "b/x.pdf") -> False``.
    """
    r_path, r_place = _split(normalize_source_id(retrieved_id))
    g_path, g_place = _split(normalize_source_id(gold_id))
    if not g_path:
        return False
    same_doc = r_path == g_path if "/" in g_path else posixpath.basename(r_path) == g_path
    return same_doc and (g_place is None or r_place == g_place)


def split_trailing_citations(text: str) -> tuple[str, tuple[str, ...]]:
    """Split ``"... text.[a.pdf#page=7][b.pdf]"`` into ``("... text.", ("a.pdf#page=7", "b.pdf"))``.

    Only citations at the very end count (one or more, whitespace between allowed); they are
    returned in text order, normalised, without duplicates. Text without any is returned stripped
    with an empty tuple.
    """
    found: list[str] = []
    rest = text.rstrip()
    while m := _TRAILING_CITATION.search(rest):
        found.append(normalize_source_id(m.group(1)))
        rest = rest[: m.start()].rstrip()
    return rest.strip(), _unique(reversed(found))


def _unique(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))


def _parse_line(obj: Any, answerable_override: bool | None) -> EvalQuestion:
    """Build an EvalQuestion from one decoded JSON line; ``ValueError`` says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("'question' must be a non-empty string")

    key = "answer" if "answer" in obj else "truth"
    answer = obj.get(key)
    if answer is not None and not isinstance(answer, str):
        raise ValueError(f"'{key}' must be a string or null")

    raw_gold = obj.get("gold")
    if isinstance(raw_gold, str):
        raw_gold = [raw_gold]
    if raw_gold is not None and not (
        isinstance(raw_gold, list) and all(isinstance(g, str) and g.strip() for g in raw_gold)
    ):
        raise ValueError("'gold' must be a list of non-empty strings")

    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ValueError("'answerable' must be true or false")
    if answerable_override is not None:
        answerable = answerable_override

    cited: tuple[str, ...] = ()
    if answer is not None:
        answer, cited = split_trailing_citations(answer)
    if raw_gold is not None:
        gold = _unique(normalize_source_id(g) for g in raw_gold)
    else:
        gold = cited if answerable else ()
    if not answerable:
        answer = None
    return EvalQuestion(
        question=question.strip(), answer=answer or None, gold=gold, answerable=answerable
    )


def load_questions(path: Path, *, answerable: bool | None = None) -> list[EvalQuestion]:
    """Read labelled questions from a JSONL file.

    Each non-blank line is a JSON object with:

    * ``question`` (string, required);
    * ``answer`` (string, optional) or its alias ``truth`` (the field name of the Azure
      ai-rag-chat-evaluator sets such as Contoso HR benefits); ``answer`` wins when both exist.
      Trailing file citations (``[file#page=N]`` / ``[file]``, see
      :func:`split_trailing_citations`) are always stripped from the text;
    * ``gold`` (list of source ids, optional): when absent, the trailing citations of the answer
      become the gold ids;
    * ``answerable`` (bool, optional, default ``True``).

    Args:
        path: The JSONL file (UTF-8).
        answerable: Overrides every line's ``answerable``. Use ``answerable=False`` for a
            don't-know set such as ``qa_dontknows.jsonl`` whose ``truth`` only says how the
            questions were made.

    Returns:
        The questions in file order. For an unanswerable question ``answer`` is always ``None``
        and ``gold`` holds only ids given explicitly in ``gold`` (never ones taken from the
        dropped answer text).

    Raises:
        ValueError: On a malformed line, as ``"<path>:<line>: <what is wrong>"``.
        OSError: If the file cannot be read.
    """
    questions: list[EvalQuestion] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                questions.append(_parse_line(json.loads(line), answerable))
            except ValueError as e:  # json.JSONDecodeError is a ValueError too
                raise ValueError(f"{path}:{lineno}: {e}") from e
    return questions
