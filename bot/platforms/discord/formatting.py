"""How an answer looks on Discord: one embed with ``[n]`` markers and a numbered source list.

The text pieces come from the core (:mod:`bot.render`); this module only lays them out in
Discord's embed format and keeps every part inside Discord's limits (:mod:`.limits`).
Answers are blurple; abstentions are orange, carry a title saying no answer was found, and a
"Talk to a human" field with the configured contact.
"""

from __future__ import annotations

from urllib.parse import quote

import discord

from bot.models import Answer
from bot.platforms.discord import limits
from bot.render import SourceLine, source_lines, status_note

ANSWER_COLOUR = discord.Colour.blurple()
ABSTAIN_COLOUR = discord.Colour.orange()
ABSTAIN_TITLE = "No answer found in the documentation"
HUMAN_FIELD = "Talk to a human"
SOURCES_FIELD = "Sources"
SOURCES_MORE_FIELD = "Sources (continued)"
FEEDBACK_HINT = "Was this helpful? Use the buttons or react with 👍 / 👎."
# Our own caps (below Discord's) so that text, footer and contact always leave room for sources.
FOOTER_CAP = 512
CONTACT_CAP = 512


def _link_target(uri: str) -> str | None:
    """``uri`` made safe inside a Markdown link, or ``None`` if it is not a web address."""
    if not uri.lower().startswith(("https://", "http://")):
        return None
    return quote(uri, safe=":/?#[]@!$&'*+,;=%~-._")


def source_entry(line: SourceLine) -> str:
    """One source as Markdown: ``**[n]** [label](uri)`` and the quoted snippet below it.

    Non-web URIs (local file paths) are not linked, since a Discord user cannot open them.
    The result fits in one embed field value (1024 characters).
    """
    label = discord.utils.escape_markdown(line.label).replace("[", "(").replace("]", ")")
    target = _link_target(line.uri)
    head = f"**[{line.number}]** " + (f"[{label}]({target})" if target else label)
    if line.snippet:
        snippet = discord.utils.escape_markdown(line.snippet)
        head = f"{head}\n> {snippet}"
    return limits.fit(head, limits.EMBED_FIELD_VALUE)


def _source_fields(entries: list[str], budget: int, max_fields: int) -> list[tuple[str, str]]:
    """Pack source entries into (name, value) embed fields using at most ``budget`` characters.

    Entries stay whole and in order, several per field up to the field-value limit. When they
    do not all fit (in ``budget`` or in ``max_fields`` fields), the rest is summarised by a
    final "…and N more" line, for which room is reserved.
    """
    groups: list[list[str]] = []
    used = 0
    reserve = len(SOURCES_MORE_FIELD) + len(f"\n…and {len(entries)} more")
    for index, entry in enumerate(entries):
        last = index == len(entries) - 1
        joins = bool(groups) and len("\n".join(groups[-1])) + 1 + len(entry) <= (
            limits.EMBED_FIELD_VALUE
        )
        name = SOURCES_FIELD if not groups else SOURCES_MORE_FIELD
        cost = 1 + len(entry) if joins else len(name) + len(entry)
        fields_after = len(groups) + (0 if joins else 1)
        if used + cost + (0 if last else reserve) > budget or fields_after > max_fields - (
            0 if last else 1
        ):
            break
        if joins:
            groups[-1].append(entry)
        else:
            groups.append([entry])
        used += cost
    fields = [
        (SOURCES_FIELD if i == 0 else SOURCES_MORE_FIELD, "\n".join(group))
        for i, group in enumerate(groups)
    ]
    hidden = len(entries) - sum(len(group) for group in groups)
    if hidden:
        note = f"…and {hidden} more"
        if fields and len(fields[-1][1]) + 1 + len(note) <= limits.EMBED_FIELD_VALUE:
            fields[-1] = (fields[-1][0], f"{fields[-1][1]}\n{note}")
        elif len(fields) < max_fields and used + len(SOURCES_MORE_FIELD) + len(note) <= budget:
            fields.append((SOURCES_FIELD if not fields else SOURCES_MORE_FIELD, note))
    return fields


def answer_embed(answer: Answer, *, human_contact: str) -> discord.Embed:
    """The embed for ``answer``: its text, numbered sources and any caveat, within Discord limits.

    Args:
        answer: the core's answer; ``answer.text`` keeps its ``[n]`` markers.
        human_contact: who to contact, shown on abstentions (``Settings.human_contact``).

    Returns:
        A :class:`discord.Embed` whose parts respect the per-part limits and the 6000-character
        total (:mod:`.limits`); an over-long answer text is cut at a word boundary with "…" and
        sources that do not fit are summarised as "…and N more".
    """
    note = status_note(answer)
    room = FOOTER_CAP - len(FEEDBACK_HINT) - 1  # the caveat is cut, never the hint
    footer = f"{limits.fit(note, room)}\n{FEEDBACK_HINT}" if note else FEEDBACK_HINT
    description = limits.fit(answer.text.strip() or "…", limits.EMBED_DESCRIPTION)
    if answer.abstained:
        embed = discord.Embed(title=ABSTAIN_TITLE, description=description, colour=ABSTAIN_COLOUR)
        contact = limits.fit(human_contact.strip() or "a human", CONTACT_CAP)
        embed.add_field(name=HUMAN_FIELD, value=contact, inline=False)
    else:
        embed = discord.Embed(description=description, colour=ANSWER_COLOUR)
    embed.set_footer(text=footer)
    entries = [source_entry(line) for line in source_lines(answer)]
    if entries:
        budget = limits.EMBED_TOTAL - len(embed)
        max_fields = limits.EMBED_FIELDS - len(embed.fields)
        for name, value in _source_fields(entries, budget, max_fields):
            embed.add_field(name=name, value=value, inline=False)
    return embed


def plain_text(text: str) -> str:
    """``text`` fitted into one message's content (2000 characters), cut cleanly if longer."""
    return limits.fit(text.strip(), limits.MESSAGE_CONTENT)
