"""Page furniture: text that repeats around the content (running headers and footers, page
numbers, disclaimers), detected from the repetition itself and kept out of chunks and quotes.

Two kinds, both found by counting, never by matching known strings:

1. **Repeated lines within a document** (:func:`repeated_lines`): a line that occurs, digits
   aside, on at least 30% of a document's pages and on at least 3 of them is a running header
   or footer ("Contoso Electronics · Page 4 of 31"). Headings that recur in a long document
   ("Exceptions" on 17 of 104 pages) stay under that share, and so do label lines that end in
   a colon ("Responsibilities:" on every page of a role library), which introduce content.
   This is the usual header/footer rule of PDF text extraction (e.g. Lin, "Header and footer
   extraction by page-association", SPIE 2003: lines that recur across pages).
2. **Boilerplate across documents** (:func:`boilerplate_sentences`): a sentence of at least 8
   words that occurs word for word (case, spacing and line breaks aside) in at least half of
   the corpus's documents, and in at least 3, is a disclaimer or legal notice, not an answer:
   the Contoso PDFs each open with the same language-model disclaimer, wrapped differently in
   each. So is a line of at least 4 words, not a heading, found as widely ("All rights
   reserved to Microsoft", a notice without a full stop that would otherwise join the next
   sentence). The share matters: a manual repeats instructions such as "From Settings, tap
   Connections > Bluetooth, and then tap to turn on Bluetooth." in several of its 451
   sections, and those are content (stripping them cost the Galaxy S10 set 2 points of hit@1).

Ingestion strips both from the text before chunking; the extractive answerer also skips
boilerplate sentences, for documents indexed before a third copy of a notice arrived.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from knowledge.sentences import split_sentences

MIN_PAGES = 3  # a line must repeat on at least this many pages …
MIN_PAGE_SHARE = 0.3  # … and on at least this share of the document's pages
MIN_DOCUMENTS = 3  # a sentence repeated in this many documents …
MIN_DOCUMENT_SHARE = 0.5  # … and in this share of the corpus's documents is boilerplate …
MIN_WORDS = 8  # … if it has at least this many words
MIN_LINE_WORDS = 4  # a repeated line (no sentence end) needs this many words

_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalise_line(line: str) -> str:
    """Lower case, digit runs as ``#``, whitespace collapsed: ``Page 4 of 31`` → ``page # of #``."""
    return _SPACE.sub(" ", _DIGITS.sub("#", line.lower())).strip()


def sentence_key(sentence: str) -> str:
    """A short fingerprint of a sentence's words (case, spacing and punctuation aside)."""
    words = " ".join(_WORD.findall(sentence.lower()))
    return hashlib.sha1(words.encode("utf-8")).hexdigest()[:16]


def line_key(line: str) -> str:
    """The fingerprint of a whole line (its words, case aside; digits kept, since across
    documents "Section 3" and "Section 4" differ), distinct from sentence keys."""
    return sentence_key("line " + line) + "L"


def repeated_lines(pages: Sequence[str]) -> set[str]:
    """Normalised lines (:func:`normalise_line`) that repeat on enough pages of one document to
    be running headers or footers; empty for documents of fewer than :data:`MIN_PAGES` pages."""
    if len(pages) < MIN_PAGES:
        return set()
    need = max(MIN_PAGES, math.ceil(MIN_PAGE_SHARE * len(pages)))
    counts: dict[str, int] = defaultdict(int)
    for page in pages:
        for line in {normalise_line(x) for x in page.splitlines()}:
            if any(ch.isalnum() for ch in line) and not line.endswith(":"):
                counts[line] += 1
    return {line for line, n in counts.items() if n >= need}


def boilerplate_sentences(texts_by_document: Mapping[str, Iterable[str]]) -> set[str]:
    """Keys (:func:`sentence_key`, :func:`line_key`) of the sentences of :data:`MIN_WORDS` or
    more words, and the non-heading lines of :data:`MIN_LINE_WORDS` or more, found in at least
    :data:`MIN_DOCUMENTS` documents and :data:`MIN_DOCUMENT_SHARE` of them.
    ``texts_by_document``: document id → its texts (pages or chunks)."""
    from knowledge.sentences import looks_like_heading

    seen: dict[str, set[str]] = defaultdict(set)
    for doc_id, texts in texts_by_document.items():
        for text in texts:
            for s in split_sentences(text):
                if len(s.split()) >= MIN_WORDS:
                    seen[sentence_key(s)].add(doc_id)
            for line in text.splitlines():
                if len(line.split()) >= MIN_LINE_WORDS and not looks_like_heading(line):
                    seen[line_key(line)].add(doc_id)
    need = max(MIN_DOCUMENTS, math.ceil(MIN_DOCUMENT_SHARE * len(texts_by_document)))
    return {k for k, docs in seen.items() if len(docs) >= need}


def _sentence_pattern(sentence: str) -> re.Pattern[str]:
    """The sentence's words with any whitespace or line break between them."""
    words = sentence.split()
    return re.compile(r"\s+".join(re.escape(w) for w in words))


def is_boilerplate(sentence: str, boilerplate: set[str]) -> bool:
    """Whether a sentence (or a line) is one of the ``boilerplate`` keys."""
    return sentence_key(sentence) in boilerplate or line_key(sentence) in boilerplate


def strip_furniture(text: str, lines: set[str], boilerplate: set[str]) -> str:
    """``text`` without its furniture lines (normalised forms in ``lines``, or lines whose key
    is in ``boilerplate``) and without the sentences whose keys are in ``boilerplate``. Line
    structure is kept."""
    if lines or boilerplate:
        text = "\n".join(
            x
            for x in text.splitlines()
            if normalise_line(x) not in lines and line_key(x) not in boilerplate
        )
    if boilerplate:
        for s in split_sentences(text):
            if len(s.split()) >= MIN_WORDS and sentence_key(s) in boilerplate:
                text = _sentence_pattern(s).sub("", text, count=1)
    return text
