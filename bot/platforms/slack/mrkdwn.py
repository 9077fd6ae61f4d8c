"""Text in and out of Slack: mrkdwn for what the bot posts, plain text from what people post.

Slack's rules (https://docs.slack.dev/messaging/formatting-message-text): in message text only
``&``, ``<`` and ``>`` are escaped (as ``&amp;`` ``&lt;`` ``&gt;``); links, mentions and channel
references are written in angle brackets (``<https://x|label>``, ``<@U123>``, ``<#C123|name>``);
bold is ``*bold*``. Incoming ``text`` fields use the same encoding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_WEB_URL = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_MARKER = re.compile(r"\[(\d{1,3})\]")
_MD_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_MD_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_ANGLE = re.compile(r"<([^<>]+)>")
HEADING_MAX_CHARS = 80


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so ``text`` shows literally in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo :func:`escape` (Slack sends message text escaped)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def is_web_url(uri: str) -> bool:
    """Whether Slack can render ``uri`` as a link (``http(s)://`` or ``mailto:``)."""
    return bool(_WEB_URL.match(uri))


def link(uri: str, label: str) -> str:
    """``<uri|label>`` when ``uri`` is a web address, else just the escaped label."""
    safe_label = escape(label).replace("|", "¦")
    if is_web_url(uri) and not any(c in uri for c in "<>| "):
        return f"<{uri}|{safe_label}>"
    return safe_label


def markdown_to_mrkdwn(text: str, marker_links: Mapping[int, str] | None = None) -> str:
    """Convert the Markdown a generator may write into Slack mrkdwn.

    Handles ``[label](https://…)`` links, ``**bold**`` and ``#`` headings (shown bold; a
    "heading" that is really prose, e.g. flattened document text, loses its hashes only);
    everything else is escaped. With ``marker_links`` (citation number -> URI), ``[n]``
    markers become links to their source where the URI is a web address.
    """
    links = marker_links or {}
    out: list[str] = []
    pos = 0
    for m in _MD_LINK.finditer(text):
        out.append(_plain_segment(text[pos : m.start()], links))
        out.append(link(m.group(2), m.group(1)))
        pos = m.end()
    out.append(_plain_segment(text[pos:], links))
    result = _MD_HEADING.sub(_heading, "".join(out))
    return _MD_BOLD.sub(r"*\1*", result)


def _heading(m: re.Match[str]) -> str:
    # "# Title" is a heading (bold in Slack). When the heading runs into a paragraph (flattened
    # document text: long, cites, or ends a sentence) only the hashes are dropped.
    text = m.group(1)
    prose = len(text) > HEADING_MAX_CHARS or _MARKER.search(text) or text.endswith((".", "!", "?"))
    return text if prose else f"*{text}*"


def _plain_segment(segment: str, marker_links: Mapping[int, str]) -> str:
    escaped = escape(segment)
    if not marker_links:
        return escaped

    def marker(m: re.Match[str]) -> str:
        uri = marker_links.get(int(m.group(1)))
        return link(uri, m.group(0)) if uri and is_web_url(uri) else m.group(0)

    return _MARKER.sub(marker, escaped)


def clean_incoming(text: str, bot_user_id: str | None = None) -> str:
    """The question as plain text: the bot's own mention removed, other Slack markup readable.

    ``<@BOT>`` is dropped; ``<@U1>`` becomes ``@U1``; ``<#C1|general>`` becomes ``#general``;
    ``<https://x|label>`` becomes ``label (https://x)``; ``<!here>`` becomes ``@here``;
    entities are unescaped and whitespace collapsed.
    """

    def replace(m: re.Match[str]) -> str:
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "" if bot_user_id and target[1:] == bot_user_id else f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            return f"@{label or target[1:].split('^')[0]}"
        if label and label != target:
            return f"{label} ({target})"
        return target

    return unescape(" ".join(_ANGLE.sub(replace, text).split()))


def mentions(text: str, user_id: str | None) -> bool:
    """Whether ``text`` mentions ``user_id`` (``<@U…>`` or ``<@U…|name>``)."""
    return (
        bool(user_id) and re.search(rf"<@{re.escape(user_id or '')}(\|[^>]*)?>", text) is not None
    )


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``…`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def split_for_blocks(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at paragraph or line breaks
    where possible (Slack allows 3000 characters in a section block's text)."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
