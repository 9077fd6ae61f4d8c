"""Split chunk text into sentences: the units of sentence-level search and of extractive answers.

PDF text breaks lines inside sentences and puts headings on lines of their own. Line breaks
inside a sentence are joined; lines that look like headings are dropped, since they are labels
rather than statements (the chunk's page or section locates them), and so are link lines
("Source: https://…"), which would otherwise run into the next sentence.
"""

from __future__ import annotations

import re

# Sentence boundary: end punctuation followed by space and an upper-case letter, digit or quote,
# or a line that starts a list item.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9•\-])|\n\s*(?=[•\-\*]|\d+[.)]\s)")
_BULLET = re.compile(r"^\s*(?:[•\-\*]|\d+[.)])\s*")

_URL = re.compile(r"\b(?:https?://|www\.)\S+")
_LIST_ITEM = re.compile(r"^\s*[•\-\*]\s")  # a bulleted line (numbered ones may be headings)

HEADING_MAX_WORDS = 10
# Fewer words than this is a fragment ("Tips:", "Exceptions"), not a statement worth a vector.
MIN_SENTENCE_WORDS = 3


def looks_like_heading(line: str) -> bool:
    """A short line without end punctuation whose words are mostly capitalised: a PDF heading
    such as "Balance Billing Protection" or "COVERED SERVICES: Home Health Care"."""
    words = line.split()
    if not words or len(words) > HEADING_MAX_WORDS or line.rstrip()[-1] in ".!?,;":
        return False
    if _LIST_ITEM.match(line):
        return False  # a list item ("• Gym memberships"), however short
    capitalised = sum(1 for w in words if w[:1].isupper() or not w[:1].isalpha())
    return capitalised / len(words) >= 0.6


def is_link_line(line: str) -> bool:
    """A line that is mostly a link ("Source: https://example.com/docs/parking"): more than
    half of its characters are URLs."""
    urls = sum(len(m.group(0)) for m in _URL.finditer(line))
    return urls > 0.5 * len(line.strip())


LIST_MARK = "• "


def split_sentences(text: str, *, mark_items: bool = False) -> list[str]:
    """Sentences of ``text`` in reading order, whitespace-normalised, heading and link lines
    dropped; list items (``•``, ``-``, ``*`` or ``1.`` lines) are sentences of their own, and
    with ``mark_items`` they start with :data:`LIST_MARK` so that callers can tell them apart."""
    text = "\n".join(
        line
        for line in text.splitlines()
        if not looks_like_heading(line) and not is_link_line(line)
    )
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"(?<![.!?:])\n(?!\s*(?:[•\-\*]|\d+[.)]\s))", " ", text)
    out = []
    for part in _SENTENCE_END.split(text):
        if not part or not part.strip():
            continue
        body = _BULLET.sub("", part).strip()
        if not body:
            continue
        item = mark_items and body != part.strip()
        out.append((LIST_MARK if item else "") + " ".join(body.split()))
    return out


def sentences_for_search(text: str) -> list[str]:
    """The sentences of a chunk that get their own vector: at least ``MIN_SENTENCE_WORDS``
    words each, distinct, in order; the whole (whitespace-normalised) text when none qualifies,
    so every chunk has at least one."""
    kept = [s for s in split_sentences(text) if len(s.split()) >= MIN_SENTENCE_WORDS]
    return list(dict.fromkeys(kept)) or [" ".join(text.split())]
