"""Split loaded documents into chunks that carry everything a citation needs.

PDFs and plain text go through llama-index's ``SentenceSplitter``; Markdown (and HTML,
converted to Markdown) first through ``MarkdownNodeParser`` so each chunk knows its heading path,
then through the splitter for size. Sizes are counted in the embedding model's own tokens, so a
chunk never silently overflows the model's input window (256 word pieces for MiniLM).

The pages of a PDF are split as one continuous text, not page by page: a topic that runs over a
page break stays in one chunk instead of leaving a stub at the foot of a page. A chunk is cited
by the page it starts on, the convention of passage citations (and of the Azure
``azure-search-openai-demo`` indexer whose labels the Contoso QA set uses). Consecutive chunks
overlap by half a chunk by default, so every passage lies well inside some chunk (a sliding
window with stride = half the window).

Each chunk is embedded with a short context header (document title and page or section) in
front of its text: the header disambiguates chunks that only make sense in context (Anthropic,
"Introducing Contextual Retrieval", 2024, reports fewer retrieval failures with such context).
"""

from __future__ import annotations

import bisect
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter

from knowledge.documents import SourceFile, source_uri
from knowledge.locator import locator
from knowledge.sentences import sentences_for_search

# Fixed namespace so point ids are the same on every machine and every run.
CHUNK_NAMESPACE = uuid.UUID("6f1c3c1e-5b7a-4d7e-9a55-2f0b8c1d7e42")


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of a document, with the metadata stored as its Qdrant payload.

    ``source_id`` is the unit a citation points to and the unit of the evaluation's gold
    labels: ``doc_id#page=N`` for a PDF page, ``doc_id#anchor`` for a section of a Markdown,
    HTML or DOCX file (the heading's anchor, see :func:`heading_anchor`), ``doc_id#part=N``
    for the N-th chunk (1-based) of text outside any section. Never a whole long file.
    """

    chunk_id: str
    doc_id: str
    source_id: str
    title: str
    uri: str
    audience: str
    text: str
    content_hash: str
    doc_hash: str
    chunk_index: int
    page: int | None = None
    section: str | None = None
    origin: str = ""
    source_hash: str = ""
    version: str | None = None

    @property
    def locator(self) -> str:
        """``page N`` or the section path without the title, for labels and the context
        header (see :func:`locator`)."""
        return locator(self.title, self.page, self.section)

    @property
    def label(self) -> str:
        """``title, locator`` (e.g. ``Employee Handbook, page 3``), the title alone when the
        locator is empty: a Markdown file's H1 is usually its title, never shown twice."""
        return f"{self.title}, {self.locator}" if self.locator else self.title

    @property
    def sentences(self) -> list[str]:
        """The sentences that get their own vector (see :mod:`knowledge.sentences`)."""
        return sentences_for_search(self.text)

    @property
    def embedding_text(self) -> str:
        """The text that is embedded and indexed: context header + chunk text."""
        header = f"{self.title} ({self.locator})" if self.locator else self.title
        return f"{header}\n{self.text}"

    def payload(self) -> dict[str, Any]:
        """The Qdrant payload (all fields)."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Chunk:
        """Inverse of :meth:`payload`."""
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in payload.items() if k in fields})


_HEADING = re.compile(r"^\s*#{1,6}\s[^\n]*\n?")
_EXPLICIT_ID = re.compile(r"\s*\{#([^}\s]+)\}\s*$")


def heading_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces → ``-``
    ("Returns & refunds (EU)" → ``returns--refunds-eu``). A repeated heading gets ``-1``,
    ``-2``, … (see :meth:`Chunker.chunk`)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _section_path(header_path: str, text: str) -> tuple[str | None, str | None]:
    """``(heading path, anchor of the section's own heading)``; an explicit ``{#id}`` after a
    heading (kept from an HTML ``id``) is the anchor and is cut from the path."""
    parts = [_EXPLICIT_ID.sub("", p).strip() for p in header_path.strip("/").split("/") if p]
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    anchor = None
    if first.startswith("#"):
        heading = first.lstrip("#").strip()
        m = _EXPLICIT_ID.search(heading)
        heading = _EXPLICIT_ID.sub("", heading).strip()
        anchor = m.group(1) if m else heading_anchor(heading)
        parts.append(heading)
    return " > ".join(parts) or None, anchor


class Chunker:
    """Turn loaded documents into :class:`Chunk` objects.

    Args:
        tokenize: the embedding model's tokenizer (text → tokens), used to count chunk sizes.
        chunk_size: maximum tokens per chunk (without the context header).
        chunk_overlap: tokens shared by consecutive chunks of the same document or section.
        base_url: optional public docs site that citations link to (else ``file://``).
    """

    def __init__(
        self,
        tokenize: Callable[[str], Sequence[Any]],
        *,
        chunk_size: int,
        chunk_overlap: int,
        base_url: str | None = None,
    ) -> None:
        self._splitter = SentenceSplitter(
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            tokenizer=tokenize,
            include_metadata=False,
            include_prev_next_rel=False,
        )
        self._markdown = MarkdownNodeParser(include_metadata=True, include_prev_next_rel=False)
        self.base_url = base_url

    def _paged_pieces(self, pages: list[Document]) -> list[tuple[str, int | None]]:
        """Split the pages of one document as one text → ``(chunk text, page it starts on)``."""
        starts: list[int] = []
        numbers: list[int | None] = []
        offset = 0
        for doc in pages:
            starts.append(offset)
            numbers.append(doc.metadata.get("page"))
            offset += len(doc.text) + 1  # + the newline that joins pages
        full = "\n".join(doc.text for doc in pages)
        pieces = []
        search_from = 0
        for text in self._splitter.split_text(full):
            body = text.strip()
            if not body:
                continue
            # Chunks come in reading order and each starts after the previous one's start.
            at = full.find(body, search_from)
            if at < 0:  # not found verbatim (never seen): keep the previous chunk's page
                at = search_from
            search_from = at + 1
            pieces.append((text, numbers[bisect.bisect_right(starts, at) - 1]))
        return pieces

    def chunk(
        self,
        source: SourceFile,
        title: str,
        docs: list[Document],
        fmt: str,
        *,
        audience: str,
        doc_hash: str,
        origin: str = "",
        source_hash: str = "",
        version: str | None = None,
    ) -> list[Chunk]:
        """Chunks of one document, in reading order (``chunk_index`` 0, 1, …).

        Point ids are UUID5s of (origin, document id, ``doc_hash``, index): a new version of a
        document gets new ids, so it can be written beside the old one and the old one deleted
        after (:mod:`knowledge.sync`), and a question never sees half of each.
        """
        # (text, page, section path, anchor)
        pieces: list[tuple[str, int | None, str | None, str | None]] = []
        if fmt == "markdown":
            used: dict[str, int] = {}
            for node in self._markdown.get_nodes_from_documents(docs):
                body = node.get_content()
                path, anchor = _section_path(node.metadata.get("header_path", "/"), body)
                if anchor is not None:  # GitHub numbers repeated anchors: x, x-1, x-2, …
                    n = used.get(anchor, 0)
                    used[anchor] = n + 1
                    anchor = f"{anchor}-{n}" if n else anchor
                # The heading line lives on in the section path (and the embedding header).
                body = _HEADING.sub("", body, count=1)
                for text in self._splitter.split_text(body):
                    pieces.append((text, None, path, anchor))
        elif any(d.metadata.get("page") is not None for d in docs):
            pieces.extend((text, page, None, None) for text, page in self._paged_pieces(docs))
        else:
            for doc in docs:
                for text in self._splitter.split_text(doc.text):
                    pieces.append((text, None, None, None))
        chunks = []
        parts = 0
        for index, (text, page, section, anchor) in enumerate(t for t in pieces if t[0].strip()):
            if page is not None:
                source_id = f"{source.doc_id}#page={page}"
            elif anchor:
                source_id = f"{source.doc_id}#{anchor}"
            else:  # text outside any section: each chunk is a source of its own
                parts += 1
                source_id = f"{source.doc_id}#part={parts}"
            chunks.append(
                Chunk(
                    chunk_id=str(
                        uuid.uuid5(
                            CHUNK_NAMESPACE, f"{origin}\x00{source.doc_id}\x00{doc_hash}\x00{index}"
                        )
                    ),
                    doc_id=source.doc_id,
                    source_id=source_id,
                    title=title,
                    uri=source_uri(
                        source.path, source.doc_id, self.base_url, page, anchor, url=source.url
                    ),
                    audience=audience,
                    text=text.strip(),
                    content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                    doc_hash=doc_hash,
                    chunk_index=index,
                    page=page,
                    section=section,
                    origin=origin,
                    source_hash=source_hash,
                    version=version,
                )
            )
        return chunks
