"""The feedback overview and exports, from the feedback store (SQLite or PostgreSQL).

One definition per figure (:data:`OVERVIEW_METRICS`), read by ``supportbot feedback stats``
and meant for the review console too:

- ``questions``: answers stored (every question the bot answered or abstained on);
- ``answered`` / ``abstained``: of those, answered / abstained;
- ``up`` / ``down``: 👍 / 👎 votes on them (one per person per answer, the store's rule);
- ``satisfaction``: ``up / (up + down)``, ``None`` without votes;
- ``voted_share``: the share of answers that got any vote;
- ``degraded``: answers where the LLM failed and the extractive fallback answered;
- ``latency_p50_ms`` / ``latency_p95_ms``: end-to-end answer latency (nearest-rank
  percentiles, as :func:`numpy.percentile` with ``method="inverted_cdf"``).

Filters (:class:`Filters`) are applied in SQL on indexed columns (``created_at``); the votes
are summed per answer in one grouped subquery, so one query serves the overview and its trend.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from bot.feedback import AnswerRow, FeedbackStore, VoteRow

VoteFilter = Literal["up", "down", "none", "any"]
Bucket = Literal["day", "week"]


@dataclass(frozen=True)
class MetricDef:
    """One overview figure: its key, its label, whether higher is better, its unit
    (``count``, ``share`` in [0, 1], or ``ms``)."""

    key: str
    label: str
    higher_is_better: bool | None = None
    unit: str = "count"


OVERVIEW_METRICS: tuple[MetricDef, ...] = (
    MetricDef("questions", "questions"),
    MetricDef("answered", "answered"),
    MetricDef("abstained", "abstained"),
    MetricDef("up", "👍"),
    MetricDef("down", "👎"),
    MetricDef("satisfaction", "satisfaction", True, "share"),
    MetricDef("voted_share", "answers voted on", True, "share"),
    MetricDef("degraded", "degraded (LLM fallback)", False),
    MetricDef("latency_p50_ms", "latency p50", False, "ms"),
    MetricDef("latency_p95_ms", "latency p95", False, "ms"),
)


@dataclass(frozen=True)
class Filters:
    """Which answers a report covers. ``since`` is inclusive, ``until`` exclusive (UTC);
    ``text`` matches the question case-insensitively; ``vote``: answers with a 👍, a 👎, none,
    or any vote."""

    since: datetime | None = None
    until: datetime | None = None
    platform: str | None = None
    channel: str | None = None
    audience: str | None = None
    abstained: bool | None = None
    degraded: bool | None = None
    generator: str | None = None
    vote: VoteFilter | None = None
    text: str | None = None


def _vote_totals() -> Any:
    return (
        select(
            VoteRow.answer_id.label("answer_id"),
            func.sum(case((VoteRow.value == 1, 1), else_=0)).label("up"),
            func.sum(case((VoteRow.value == -1, 1), else_=0)).label("down"),
        )
        .group_by(VoteRow.answer_id)
        .subquery()
    )


def _filtered(columns: Sequence[Any], f: Filters) -> tuple[Select[Any], Any]:
    votes = _vote_totals()
    up = func.coalesce(votes.c.up, 0)
    down = func.coalesce(votes.c.down, 0)
    stmt = select(*columns, up.label("up"), down.label("down")).outerjoin(
        votes, votes.c.answer_id == AnswerRow.id
    )
    if f.since is not None:
        stmt = stmt.where(AnswerRow.created_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AnswerRow.created_at < f.until)
    for column, value in (
        (AnswerRow.platform, f.platform),
        (AnswerRow.channel_id, f.channel),
        (AnswerRow.audience, f.audience),
        (AnswerRow.abstained, f.abstained),
        (AnswerRow.degraded, f.degraded),
        (AnswerRow.generator, f.generator),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.text:
        stmt = stmt.where(AnswerRow.question.ilike(f"%{f.text}%"))
    if f.vote == "up":
        stmt = stmt.where(up > 0)
    elif f.vote == "down":
        stmt = stmt.where(down > 0)
    elif f.vote == "none":
        stmt = stmt.where(up + down == 0)
    elif f.vote == "any":
        stmt = stmt.where(up + down > 0)
    return stmt, votes


@dataclass(frozen=True)
class Overview:
    """The overview figures (see the module docstring) for one period."""

    questions: int = 0
    answered: int = 0
    abstained: int = 0
    up: int = 0
    down: int = 0
    satisfaction: float | None = None
    voted_share: float | None = None
    degraded: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None

    def get(self, key: str) -> float | int | None:
        """The figure named by a :data:`OVERVIEW_METRICS` key."""
        value: float | int | None = getattr(self, key)
        return value


def _overview(rows: Sequence[Any]) -> Overview:
    if not rows:
        return Overview()
    up = sum(int(r.up) for r in rows)
    down = sum(int(r.down) for r in rows)
    latencies = np.array([float(r.latency_ms) for r in rows])
    abstained = sum(1 for r in rows if r.abstained)
    return Overview(
        questions=len(rows),
        answered=len(rows) - abstained,
        abstained=abstained,
        up=up,
        down=down,
        satisfaction=up / (up + down) if up + down else None,
        voted_share=sum(1 for r in rows if r.up or r.down) / len(rows),
        degraded=sum(1 for r in rows if r.degraded),
        latency_p50_ms=float(np.percentile(latencies, 50, method="inverted_cdf")),
        latency_p95_ms=float(np.percentile(latencies, 95, method="inverted_cdf")),
    )


def bucket_start(when: datetime, bucket: Bucket) -> datetime:
    """The UTC day (or ISO week, from Monday) that ``when`` falls in."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


@dataclass(frozen=True)
class FeedbackStats:
    """The overview of the filtered answers, and the same figures per day or week."""

    filters: Filters
    total: Overview
    trend: list[tuple[datetime, Overview]] = field(default_factory=list)


async def feedback_stats(
    store: FeedbackStore, filters: Filters = Filters(), *, bucket: Bucket = "day"
) -> FeedbackStats:
    """Compute the overview and its trend in one query over the filtered answers."""
    columns = (
        AnswerRow.created_at,
        AnswerRow.abstained,
        AnswerRow.degraded,
        AnswerRow.latency_ms,
    )
    stmt, _ = _filtered(columns, filters)

    def work(s: Session) -> list[Any]:
        return list(s.execute(stmt))

    rows = await store.read(work)
    groups: dict[datetime, list[Any]] = {}
    for r in rows:
        groups.setdefault(bucket_start(r.created_at, bucket), []).append(r)
    trend = [(k, _overview(v)) for k, v in sorted(groups.items())]
    return FeedbackStats(filters, _overview(rows), trend)


# -- exports ------------------------------------------------------------------------------------
EXPORT_FIELDS = (
    "answer_id",
    "created_at",
    "platform",
    "channel_id",
    "user_id",
    "audience",
    "question",
    "answer",
    "generator",
    "abstained",
    "degraded",
    "latency_ms",
    "citations",
    "vote",
    "voter",
    "comment",
)


def mask(user_id: str | None) -> str | None:
    """A stable pseudonym for a user id (``user-`` + 10 hex digits of its SHA-256), so rows of
    one person stay together without showing who it is."""
    if not user_id:
        return user_id
    return "user-" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:10]


async def export_rows(
    store: FeedbackStore, filters: Filters = Filters(), *, mask_users: bool = False
) -> list[dict[str, Any]]:
    """One row per vote on the filtered answers (one row with no vote for an answer nobody
    voted on), newest answer first; fields :data:`EXPORT_FIELDS`."""
    stmt, _ = _filtered((AnswerRow,), filters)
    stmt = stmt.order_by(AnswerRow.created_at.desc(), AnswerRow.id)

    def work(s: Session) -> list[dict[str, Any]]:
        answers = [r[0] for r in s.execute(stmt)]
        votes: dict[str, list[VoteRow]] = {}
        ids = [a.id for a in answers]
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            for v in s.scalars(select(VoteRow).where(VoteRow.answer_id.in_(batch))):
                votes.setdefault(v.answer_id, []).append(v)
        out = []
        for a in answers:
            base = {
                "answer_id": a.id,
                "created_at": a.created_at.isoformat(),
                "platform": a.platform,
                "channel_id": a.channel_id,
                "user_id": mask(a.user_id) if mask_users else a.user_id,
                "audience": a.audience,
                "question": a.question,
                "answer": a.answer_text,
                "generator": a.generator,
                "abstained": bool(a.abstained),
                "degraded": bool(a.degraded),
                "latency_ms": round(float(a.latency_ms), 1),
                "citations": [
                    {k: c.get(k) for k in ("number", "title", "page", "section", "uri", "source")}
                    for c in a.citations or []
                ],
            }
            cast = sorted(votes.get(a.id, []), key=lambda v: v.user_id)
            if not cast:
                out.append({**base, "vote": None, "voter": None, "comment": None})
            for v in cast:
                voter = mask(v.user_id) if mask_users else v.user_id
                vote = "up" if v.value > 0 else "down"
                out.append({**base, "vote": vote, "voter": voter, "comment": v.comment})
        return out

    return await store.read(work)


def to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    """JSON Lines: one object per row (citations as a list)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """CSV with a header of :data:`EXPORT_FIELDS`; citations as ``[n] title, p. N <uri>``
    joined by `` | ``."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "citations": " | ".join(_citation_text(c) for c in r["citations"])})
    return buf.getvalue()


def _citation_text(c: dict[str, Any]) -> str:
    where = (
        f", p. {c['page']}" if c.get("page") else (f", {c['section']}" if c.get("section") else "")
    )
    return f"[{c['number']}] {c['title']}{where} <{c['uri']}>"


# -- the answers list ---------------------------------------------------------------------------
Sort = Literal["newest", "oldest", "slowest", "most_down"]
SORTS: tuple[Sort, ...] = ("newest", "oldest", "slowest", "most_down")


@dataclass(frozen=True)
class AnswerSummary:
    """One row of the answers list."""

    id: str
    created_at: datetime
    platform: str
    channel_id: str | None
    audience: str
    question: str
    abstained: bool
    degraded: bool
    generator: str
    latency_ms: float
    up: int
    down: int


async def list_answers(
    store: FeedbackStore,
    filters: Filters = Filters(),
    *,
    sort: Sort = "newest",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AnswerSummary], int]:
    """A page (1-based) of the filtered answers, sorted in SQL, and the number of matches."""
    columns = (
        AnswerRow.id,
        AnswerRow.created_at,
        AnswerRow.platform,
        AnswerRow.channel_id,
        AnswerRow.audience,
        AnswerRow.question,
        AnswerRow.abstained,
        AnswerRow.degraded,
        AnswerRow.generator,
        AnswerRow.latency_ms,
    )
    stmt, _ = _filtered(columns, filters)
    order: dict[str, tuple[Any, ...]] = {
        "newest": (AnswerRow.created_at.desc(),),
        "oldest": (AnswerRow.created_at.asc(),),
        "slowest": (AnswerRow.latency_ms.desc(),),
        "most_down": (stmt.selected_columns.down.desc(), AnswerRow.created_at.desc()),
    }
    paged = (
        stmt.order_by(*order[sort], AnswerRow.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    counted = select(func.count()).select_from(stmt.subquery())

    def work(s: Session) -> tuple[list[AnswerSummary], int]:
        rows = [
            AnswerSummary(
                r.id,
                r.created_at,
                r.platform,
                r.channel_id,
                r.audience,
                r.question,
                bool(r.abstained),
                bool(r.degraded),
                r.generator,
                float(r.latency_ms),
                int(r.up),
                int(r.down),
            )
            for r in s.execute(paged)
        ]
        return rows, int(s.execute(counted).scalar_one())

    return await store.read(work)
