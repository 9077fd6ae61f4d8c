"""Grounding that does not depend on the model: every sentence of an LLM answer is checked
against the numbered sources it was given, and its citation markers are rewritten to match.

A *claim* is one sentence (or list item) of the answer. For each claim ``c`` and source ``j``:

- ``semantic``: the best cosine between the claim's embedding and the embedding of any sentence,
  or pair of consecutive sentences, of source ``j`` (the same embedding model as retrieval);
- ``coverage``: the share of the claim's content terms (stemmed, function words removed, as the
  BM25 vectors tokenize) that occur in source ``j``;
- ``numbers``: every number in the claim occurs in source ``j`` (a wrong figure is the commonest
  made-up fact, and neither score above sees it), and so does every *name* the claim shares
  with the question: a capitalised word other than a sentence's first ("Northwind Health
  *Plus* covers …" asked about Health Plus). Coverage leaves out the question's terms, so
  without this a sentence that gives one plan's or product's rule under another's name is
  supported by the other's page; found by a hand audit of real-model answers (README,
  Measured);
- ``swap``: ``c`` copies a short sentence of source ``j`` (a step) but for a swapped word, one
  that occurs nowhere in ``j`` ("tap the account you want to *use*" from "… to *remove*";
  :meth:`GroundingChecker.swap`). Coverage tolerates one new term in five and cannot see it.

``j`` *supports* ``c`` when the numbers hold, there is no swap, and either
``semantic >= semantic_bar`` and ``coverage >= coverage_bar``, or
``semantic >= strong_semantic_bar`` (a close paraphrase that shares few words). The bars were
chosen by measurement on both dev sets (``scripts/grounding_study.py``; README, "Grounding"):
human-written gold answer sentences against their gold page are the supported pairs, the same
sentences against the most similar other page retrieved for the question are the unsupported
ones.

Then, per claim:

- a claim cites the sources that support it, at most ``MAX_MARKERS`` (2): the supporting
  sources the model marked first, then the others by semantic score. Markers to sources that
  do not support it are dropped, so a claim marked only with those, or not marked at all, is
  re-attributed to its best supporting sources. (Citing the second supporting source too, not
  only the best, was measured with the real local model: Contoso citation hit 0.733 → 0.800
  on the same replies; README, Measured.)
- a *factual* claim (two or more content terms, or a number) that no source supports is
  removed, and the answer is marked partially supported; other sentences ("Please ask HR.",
  "The sources do not say whether …") are kept without a marker.

Markers appended wholesale ("[1], [2], [3]" on a line or at the end) are thereby replaced by
per-sentence attribution: no claim keeps a marker to a source that does not support it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from bot.abstention import NOT_COVERED
from bot.citations import cited_numbers
from bot.generators.base import SourceText
from knowledge.sentences import split_sentences
from knowledge.sparse import SparseEncoder

# Chosen by scripts/grounding_study.py on both dev sets (see the module docstring).
SEMANTIC_BAR = 0.45
COVERAGE_BAR = 0.8
STRONG_SEMANTIC_BAR = 1.0
MAX_MARKERS = 2  # a claim cites at most two supporting sources (the model's own first)
# A claim that copies a source sentence but for a swapped word (GroundingChecker.swap):
SWAP_SHARE = 0.6  # the share of the source sentence's words the claim reproduces, at least
SWAP_CONTEXT = 3  # identical words right before or after the swap, at least
SWAP_WORDS = 3  # words on either side of the swap, at most
SWAP_SENTENCE = 12  # words of a source sentence, at most (a step or a short statement)

Action = Literal["kept", "reattributed", "unsupported", "not_factual"]
Embed = Callable[[list[str]], NDArray[np.float32]]

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%)?")
# A capitalised word that does not open a sentence, a list item or a label ("Tips: Read …").
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][A-Za-z0-9]+")
_WORD = re.compile(r"[A-Za-z0-9]+")
_LINE_PREFIX = re.compile(r"^(\s*(?:[-*•]|\d+[.)])\s+)")
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)")
_ONLY_MARKERS = re.compile(
    r"^[\s,;.:]*(?:(?:sources?|citations?|references?)\s*:?\s*)?"
    r"(?:\[\d+(?:\s*,\s*\d+)*\](?:[\s,;.]|\band\b)*)+$",
    re.IGNORECASE,
)
# Sentences that give advice or frame the answer rather than state a fact of the documents.
_ADVICE = re.compile(
    r"^\s*(?:please\b|you\s+(?:can|may|might|should)\s+(?:also\s+)?(?:ask|contact|check|reach|"
    r"consult|talk|speak|refer)|for\s+more\s+(?:details|information)|feel\s+free|"
    r"i\s+hope|let\s+me\s+know|if\s+you\s+have\s+(?:any\s+)?(?:other|more|further)\s+questions|"
    r"contact\b|reach\s+out|consult\b|here\s+(?:is|are)\b|in\s+summary\b)"
    # ... or point at the sources instead of saying something: "… is described in the sources"
    r"|\b(?:is|are)\s+(?:described|explained|outlined|listed|detailed|mentioned)\s+in\s+the\s+"
    r"(?:sources?|documents?|documentation)\b|more\s+information\s+(?:is\s+)?in\s+the\s+"
    r"(?:sources?|documents?)\b",
    re.IGNORECASE,
)


def numbers(text: str) -> set[str]:
    """The numbers written in ``text``, normalised ("1,000" → "1000", "20 %" → "20%")."""
    return {m.group(0).replace(",", "").replace(" ", "") for m in _NUMBER.finditer(text)}


def named_terms(text: str, sparse: SparseEncoder) -> set[str]:
    """The terms (BM25 tokens) of the capitalised words of ``text`` other than a sentence's
    first: the names it uses ("How do I reset *Samsung Pass*?", "… under *Northwind Health
    Plus*?")."""
    return {t for m in _NAME.finditer(text.strip()) for t in sparse.tokens(m.group(0))}


def named_sources(question: str, sources: Sequence[str], sparse: SparseEncoder) -> list[int]:
    """Indices of the ``sources`` (best first) that name what the best one names of the
    question: the question's names (:func:`named_terms`) found in ``sources[0]`` must all occur
    in a kept source. The first is always kept; with no such name all are.

    A question about one plan, product or version is then answered from sources about it, not
    from a near-duplicate page on another ("… Northwind Health Plus cover for TMJ?" given a
    Standard page too, a 1.5B model wrote the Standard plan's rule as Health Plus's). Anchored on
    the best source, so a name the documents do not use (a typo, "Encrypt" capitalised in the
    question) filters nothing it does not also filter from the best source. Used when the
    ``llm_named_sources`` setting is on (off by default: measured with the real local model, it
    fixed that mix-up and cost two other answers their gold citation; README, Measured).
    """
    if not sources:
        return []
    terms = [set(sparse.tokens(t)) for t in sources]
    required = named_terms(question, sparse) & terms[0]
    return [j for j, t in enumerate(terms) if required <= t]


@dataclass(frozen=True)
class ClaimCheck:
    """One sentence of an answer and what the check found.

    ``cited`` are the (valid) markers the model put on it; ``supported_by`` the sources that
    support it, best first; ``kept`` the markers it has in the grounded text; ``score`` the best
    semantic score over the supporting sources (0 when none).
    """

    text: str
    cited: tuple[int, ...]
    supported_by: tuple[int, ...]
    kept: tuple[int, ...]
    factual: bool
    score: float
    action: Action


@dataclass(frozen=True)
class GroundingResult:
    """The grounded answer text (markers rewritten, unsupported claims removed) and the checks.

    ``partially_supported``: at least one factual claim is one that no source supports
    (removed from the text, or kept uncited). ``supported``/``unsupported``: counts of factual
    claims.
    """

    text: str
    claims: tuple[ClaimCheck, ...]

    @property
    def supported(self) -> int:
        """Factual claims some source supports."""
        return sum(1 for c in self.claims if c.factual and c.supported_by)

    @property
    def unsupported(self) -> int:
        """Factual claims no source supports (removed from :attr:`text` unless kept)."""
        return sum(1 for c in self.claims if c.action == "unsupported")

    @property
    def partially_supported(self) -> bool:
        """Whether some factual claim is unsupported."""
        return self.unsupported > 0

    @property
    def nothing_supported(self) -> bool:
        """No factual claim is supported (nothing of substance is left)."""
        return self.supported == 0

    @property
    def unsupported_share(self) -> float:
        """The share (0-1) of the factual claims' words that no source supports: 0 when all
        are supported or there is no factual claim, 1 when none is. Words are runs of letters and
        digits in the claims' text (markers excluded)."""
        factual = [c for c in self.claims if c.factual]
        words = [len(_WORD.findall(c.text)) for c in factual]
        total = sum(words)
        if not total:
            return 0.0
        return sum(n for c, n in zip(factual, words, strict=True) if not c.supported_by) / total


@dataclass
class _Line:
    prefix: str
    claims: list[tuple[str, tuple[int, ...]]]  # (sentence without markers, markers)


def _markers(text: str) -> tuple[int, ...]:
    return tuple(cited_numbers(text))


def _attach(claims: list[tuple[str, tuple[int, ...]]], text: str) -> None:
    """Give the markers written in ``text`` to the last claim (each number once)."""
    s, m = claims[-1]
    claims[-1] = (s, tuple(dict.fromkeys(m + _markers(text))))


# A run of markers with the separators between them: "[1], [2], and [3]", "[1][2]".
_MARKER_RUN = re.compile(
    r"(?:\s*(?:,|\band\b)?\s*\[\d+(?:\s*,\s*\d+)*\])+(?:\s*(?:,\s*)?\band\b\s*\[\d+\])?"
)


def _strip_markers(text: str) -> str:
    out = _MARKER_RUN.sub("", text)
    out = re.sub(r"[ \t]+([.,;:!?])", r"\1", out)
    return " ".join(out.split())


def parse_claims(text: str) -> list[_Line]:
    """Lines of an answer, each with its list prefix and its sentences and their markers.

    A line (or sentence) made only of markers ("[1], [2], [3]", "Sources: [1][2]") gives its
    markers to the sentence before it; markers right after a full stop ("… plan. [1] Next …")
    belong to the sentence they follow.
    """
    lines: list[_Line] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if _ONLY_MARKERS.match(raw) and lines and lines[-1].claims:
            _attach(lines[-1].claims, raw)
            continue
        pm = _LINE_PREFIX.match(raw)
        prefix = pm.group(1) if pm else ""
        body = raw[len(prefix) :]
        claims: list[tuple[str, tuple[int, ...]]] = []
        for piece in _SPLIT.split(body):
            lead = re.match(r"^((?:\[\d+(?:\s*,\s*\d+)*\][\s,]*)+)", piece)
            if lead and claims:
                _attach(claims, lead.group(1))
                piece = piece[lead.end() :]
            if not piece.strip():
                continue
            if _ONLY_MARKERS.match(piece) and claims:
                _attach(claims, piece)
                continue
            claims.append((_strip_markers(piece), _markers(piece)))
        lines.append(_Line(prefix.strip() + " " if prefix else "", claims))
    return lines


def _with_markers(sentence: str, markers: Sequence[int]) -> str:
    if not markers:
        return sentence
    tags = "".join(f"[{n}]" for n in markers)
    if sentence and sentence[-1] in ".!?:;":
        return f"{sentence[:-1]} {tags}{sentence[-1]}"
    return f"{sentence} {tags}"


class GroundingChecker:
    """Checks answers against their sources (see the module docstring for the rule).

    Args:
        embed: texts → unit-norm embeddings of shape ``(n, dim)`` (the retrieval model).
        sparse: the BM25 tokenizer, for content terms.
        semantic_bar, coverage_bar, strong_semantic_bar: the thresholds of the rule.
        swaps: also refuse a source that a claim copies with a swapped word (:meth:`swap`).

    :meth:`check` is blocking (it embeds): call it from a worker thread in async code.
    """

    def __init__(
        self,
        embed: Embed,
        sparse: SparseEncoder,
        *,
        semantic_bar: float = SEMANTIC_BAR,
        coverage_bar: float = COVERAGE_BAR,
        strong_semantic_bar: float = STRONG_SEMANTIC_BAR,
        swaps: bool = True,
    ) -> None:
        self.embed = embed
        self.sparse = sparse
        self.swaps = swaps
        self.semantic_bar = semantic_bar
        self.coverage_bar = coverage_bar
        self.strong_semantic_bar = strong_semantic_bar

    def is_factual(self, sentence: str) -> bool:
        """A sentence that states something checkable: a number, or two or more content
        terms, and neither advice ("Please ask HR") nor a statement that the sources are
        silent ("The documents do not say …")."""
        if _ADVICE.search(sentence) or NOT_COVERED.search(sentence):
            return False
        return bool(numbers(sentence)) or len(self.sparse.content_terms(sentence)) >= 2

    def claim_terms(self, claim: str, question: str | None = None) -> list[str]:
        """The content terms whose coverage counts: with ``question``, those the question does
        not already contain ("To check battery usage, go to Settings > Battery": the evidence
        is the path, not the restated question), unless fewer than two are left."""
        terms = self.sparse.content_terms(claim)
        if question:
            asked = set(self.sparse.content_terms(question))
            novel = [t for t in terms if t not in asked]
            if len(novel) >= 2:
                return novel
        return terms

    def names(self, claim: str, question: str) -> set[str]:
        """The terms (BM25 tokens) of the capitalised words of ``claim`` that the question
        also contains, a sentence's first word aside: the plan, product or feature asked
        about, which a supporting source must name too."""
        return named_terms(claim, self.sparse) & set(self.sparse.tokens(question))

    def scores(
        self, claims: Sequence[str], sources: Sequence[str], question: str | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]]:
        """``(semantic, coverage, numbers_ok)``, each of shape ``(len(claims), len(sources))``;
        ``question`` narrows coverage to the terms it does not contain (:meth:`claim_terms`),
        and ``numbers_ok`` also requires the names the claim shares with it (:meth:`names`) and,
        with ``swaps`` on, no swapped word (:meth:`swap`)."""
        n, m = len(claims), len(sources)
        semantic = np.zeros((n, m), dtype=np.float32)
        coverage = np.zeros((n, m), dtype=np.float32)
        numbers_ok = np.zeros((n, m), dtype=bool)
        if not n or not m:
            return semantic, coverage, numbers_ok
        units: list[str] = []
        owner: list[int] = []
        sentences: list[list[str]] = []
        for j, text in enumerate(sources):
            sents = split_sentences(text) or [" ".join(text.split())]
            sentences.append(sents)
            pieces = sents + [f"{a} {b}" for a, b in zip(sents, sents[1:], strict=False)]
            units.extend(pieces)
            owner.extend([j] * len(pieces))
        vecs = self.embed(list(claims) + units)
        sims = vecs[:n] @ vecs[n:].T
        owners = np.asarray(owner)
        for j in range(m):
            semantic[:, j] = sims[:, owners == j].max(axis=1)
        source_terms = [set(self.sparse.tokens(t)) for t in sources]
        source_numbers = [numbers(t) for t in sources]
        asked = set(self.sparse.tokens(question)) if question else set()
        for i, claim in enumerate(claims):
            terms = self.claim_terms(claim, question)
            nums = numbers(claim)
            named = named_terms(claim, self.sparse) & asked  # as self.names, question read once
            for j in range(m):
                if terms:
                    coverage[i, j] = sum(t in source_terms[j] for t in terms) / len(terms)
                numbers_ok[i, j] = nums <= source_numbers[j] and named <= source_terms[j]
                if numbers_ok[i, j] and self.swaps:
                    numbers_ok[i, j] = self.swap(claim, sentences[j], source_terms[j]) is None
        return semantic, coverage, numbers_ok

    def swap(
        self, claim: str, sentences: Sequence[str], source_terms: set[str]
    ) -> tuple[str, str] | None:
        """``(claim's words, source's words)`` where ``claim`` copies one of a source's
        ``sentences`` but for a swapped word ("tap the account you want to *use*" from "Tap the
        account you want to *remove*"), or ``None``.

        A swap: the sentence has at most ``SWAP_SENTENCE`` words (a step or a short statement,
        where one word carries the meaning; in longer prose a changed word is mostly a
        paraphrase), the claim reproduces at least ``SWAP_SHARE`` of its words in order
        (difflib's matching blocks); where they differ, at most ``SWAP_WORDS`` words on each
        side, not at the claim's start (a restated question there is fine) and next to at least
        ``SWAP_CONTEXT`` identical words, the claim has a content term that occurs nowhere in
        the source (``source_terms``: its BM25 tokens) and the sentence one the claim lacks.
        Coverage tolerates one new term in five, so it cannot see such a copy; found by the hand
        audit of real-model answers (README, Measured). Synonyms ("variety" → "wide range")
        count as swaps too: the check is conservative.
        """
        words = [w.lower() for w in _WORD.findall(claim)]
        claim_terms = set(self.sparse.tokens(claim))
        for sentence in sentences:
            theirs = [w.lower() for w in _WORD.findall(sentence)]
            if not SWAP_CONTEXT < len(theirs) <= SWAP_SENTENCE:
                continue
            ops = SequenceMatcher(None, words, theirs, autojunk=False).get_opcodes()
            if sum(j2 - j1 for tag, _, _, j1, j2 in ops if tag == "equal") < SWAP_SHARE * len(
                theirs
            ):
                continue
            for k, (tag, i1, i2, j1, j2) in enumerate(ops):
                if tag != "replace" or i1 == 0 or i2 - i1 > SWAP_WORDS or j2 - j1 > SWAP_WORDS:
                    continue
                near = ops[max(k - 1, 0) : k] + ops[k + 1 : k + 2]  # the ops either side
                if not any(o[0] == "equal" and o[2] - o[1] >= SWAP_CONTEXT for o in near):
                    continue
                mine, its = " ".join(words[i1:i2]), " ".join(theirs[j1:j2])
                new = [t for t in self.sparse.content_terms(mine) if t not in source_terms]
                old = [t for t in self.sparse.content_terms(its) if t not in claim_terms]
                if new and old:
                    return mine, its
        return None

    def supports(
        self, semantic: NDArray[np.float32], coverage: NDArray[np.float32], ok: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """The rule, element-wise over score arrays of one shape."""
        return ok & (
            ((semantic >= self.semantic_bar) & (coverage >= self.coverage_bar))
            | (semantic >= self.strong_semantic_bar)
        )

    def check(
        self,
        text: str,
        sources: Sequence[SourceText],
        *,
        question: str | None = None,
        keep_unsupported: bool = False,
    ) -> GroundingResult:
        """Ground ``text`` (an answer with ``[n]`` markers referring to ``sources``' numbers).

        Returns the rewritten text (markers per supported sentence, unsupported factual
        sentences removed, or with ``keep_unsupported`` kept without a marker; layout and list
        prefixes kept) and one :class:`ClaimCheck` per sentence.
        """
        lines = parse_claims(text)
        flat = [s for line in lines for s, _ in line.claims]
        numbers_of = {s.number: k for k, s in enumerate(sources)}
        semantic, coverage, ok = self.scores(flat, [s.text for s in sources], question)
        supported = self.supports(semantic, coverage, ok)
        checks: list[ClaimCheck] = []
        out_lines: list[str] = []
        i = 0
        for line in lines:
            parts: list[str] = []
            for sentence, cited in line.claims:
                valid = tuple(n for n in cited if n in numbers_of)
                order = np.argsort(-semantic[i]) if len(sources) else np.array([], dtype=int)
                by = tuple(sources[int(k)].number for k in order if supported[i, int(k)])
                factual = self.is_factual(sentence)
                best = float(semantic[i].max()) if by else 0.0
                kept_cited = tuple(n for n in valid if n in by)
                action: Action
                if kept_cited:
                    others = tuple(n for n in by if n not in kept_cited)
                    kept, action = (kept_cited + others)[:MAX_MARKERS], "kept"
                elif by:
                    kept, action = by[:MAX_MARKERS], "reattributed"
                elif factual:
                    kept, action = (), "unsupported"
                else:
                    kept, action = (), "not_factual"
                checks.append(ClaimCheck(sentence, valid, by, kept, factual, best, action))
                if action != "unsupported" or keep_unsupported:
                    parts.append(_with_markers(sentence, kept))
                i += 1
            if parts:
                out_lines.append(line.prefix + " ".join(parts))
        return GroundingResult("\n".join(out_lines), tuple(checks))
