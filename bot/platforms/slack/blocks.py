"""Block Kit layouts of what the bot posts: answers, abstentions, errors and the feedback modal.

Built with :mod:`slack_sdk.models` so Slack's limits are checked when a message is serialised.
Limits used here come from the Block Kit reference (https://docs.slack.dev/reference/block-kit):
3000 characters in a section's text, 10 elements in a context block, 24 characters in a modal
title, 50 blocks in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.models import Answer
from bot.platforms.slack.mrkdwn import escape, link, markdown_to_mrkdwn, split_for_blocks, truncate
from bot.render import source_lines, status_note

VOTE_UP_ACTION = "supportbot_vote_up"
VOTE_DOWN_ACTION = "supportbot_vote_down"
VOTE_BLOCK = "supportbot_vote"
FEEDBACK_VIEW = "supportbot_feedback"
FEEDBACK_BLOCK = "what_was_wrong"
FEEDBACK_INPUT = "text"
FEEDBACK_MAX_CHARS = 1000

SECTION_CHARS = 3000
CONTEXT_ELEMENTS = 10
FALLBACK_CHARS = 3000
MAX_ANSWER_SECTIONS = 10


@dataclass(frozen=True)
class SlackMessage:
    """A message to post: ``text`` is the notification/fallback text, already escaped (Slack
    parses it as mrkdwn, so a raw ``<!channel>`` in it would ping), ``blocks`` the layout."""

    text: str
    blocks: list[Block]

    def blocks_json(self) -> list[dict[str, Any]]:
        """The blocks as Slack JSON (validates Slack's limits; raises SlackObjectFormationError)."""
        return [b.to_dict() for b in self.blocks]


def answer_message(
    answer: Answer,
    answer_id: str | None,
    *,
    human_contact: str,
    asked_by: str | None = None,
) -> SlackMessage:
    """The Block Kit message for an answer.

    Layout: (for ``/ask``, who asked what) → the answer text with ``[n]`` markers linked to their
    sources → a context block of numbered sources (title and page or section) → a caveat note if
    any → 👍/👎 buttons carrying ``answer_id`` (left out when the answer could not be stored).
    An abstention has no sources, opens with a "not in the docs" marker and says how to reach a
    person (``human_contact``).
    """
    blocks: list[Block] = []
    if asked_by is not None:
        question = escape(truncate(answer.question, 500))
        asked = f":speech_balloon: <@{asked_by}> asked: _{question}_"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=asked)]))
    if answer.abstained:
        blocks.extend(_abstention_blocks(answer, human_contact))
    else:
        blocks.extend(_answer_blocks(answer))
    note = status_note(answer)
    if note:
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=f":warning: {escape(truncate(note, 500))}")]
            )
        )
    if answer_id is not None:
        blocks.append(vote_buttons(answer_id))
    return SlackMessage(text=escape(truncate(answer.text, FALLBACK_CHARS)), blocks=blocks)


def _answer_blocks(answer: Answer) -> list[Block]:
    links = {c.number: c.uri for c in answer.citations}
    body = markdown_to_mrkdwn(answer.text, links)
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=piece))
        for piece in split_for_blocks(body, SECTION_CHARS)[:MAX_ANSWER_SECTIONS]
    ]
    lines = source_lines(answer)
    if lines:
        elements = [
            f"*[{s.number}]* {link(s.uri, s.label)}"
            + (f" — _{escape(s.snippet)}_" if s.snippet else "")
            for s in lines
        ]
        if len(elements) > CONTEXT_ELEMENTS - 1:  # keep room for the "Sources" label
            head, tail = elements[: CONTEXT_ELEMENTS - 2], elements[CONTEXT_ELEMENTS - 2 :]
            elements = [*head, "\n".join(tail)]
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=":books: *Sources*")]
                + [MarkdownTextObject(text=truncate(e, SECTION_CHARS)) for e in elements]
            )
        )
    return blocks


def _abstention_blocks(answer: Answer, human_contact: str) -> list[Block]:
    blocks: list[Block] = [
        ContextBlock(
            elements=[MarkdownTextObject(text=":grey_question: *Not found in the documentation*")]
        ),
        SectionBlock(text=MarkdownTextObject(text=truncate(escape(answer.text), SECTION_CHARS))),
    ]
    if human_contact not in answer.text:  # the core's text usually names the contact already
        contact = f":bust_in_silhouette: To reach a person, ask {escape(human_contact)}."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=contact)]))
    return blocks


def vote_buttons(answer_id: str) -> ActionsBlock:
    """👍/👎 buttons whose ``value`` is the stored answer id."""
    return ActionsBlock(
        block_id=VOTE_BLOCK,
        elements=[
            ButtonElement(
                text=PlainTextObject(text=":thumbsup: Helpful", emoji=True),
                action_id=VOTE_UP_ACTION,
                value=answer_id,
                accessibility_label="This answer was helpful",
            ),
            ButtonElement(
                text=PlainTextObject(text=":thumbsdown: Not helpful", emoji=True),
                action_id=VOTE_DOWN_ACTION,
                value=answer_id,
                accessibility_label="This answer was not helpful",
            ),
        ],
    )


def notice_message(text: str, *, emoji: str = ":warning:") -> SlackMessage:
    """A short plain message (errors, usage hints) with an emoji in front."""
    return SlackMessage(
        text=escape(text),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"{emoji} {escape(truncate(text, 2900))}"))
        ],
    )


def feedback_modal(answer_id: str) -> View:
    """The optional "what was wrong?" modal opened after a 👎 (``private_metadata`` = answer id)."""
    return View(
        type="modal",
        callback_id=FEEDBACK_VIEW,
        private_metadata=answer_id,
        title=PlainTextObject(text="Answer feedback"),
        submit=PlainTextObject(text="Send"),
        close=PlainTextObject(text="Skip"),
        blocks=[
            InputBlock(
                block_id=FEEDBACK_BLOCK,
                optional=True,
                label=PlainTextObject(text="What was wrong? (optional)"),
                element=PlainTextInputElement(
                    action_id=FEEDBACK_INPUT,
                    multiline=True,
                    max_length=FEEDBACK_MAX_CHARS,
                    placeholder=PlainTextObject(
                        text="e.g. outdated, wrong document, not my question"
                    ),
                ),
            )
        ],
    )


def feedback_text(view: dict[str, Any]) -> str | None:
    """The text typed into :func:`feedback_modal` (from a ``view_submission`` payload's ``view``),
    or ``None`` when left empty."""
    values = (view.get("state") or {}).get("values") or {}
    value = (values.get(FEEDBACK_BLOCK) or {}).get(FEEDBACK_INPUT, {}).get("value")
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:FEEDBACK_MAX_CHARS]
