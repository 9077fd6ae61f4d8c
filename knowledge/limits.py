"""Per-document limits of ingestion (light: imported by the sources' configuration)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocumentLimits:
    """What one document may cost to read; a document over a limit is refused with a reason
    (and the rest of the sync goes on).

    Attributes:
        max_bytes: the largest file read, and the most a DOCX (a zip archive) may unpack to,
            so that a zip bomb is refused from its directory before anything is inflated.
        max_pages: the most pages a PDF may have (counted before any text is extracted).
        max_seconds: PDF text extraction is abandoned past this many seconds.

    The defaults (50 MB, 2,000 pages, 120 s) are far above an ordinary handbook or manual (the
    largest Contoso sample PDF is 0.6 MB; PDFium extracts its 104 pages in 0.3 s).
    """

    max_bytes: int = 50 * 1024 * 1024
    max_pages: int = 2_000
    max_seconds: float = 120.0
