"""Citation markers: find ``[n]`` in generated text, drop those that point to no source."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# [1], [2, 3] and [1][2] forms; the inside of one bracket may list several numbers.
MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def cited_chunk_ids(citations: Sequence[Mapping[str, Any]] | None) -> tuple[str, ...]:
    """The chunk ids of stored citations (dicts with ``chunk_id`` and maybe ``number``), in
    citation-number order (the order of ``[1]``, ``[2]``… in the answer; entries without a
    number, such as the citations a lead chose, keep their order), each once."""
    ordered = sorted(citations or [], key=lambda c: int(c.get("number") or 0))
    return tuple(dict.fromkeys(str(c["chunk_id"]) for c in ordered if c.get("chunk_id")))


def cited_numbers(text: str) -> list[int]:
    """Source numbers cited in ``text``, in order of first appearance, each once."""
    seen: dict[int, None] = {}
    for m in MARKER.finditer(text):
        for n in m.group(1).split(","):
            seen.setdefault(int(n), None)
    return list(seen)


def strip_invalid(text: str, n_sources: int) -> tuple[str, list[int]]:
    """Remove citation numbers outside ``1..n_sources``; return ``(text, valid numbers cited)``.

    ``"A [1][7]. B [2, 9]."`` with 2 sources becomes ``"A [1]. B [2]."``.
    """

    def fix(m: re.Match[str]) -> str:
        keep = [n for n in (int(x) for x in m.group(1).split(",")) if 1 <= n <= n_sources]
        return "".join(f"[{n}]" for n in keep)

    cleaned = MARKER.sub(fix, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return cleaned, cited_numbers(cleaned)
