"""A ``llama-index`` source: any llama-index reader, by import path, with its arguments.

``reader = "llama_index.readers.confluence.ConfluenceReader"`` with ``args`` (the constructor's
keyword arguments) and ``load_args`` (``load_data``'s) covers Confluence, Notion, Google Drive,
GitHub, Zendesk and the other reader packages (``pip install llama-index-readers-…``). Each
sync loads the whole source (readers have no change feed in common); the content hash of each
document then decides what is re-embedded.

Documents are grouped into one document per stable id: the metadata key ``id_key`` when set,
else the first of ``url``, ``file_path``, ``id``, else the reader's ``doc_id`` (so the pages of
a PDF that ``SimpleDirectoryReader`` returns become one document with pages). Its link is the
``url_key`` metadata (the Confluence or Notion page) or ``base_url`` + id; its title the
``title_key`` metadata, else ``file_name``, else the id. A reader that raises (bad credentials,
network down) raises :class:`~knowledge.sources.SourceUnavailable`: nothing is pruned.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from llama_index.core import Document

from knowledge.documents import SourceFile, title_from_name
from knowledge.sources import Fetched, Kept, KnownDoc, ScanResult, SourceUnavailable
from knowledge.sources.config import SourceConfig

ID_KEYS = ("url", "file_path", "id")


def import_reader(path: str) -> Any:
    """``package.module.Class`` or ``package.module:Class`` → the class.

    Raises:
        SourceUnavailable: the module is not installed or has no such attribute.
    """
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SourceUnavailable(
            f"reader {path!r} cannot be imported ({exc}); install its package, e.g. "
            "pip install llama-index-readers-confluence"
        ) from None


class LlamaIndexSource:
    """The documents a llama-index reader loads (see the module docstring)."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def _key(self, doc: Document) -> str:
        meta = doc.metadata or {}
        keys = (self.config.id_key,) if self.config.id_key else ID_KEYS
        for k in keys:
            if k and meta.get(k):
                return str(meta[k])
        return str(doc.doc_id)

    def _relative(self, key: str) -> str:
        """A file path key relative to the reader's input folder when one is configured."""
        root = self.config.args.get("input_dir")
        if root:
            try:
                return Path(key).resolve().relative_to(Path(root).resolve()).as_posix()
            except ValueError:
                pass
        return key

    def scan(self, known: Mapping[str, KnownDoc]) -> ScanResult:
        """See :meth:`knowledge.sources.Source.scan`.

        Raises:
            SourceUnavailable: the reader cannot be imported, built or loaded.
        """
        assert self.config.reader is not None  # checked when the sources file is read
        reader_cls = import_reader(self.config.reader)
        try:
            docs = reader_cls(**self.config.args).load_data(**self.config.load_args)
        except Exception as exc:  # a reader can raise anything: auth, network, parsing
            raise SourceUnavailable(
                f"source {self.config.id!r}: {self.config.reader} failed "
                f"({type(exc).__name__}: {exc}); nothing removed"
            ) from None
        groups: dict[str, list[Document]] = {}
        for doc in docs:
            if doc.text and doc.text.strip():
                groups.setdefault(self._key(doc), []).append(doc)
        result = ScanResult()
        for key, parts in groups.items():
            relative = self._relative(key)
            doc_id = self.config.doc_id(relative)
            text = "\n".join(p.text for p in parts)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            before = known.get(doc_id)
            if before is not None and before.source_hash == digest:
                result.items.append(Kept(doc_id))
                continue
            meta = parts[0].metadata or {}
            url = meta.get(self.config.url_key)
            if not url and self.config.base_url:
                url = f"{self.config.base_url.rstrip('/')}/{quote(relative)}"
            path = Path(key) if Path(key).is_absolute() and Path(key).exists() else None
            title = str(
                meta.get(self.config.title_key)
                or (title_from_name(Path(str(meta["file_name"]))) if meta.get("file_name") else "")
                or relative
            )
            pages = [_page_number(p) for p in parts]
            if len(parts) > 1 and all(n is not None for n in pages):
                documents = [
                    Document(text=p.text, metadata={"page": n})
                    for p, n in zip(parts, pages, strict=True)
                ]
                fmt = "pdf"
            else:
                documents, fmt = [Document(text=text)], "markdown"
            result.items.append(
                Fetched(
                    SourceFile(path, doc_id, str(url) if url else None),
                    title,
                    documents,
                    fmt,
                    digest,
                )
            )
        return result


def _page_number(doc: Document) -> int | None:
    label = (doc.metadata or {}).get("page_label")
    try:
        return int(label) if label is not None else None
    except (TypeError, ValueError):
        return None
