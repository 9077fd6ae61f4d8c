"""Which emoji reactions count as votes, and the reaction the bot shows while it works.

Slack reports a reaction by its canonical short name (``+1`` for 👍, ``-1`` for 👎) and appends
``::skin-tone-N`` for a skin tone (https://docs.slack.dev/reference/events/reaction_added); the
aliases ``thumbsup``/``thumbsdown`` are accepted too.
"""

from __future__ import annotations

WORKING_REACTION = "eyes"
"""Added to a question while the bot looks it up, removed when the reply is posted."""

_VOTES: dict[str, int] = {
    "+1": 1,
    "thumbsup": 1,
    "thumbs_up": 1,
    "-1": -1,
    "thumbsdown": -1,
    "thumbs_down": -1,
}


def reaction_vote(name: str) -> int | None:
    """+1 for a 👍 reaction, -1 for a 👎 (any alias or skin tone), ``None`` for anything else."""
    base = name.split("::", 1)[0].strip(":").lower()
    return _VOTES.get(base)
