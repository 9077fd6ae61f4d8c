"""Where documents come from: one small protocol, three kinds of source.

A :class:`Source` lists what it holds now and loads what changed. :meth:`Source.scan` gets
``known`` (the version of each of its documents already indexed under the current settings) and
returns one item per document the source still holds:

- :class:`Kept`: present and unchanged since it was indexed (nothing is loaded or embedded);
- :class:`Fetched`: new or changed, with its text loaded;
- :class:`Failed`: present, but it could not be read this time (a corrupt file, an HTTP 500):
  the indexed version stays and the reason is reported.

A document missing from the result is gone from the source and is pruned by
:mod:`knowledge.sync`. A source that cannot be listed at all raises :class:`SourceUnavailable`,
and then nothing of it is pruned.

Kinds (configured in ``sources.toml``, see :mod:`knowledge.sources.config`): ``folder``
(:mod:`knowledge.sources.folder`), ``web`` (:mod:`knowledge.sources.web`) and ``llama-index``
(:mod:`knowledge.sources.llamaindex`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from llama_index.core import Document

from knowledge.documents import Skipped, SourceFile
from knowledge.errors import KnowledgeError
from knowledge.sources.config import SourceConfig


class SourceUnavailable(KnowledgeError):
    """A source could not be listed (folder missing or unmounted, site down, HTTP 5xx, a reader
    that raised): a sync deletes nothing of it and reports this message."""


@dataclass(frozen=True)
class KnownDoc:
    """What the index holds of one document: ``source_hash`` (SHA-256 of the bytes or text it
    was built from) and ``version`` (the web server's ETag/Last-Modified, as JSON, or ``None``)."""

    source_hash: str
    version: str | None = None


@dataclass(frozen=True)
class Kept:
    """A document still in the source and unchanged: its indexed version stays as it is."""

    doc_id: str


@dataclass(frozen=True)
class Failed:
    """A document still in the source that could not be read now; its indexed version stays."""

    doc_id: str
    where: Path | str  # the file, or the page's URL
    reason: str


@dataclass(frozen=True)
class Fetched:
    """A new or changed document with its text.

    Args:
        file: its id, local path (if any) and the URL citations link to.
        title: the document's title.
        docs: llama-index documents (one per PDF page, else one).
        fmt: ``pdf``, ``markdown`` or ``text`` (see :func:`knowledge.documents.load_file`).
        source_hash: SHA-256 (hex) of what it was built from.
        version: the web server's validators (JSON) for the next conditional GET, or ``None``.
    """

    file: SourceFile
    title: str
    docs: list[Document]
    fmt: str
    source_hash: str
    version: str | None = None

    @property
    def doc_id(self) -> str:
        """The document's id (see :class:`knowledge.documents.SourceFile`)."""
        return self.file.doc_id


Item = Kept | Fetched | Failed


@dataclass
class ScanResult:
    """What a scan found: one item per document present, and entries it ignored (e.g. files of
    an unsupported type), which are reported but are not documents of the source."""

    items: list[Item] = field(default_factory=list)
    ignored: list[Skipped] = field(default_factory=list)


class Source(Protocol):
    """A place documents come from (see the module docstring)."""

    config: SourceConfig

    def scan(self, known: Mapping[str, KnownDoc]) -> ScanResult:
        """List the source and load what is new or changed (blocking; may take minutes).

        Raises:
            SourceUnavailable: the source cannot be listed; nothing may be pruned.
        """
        ...


def make_source(config: SourceConfig) -> Source:
    """The source for a configured entry (imports the kind's module lazily)."""
    if config.kind == "folder":
        from knowledge.sources.folder import FolderSource

        return FolderSource(config)
    if config.kind == "web":
        from knowledge.sources.web import WebSource

        return WebSource(config)
    from knowledge.sources.llamaindex import LlamaIndexSource

    return LlamaIndexSource(config)


__all__ = [
    "Failed",
    "Fetched",
    "Item",
    "Kept",
    "KnownDoc",
    "ScanResult",
    "Source",
    "SourceConfig",
    "SourceUnavailable",
    "make_source",
]
