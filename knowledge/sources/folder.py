"""A ``folder`` source: a local or mounted folder (or one file), read recursively.

A file is unchanged when the SHA-256 of its bytes is the one indexed; only new and changed files
are loaded. A folder that is missing, not a folder, or unreadable raises
:class:`~knowledge.sources.SourceUnavailable` (an unmounted share deletes nothing). An empty
folder is listed as empty: the mass-delete guard of :mod:`knowledge.sync` stops that run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from knowledge.documents import (
    LoadError,
    SourceFile,
    discover,
    file_sha256,
    load_file,
)
from knowledge.sources import (
    Failed,
    Fetched,
    Kept,
    KnownDoc,
    ScanResult,
    SourceUnavailable,
)
from knowledge.sources.config import SourceConfig


class FolderSource:
    """The files under ``config.location`` that ``include``/``exclude`` let in.

    Document ids are ``config.id/relative/path`` (bare relative paths for ad-hoc sources);
    citations link to ``base_url + relative path`` when ``base_url`` is set, else ``file://``.
    """

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.root = Path(config.location).expanduser()

    def _url(self, relative: str) -> str | None:
        base = self.config.base_url
        return f"{base.rstrip('/')}/{quote(relative)}" if base else None

    def scan(self, known: Mapping[str, KnownDoc]) -> ScanResult:
        """See :meth:`knowledge.sources.Source.scan`.

        Raises:
            SourceUnavailable: the folder (or file) does not exist or cannot be listed.
        """
        root = self.root
        if not root.exists():
            raise SourceUnavailable(
                f"source {self.config.id!r}: {root} does not exist (unmounted?); nothing removed"
            )
        try:
            files, ignored = discover([root])
        except OSError as exc:
            raise SourceUnavailable(
                f"source {self.config.id!r}: cannot list {root} ({exc.strerror or exc}); "
                "nothing removed"
            ) from None
        result = ScanResult(ignored=list(ignored))
        for found in files:
            relative = found.doc_id
            if not self.config.wants(relative):
                continue
            doc_id = self.config.doc_id(relative)
            file = SourceFile(found.path, doc_id, self._url(relative))
            assert found.path is not None  # discover always finds local files
            try:
                digest = file_sha256(found.path)
                before = known.get(doc_id)
                if before is not None and before.source_hash == digest:
                    result.items.append(Kept(doc_id))
                    continue
                title, docs, fmt = load_file(file, self.config.limits)
            except (LoadError, OSError) as exc:
                result.items.append(Failed(doc_id, found.path, str(exc)))
                continue
            result.items.append(Fetched(file, title, docs, fmt, digest))
        return result
