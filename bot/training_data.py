"""Fine-tuning data from feedback: SFT, DPO and RAFT rows in the dataset formats TRL reads.

The formats are TRL's conversational types (https://huggingface.co/docs/trl/dataset_formats):

- **SFT** (language modelling, conversational): ``{"messages": [system, user, assistant]}``,
  the system prompt and the user message exactly as the bot builds them
  (:func:`bot.prompt.build_messages`: the numbered sources, then the question), and the
  verified answer as the assistant turn.
- **DPO** (preference, conversational, explicit prompt): ``{"prompt": [system, user],
  "chosen": [assistant], "rejected": [assistant]}``: a lead's correction against the answer it
  corrected, and a verified or 👍 answer against a 👎 answer to the same question (case and
  spacing aside).
- **RAFT** (Zhang et al., 2024, "RAFT: Adapting Language Model to Domain Specific RAG"):
  ``messages`` as for SFT, but the sources are the oracle chunks (those the verified answer
  cites) mixed with :data:`RAFT_DISTRACTORS` chunks sampled from the rest of the index, in a
  shuffled order; with probability 1 − :data:`RAFT_ORACLE_SHARE` the oracle is left out, as the
  paper does so that the model also learns to answer from memory (the markers are then
  dropped). Extra columns: ``oracle_ids``, ``distractor_ids``, ``oracle_included``.

The sources of an SFT/DPO prompt are what the answer retrieved (its first ``top_k`` distinct
chunks, the cited ones always among them), as they are in the index now; an answer whose cited
chunks are gone or changed is skipped (its text no longer matches its sources). Every ``[n]``
in an answer is renumbered to the position of the chunk it cites in that prompt. Randomness is
seeded per answer id, so an export is reproducible.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.citations import MARKER, cited_chunk_ids
from bot.feedback import AnswerRow, CurationRow, FeedbackStore, newest_curations
from bot.prompt import build_messages
from knowledge.chunking import Chunk

TrainingFormat = Literal["sft", "dpo", "raft"]
TRAINING_FORMATS: tuple[TrainingFormat, ...] = ("sft", "dpo", "raft")
RAFT_DISTRACTORS = 3
"""Distractor chunks per RAFT example (the paper uses 3 or 4 documents per prompt)."""
RAFT_ORACLE_SHARE = 0.8
"""Share of RAFT examples whose prompt holds the oracle (the paper's P = 80%)."""

GetChunks = Callable[[Sequence[str]], dict[str, Chunk]]
AllChunks = Callable[[], Sequence[Chunk]]


@dataclass(frozen=True)
class _Text:
    """An answer text and the chunk ids its markers ``[1]``, ``[2]``… refer to."""

    text: str
    cited: tuple[str, ...]


def _renumber(text: str, cited: Sequence[str], position: dict[str, int]) -> str:
    """Rewrite each ``[n]`` (``cited[n-1]``) to that chunk's number in the prompt; a marker of a
    chunk not in the prompt is dropped, with the space before it."""

    def fix(m: re.Match[str]) -> str:
        out = []
        for x in m.group(2).split(","):
            n = int(x)
            if 1 <= n <= len(cited) and cited[n - 1] in position:
                out.append(f"[{position[cited[n - 1]]}]")
        return m.group(1) + "".join(out) if out else ""

    return _SPACED_MARKER.sub(fix, text).strip()


_SPACED_MARKER = re.compile(r"(\s*)" + MARKER.pattern)


def _norm(question: str) -> str:
    return " ".join(question.casefold().split())


class _Builder:
    def __init__(self, get_chunks: GetChunks, top_k: int, human_contact: str) -> None:
        self.get_chunks = get_chunks
        self.top_k = top_k
        self.human_contact = human_contact

    def prompt_ids(self, row: AnswerRow, must: Sequence[str]) -> list[str]:
        """The answer's first ``top_k`` distinct retrieved chunks, with ``must`` among them."""
        retrieved = list(dict.fromkeys(str(r["chunk_id"]) for r in row.retrieved or []))
        others = [c for c in retrieved if c not in must]
        keep = set(must) | set(others[: max(self.top_k - len(must), 0)])
        ordered = [c for c in retrieved if c in keep]
        return ordered + [c for c in must if c not in ordered]

    def messages(
        self, question: str, ids: Sequence[str], chunks: dict[str, Chunk]
    ) -> list[dict[str, str]]:
        sources = [(chunks[c].label, chunks[c].text) for c in ids]
        return build_messages(question, sources, human_contact=self.human_contact)


async def training_rows(
    store: FeedbackStore,
    fmt: TrainingFormat,
    get_chunks: GetChunks,
    all_chunks: AllChunks,
    *,
    top_k: int = 5,
    human_contact: str = "a member of the support team",
    min_up_votes: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The rows of ``fmt`` (see the module docstring) from the store's verified answers and
    votes, and how many candidates were skipped (cited chunks gone or changed).

    Args:
        get_chunks: chunk ids → the chunks the index holds now (missing ids left out).
        all_chunks: every chunk of the index (RAFT's distractor pool; called once).
        min_up_votes: also count answers with this many 👍 and no 👎 as verified (0 = only a
            lead's verified and corrected answers).
    """
    verified = await store.verified_answers(min_up_votes=min_up_votes)
    build = _Builder(get_chunks, top_k, human_contact)

    def load(s: Session) -> tuple[dict[str, AnswerRow], dict[str, CurationRow]]:
        """The verified answers' rows and, for DPO, the 👎-only answers (not the whole
        table), with the newest curation of each answer."""
        ids = [v.answer_id for v in verified]
        rows = {
            r.id: r
            for start in range(0, len(ids), 500)
            for r in s.scalars(select(AnswerRow).where(AnswerRow.id.in_(ids[start : start + 500])))
        }
        if fmt == "dpo":
            worse = select(AnswerRow).where(AnswerRow.down > 0, AnswerRow.up == 0)
            rows.update({r.id: r for r in s.scalars(worse)})
        return rows, newest_curations(s)

    answers, curations = await store.read(load)
    out: list[dict[str, Any]] = []
    skipped = 0
    if fmt in ("sft", "raft"):
        pool: list[Chunk] = list(all_chunks()) if fmt == "raft" else []
        for v in verified:
            row = answers[v.answer_id]
            rng = random.Random(v.answer_id)
            if fmt == "sft":
                ids = build.prompt_ids(row, v.chunk_ids)
                chunks = get_chunks(ids)
                if any(c not in chunks for c in v.chunk_ids):
                    skipped += 1
                    continue
                ids = [c for c in ids if c in chunks]
                position = {c: i for i, c in enumerate(ids, start=1)}
                messages = build.messages(v.question, ids, chunks)
                answer = _renumber(v.text, v.chunk_ids, position)
                out.append({"messages": [*messages, {"role": "assistant", "content": answer}]})
                continue
            oracle = get_chunks(v.chunk_ids)
            if any(c not in oracle for c in v.chunk_ids):
                skipped += 1
                continue
            candidates = [c for c in pool if c.chunk_id not in oracle]
            distractors = rng.sample(candidates, min(RAFT_DISTRACTORS, len(candidates)))
            with_oracle = rng.random() < RAFT_ORACLE_SHARE
            chosen = (list(oracle.values()) if with_oracle else []) + distractors
            rng.shuffle(chosen)
            by_id = {c.chunk_id: c for c in chosen}
            ids = [c.chunk_id for c in chosen]
            position = {c: i for i, c in enumerate(ids, start=1)}
            answer = _renumber(v.text, v.chunk_ids, position)
            out.append(
                {
                    "messages": [
                        *build.messages(v.question, ids, by_id),
                        {"role": "assistant", "content": answer},
                    ],
                    "oracle_ids": list(v.chunk_ids),
                    "distractor_ids": [c.chunk_id for c in distractors],
                    "oracle_included": with_oracle,
                }
            )
        return out, skipped

    # DPO: a correction against what it corrected; a verified or 👍 answer against a 👎 one.
    pairs: list[tuple[AnswerRow, _Text, _Text]] = []
    for v in verified:
        row = answers[v.answer_id]
        if v.corrected:
            pairs.append(
                (
                    row,
                    _Text(v.text, v.chunk_ids),
                    _Text(row.answer_text, cited_chunk_ids(row.citations)),
                )
            )
    good = {_norm(v.question): v for v in verified}
    for row in answers.values():
        decided = curations.get(row.id)
        if row.down > 0 and row.up == 0 and (decided is None or decided.action != "corrected"):
            match = good.get(_norm(row.question))
            if match is not None and match.answer_id != row.id:
                pairs.append(
                    (
                        answers[match.answer_id],
                        _Text(match.text, match.chunk_ids),
                        _Text(row.answer_text, cited_chunk_ids(row.citations)),
                    )
                )
    for row, chosen_text, rejected_text in pairs:
        ids = build.prompt_ids(row, chosen_text.cited)
        chunks = get_chunks(list(dict.fromkeys([*ids, *rejected_text.cited])))
        if any(c not in chunks for c in chosen_text.cited):
            skipped += 1
            continue
        ids = [c for c in ids if c in chunks]
        position = {c: i for i, c in enumerate(ids, start=1)}
        better = _renumber(chosen_text.text, chosen_text.cited, position)
        worse = _renumber(rejected_text.text, rejected_text.cited, position)
        if better == worse:
            continue
        out.append(
            {
                "prompt": build.messages(row.question, ids, chunks),
                "chosen": [{"role": "assistant", "content": better}],
                "rejected": [{"role": "assistant", "content": worse}],
            }
        )
    return out, skipped
