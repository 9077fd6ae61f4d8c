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

Filters (:class:`Filters`) are applied in SQL. Each answer row carries its UTC ``day`` and its
👍/👎 totals (kept in step with the votes by :class:`bot.feedback.FeedbackStore`), and
``ix_answers_overview`` covers what the overview reads, so one query over one index serves the
overview and its trend.
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
from sqlalchemy import Select, Text, case, cast, func, select
from sqlalchemy.orm import Session

from bot.feedback import AnswerRow, FeedbackStore, VoteRow, utc_day

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

    def show(self, overview: Overview) -> str:
        """This figure of ``overview`` for people: ``50.0 %``, ``1,234 ms``, ``1,234``, or
        ``–`` when undefined (the CLI table and the console both print it so)."""
        value = overview.get(self.key)
        if value is None:
            return "–"
        if self.unit == "share":
            return f"{100 * value:.1f} %"
        if self.unit == "ms":
            return f"{value:,.0f} ms"
        return f"{value:,}"


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


def filtered_query(columns: Sequence[Any], f: Filters) -> Select[Any]:
    """``SELECT columns`` over the filtered answers. The vote filter reads the answers' own
    👍/👎 totals (``answers.up``/``down``, kept in step with the votes by the store)."""
    stmt = _where(select(*columns), f)
    if f.vote == "up":
        stmt = stmt.where(AnswerRow.up > 0)
    elif f.vote == "down":
        stmt = stmt.where(AnswerRow.down > 0)
    elif f.vote == "none":
        stmt = stmt.where(AnswerRow.up + AnswerRow.down == 0)
    elif f.vote == "any":
        stmt = stmt.where(AnswerRow.up + AnswerRow.down > 0)
    return stmt


def _where(stmt: Select[Any], f: Filters) -> Select[Any]:
    """The filters on the answers' own columns."""
    # The day bounds are implied by the exact ones; they let the database range-scan the
    # overview index, whose first column is the day.
    if f.since is not None:
        stmt = stmt.where(AnswerRow.day >= utc_day(f.since), AnswerRow.created_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AnswerRow.day <= utc_day(f.until), AnswerRow.created_at < f.until)
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
    return stmt


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


def _percentile(sorted_values: np.ndarray, p: int) -> float:
    """The nearest-rank ``p``-th percentile of sorted values (numpy's ``inverted_cdf``)."""
    return float(sorted_values[max(0, -(-p * len(sorted_values) // 100) - 1)])


def _latencies_sql(dialect: str) -> Any:
    """The group's latencies as one comma-separated text (the database aggregates in C; the
    rows never cross into Python one by one)."""
    if dialect == "sqlite":
        return func.group_concat(AnswerRow.latency_ms)
    return func.string_agg(cast(AnswerRow.latency_ms, Text), ",")


@dataclass(frozen=True)
class _Period:
    """One day's (or week's) sums, and its latencies."""

    questions: int
    abstained: int
    degraded: int
    up: int
    down: int
    voted: int
    latency: np.ndarray

    @staticmethod
    def merge(parts: Sequence[_Period]) -> _Period:
        def total(key: str) -> int:
            return sum(int(getattr(p, key)) for p in parts)

        return _Period(
            questions=total("questions"),
            abstained=total("abstained"),
            degraded=total("degraded"),
            up=total("up"),
            down=total("down"),
            voted=total("voted"),
            latency=np.concatenate([p.latency for p in parts]),
        )

    def overview(self) -> Overview:
        ordered = np.sort(self.latency)
        votes = self.up + self.down
        return Overview(
            questions=self.questions,
            answered=self.questions - self.abstained,
            abstained=self.abstained,
            up=self.up,
            down=self.down,
            satisfaction=self.up / votes if votes else None,
            voted_share=self.voted / self.questions,
            degraded=self.degraded,
            latency_p50_ms=_percentile(ordered, 50),
            latency_p95_ms=_percentile(ordered, 95),
        )


async def feedback_stats(
    store: FeedbackStore, filters: Filters = Filters(), *, bucket: Bucket = "day"
) -> FeedbackStats:
    """Compute the overview and its trend with one query grouped by day over the filtered
    answers' flags, vote totals and latencies (all in ``ix_answers_overview``, so without
    other filters the database reads that index alone); weeks and the total are merged from
    the days, and numpy takes the percentiles."""
    one = lambda cond: func.sum(case((cond, 1), else_=0))  # noqa: E731
    stmt = filtered_query(
        (
            AnswerRow.day,
            func.count(),
            one(AnswerRow.abstained.is_(True)),
            one(AnswerRow.degraded.is_(True)),
            func.sum(AnswerRow.up),
            func.sum(AnswerRow.down),
            one(AnswerRow.up + AnswerRow.down > 0),
            _latencies_sql(store.dialect),
        ),
        filters,
    ).group_by(AnswerRow.day)

    def work(s: Session) -> list[Any]:
        return list(s.execute(stmt))

    days: dict[str, _Period] = {}
    for day, n, abstained, degraded, up, down, voted, latencies in await store.read(work):
        days[str(day)] = _Period(
            questions=int(n),
            abstained=int(abstained or 0),
            degraded=int(degraded or 0),
            up=int(up or 0),
            down=int(down or 0),
            voted=int(voted or 0),
            latency=np.array(str(latencies).split(","), dtype=float),
        )
    if not days:
        return FeedbackStats(filters, Overview(), [])
    periods: dict[datetime, list[_Period]] = {}
    for day, part in sorted(days.items()):
        start = bucket_start(datetime.fromisoformat(day).replace(tzinfo=UTC), bucket)
        periods.setdefault(start, []).append(part)
    trend = [(start, _Period.merge(parts).overview()) for start, parts in periods.items()]
    total = _Period.merge(list(days.values())).overview()
    return FeedbackStats(filters, total, trend)


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
    stmt = filtered_query((AnswerRow,), filters)
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
        AnswerRow.up,
        AnswerRow.down,
    )
    stmt = filtered_query(columns, filters)
    order: dict[str, tuple[Any, ...]] = {
        "newest": (AnswerRow.created_at.desc(),),
        "oldest": (AnswerRow.created_at.asc(),),
        "slowest": (AnswerRow.latency_ms.desc(),),
        "most_down": (AnswerRow.down.desc(), AnswerRow.created_at.desc()),
    }
    paged = (
        stmt.order_by(*order[sort], AnswerRow.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    counted = select(func.count()).select_from(stmt.subquery())

    def work(s: Session) -> tuple[list[AnswerSummary], int]:
        rows = list(s.execute(paged))
        out = [
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
            for r in rows
        ]
        return out, int(s.execute(counted).scalar_one())

    return await store.read(work)


# -- sources ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceUse:
    """How one document served the filtered answers: ``cited`` (answers citing it),
    ``retrieved`` (answers that retrieved it), and the 👍/👎 on the answers that cite it."""

    doc_id: str
    title: str
    cited: int
    retrieved: int
    up: int
    down: int

    @property
    def satisfaction(self) -> float | None:
        """``up / (up + down)`` over the answers citing it; ``None`` without votes."""
        return self.up / (self.up + self.down) if self.up + self.down else None


async def source_usage(store: FeedbackStore, filters: Filters | None = None) -> list[SourceUse]:
    """Every document that the filtered answers retrieved, most cited first (from the
    citations and retrieved lists each answer stored; documents never retrieved are not
    known to the feedback database)."""
    stmt = filtered_query(
        (AnswerRow.citations, AnswerRow.retrieved, AnswerRow.up, AnswerRow.down),
        filters or Filters(),
    )

    def work(s: Session) -> list[Any]:
        return list(s.execute(stmt))

    stats: dict[str, list[int]] = {}
    titles: dict[str, str] = {}
    for citations, retrieved, up, down in await store.read(work):
        for doc in dict.fromkeys(str(r.get("doc_id")) for r in retrieved or []):
            stats.setdefault(doc, [0, 0, 0, 0])[1] += 1
        for c in {str(c.get("doc_id")): c for c in citations or []}.values():
            doc = str(c.get("doc_id"))
            titles.setdefault(doc, str(c.get("title") or doc))
            row = stats.setdefault(doc, [0, 0, 0, 0])
            row[0] += 1
            row[2] += int(up)
            row[3] += int(down)
    out = [SourceUse(d, titles.get(d, d), *v) for d, v in stats.items()]
    return sorted(out, key=lambda u: (-u.cited, -u.retrieved, u.doc_id))


async def never_cited(store: FeedbackStore, uses: Sequence[SourceUse]) -> list[SourceUse] | None:
    """The documents of the inventory (what the sources hold after their last applied sync or
    ingest, :meth:`bot.feedback.FeedbackStore.documents`) that none of ``uses``' answers
    cite, most retrieved first; ``None`` when no inventory is recorded yet (then only the
    documents retrieved but never cited are known)."""
    inventory = await store.documents()
    if not inventory:
        return None
    by_doc = {u.doc_id: u for u in uses}
    out = [
        SourceUse(
            d.doc_id, d.title, 0, by_doc[d.doc_id].retrieved if d.doc_id in by_doc else 0, 0, 0
        )
        for _, d in inventory
        if d.doc_id not in by_doc or not by_doc[d.doc_id].cited
    ]
    return sorted(out, key=lambda u: (-u.retrieved, u.doc_id))
