"""Discord's size limits and a clean way to fit text into them.

The numbers are Discord's documented limits, in characters (Unicode code points, which is what
``len`` counts in Python):

* message content: 2000 — https://discord.com/developers/docs/resources/message#create-message
* embed title 256, description 4096, field name 256, field value 1024, footer 2048, at most
  25 fields, and 6000 in total over all embeds of a message —
  https://discord.com/developers/docs/resources/message#embed-object-embed-limits
* slash-command string options: at most 6000 —
  https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-structure
"""

from __future__ import annotations

MESSAGE_CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_FIELDS = 25
EMBED_TOTAL = 6000

ELLIPSIS = "…"


def fit(text: str, limit: int, *, marker: str = ELLIPSIS) -> str:
    """Return ``text`` unchanged if it has at most ``limit`` characters, else cut it cleanly.

    The cut is made at the last paragraph, line or word boundary that leaves room for
    ``marker`` (a word is never split unless it alone is longer than the room left), and
    trailing whitespace is removed before ``marker`` is appended. The result never exceeds
    ``limit`` characters.

    Raises:
        ValueError: ``limit`` is smaller than ``len(marker) + 1``.
    """
    if len(text) <= limit:
        return text
    room = limit - len(marker)
    if room < 1:
        raise ValueError(f"limit {limit} leaves no room for text before {marker!r}")
    head = text[:room]
    # Prefer the largest natural break that keeps at least half of the room.
    for sep in ("\n\n", "\n", " "):
        cut = head.rfind(sep)
        if cut >= room // 2:
            head = head[:cut]
            break
    return head.rstrip() + marker
