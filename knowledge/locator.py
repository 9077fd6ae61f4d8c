"""Where in a document a chunk is, as people read it (``page 3``, ``Visitors > Parking``).

Kept apart from :mod:`knowledge.chunking` so that the value objects of :mod:`bot.models` (and so
``supportbot --help``) do not import llama-index.
"""

from __future__ import annotations


def locator(
    title: str, page: int | None, section: str | None, *, page_prefix: str = "page "
) -> str:
    """Where in a document a chunk is: ``page N`` for a PDF page, else its heading path with
    the document title left out (a Markdown file's H1 is usually its title, so the path
    ``Parking policy > Visitors`` of a file titled "Parking policy" becomes ``Visitors``, and the
    path ``Parking policy`` becomes ``""``)."""
    if page is not None:
        return f"{page_prefix}{page}"
    parts = [p for p in (section or "").split(" > ") if p]
    if parts and parts[0].strip().casefold() == title.strip().casefold():
        parts = parts[1:]
    return " > ".join(parts)
