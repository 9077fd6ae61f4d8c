"""The bot's Prometheus metrics: each defined once here, recorded by the core, read by ``/metrics``.

Names follow Prometheus' conventions (https://prometheus.io/docs/practices/naming/): a
``supportbot_`` prefix, ``_total`` on counters, base units (seconds) on histograms. Labels are
small closed sets (platform, stage, outcome), never a user, channel or question, so the series
count stays bounded.

The metrics live in the process-wide default registry of prometheus-client, which is what
``generate_latest()`` serves; :func:`exposition` returns that text. Every replica exposes its own
counters and Prometheus sums them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from bot.models import Answer
    from knowledge.sync import SyncReport

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
"""Histogram buckets in seconds: from a 5 ms embedding to a slow local LLM's 40 s answer."""

QUESTIONS = Counter(
    "supportbot_questions_total",
    "Questions answered, by platform and outcome (answered, abstained, verified, refused, "
    "throttled, unavailable, error).",
    ["platform", "outcome"],
)
ABSTENTIONS = Counter(
    "supportbot_abstentions_total",
    "Questions the bot declined to answer from the documents, by the rule that refused.",
    ["platform", "reason"],
)
VOTES = Counter(
    "supportbot_votes_total",
    "Votes recorded, by how they came (button, reaction) and value (up, down, withdrawn).",
    ["via", "vote"],
)
VOTES_PENDING = Gauge(
    "supportbot_votes_pending",
    "Votes kept in the outbox while the feedback database is unavailable, not yet written.",
)
VOTES_REJECTED = Counter(
    "supportbot_votes_rejected_total",
    "Votes from the outbox that the database refused for good (their answer does not exist).",
)
STAGE_SECONDS = Histogram(
    "supportbot_stage_seconds",
    "Wall-clock seconds per answer stage (embed, search, rerank, generate, total).",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
LLM_ERRORS = Counter(
    "supportbot_llm_errors_total",
    "LLM requests that failed after their retries (HTTP error, timeout, malformed reply).",
)
LLM_FALLBACKS = Counter(
    "supportbot_llm_fallbacks_total",
    "Answers given by a fallback instead of the LLM: extractive (the LLM failed), ungrounded "
    "(nothing it said was supported), mostly_unsupported (more than grounding_max_unsupported "
    "of it was not), instructions (it repeated its instructions) or "
    "unavailable (nothing could answer).",
    ["to"],
)
SYNC_RUNS = Counter(
    "supportbot_sync_runs_total",
    "Sync runs per source, by status (applied, unchanged, dry_run, blocked, error).",
    ["source", "status"],
)
SYNC_ERRORS = Counter(
    "supportbot_sync_errors_total",
    "Documents skipped (unreadable, corrupt, over a limit) or sources that failed, per source.",
    ["source"],
)

STAGES = ("embed", "search", "rerank", "generate", "total")


def record_answer(answer: Answer, platform: str) -> None:
    """Count one answered question and observe its stage timings (``Timings`` is in ms)."""
    if answer.abstained:
        outcome = "abstained"
        ABSTENTIONS.labels(platform, answer.abstain_reason or "unknown").inc()
    elif answer.generator == "verified":
        outcome = "verified"
    else:
        outcome = "answered"
    QUESTIONS.labels(platform, outcome).inc()
    t = answer.timings
    for stage, ms in zip(
        STAGES, (t.embed_ms, t.search_ms, t.rerank_ms, t.generate_ms, t.total_ms), strict=True
    ):
        if ms > 0:
            STAGE_SECONDS.labels(stage).observe(ms / 1000.0)


def record_refusal(platform: str, *, outcome: str = "refused") -> None:
    """Count a message declined before retrieval: ``refused`` (too long to be a question) or
    ``throttled`` (past a rate limit)."""
    QUESTIONS.labels(platform, outcome).inc()


def record_failure(platform: str, *, outcome: str = "error") -> None:
    """Count a question that ended in an error message instead of an answer: ``error`` (a
    failure), or ``unavailable`` (the index could not be reached)."""
    QUESTIONS.labels(platform, outcome).inc()


def record_vote(via: str, value: int | None) -> None:
    """Count a vote that came by ``via`` (button, reaction): +1 up, -1 down, ``None`` a withdrawn
    one."""
    VOTES.labels(via, {1: "up", -1: "down"}.get(value or 0, "withdrawn")).inc()


def record_sync(report: SyncReport) -> None:
    """Count each source's run in a sync report and its skipped documents or failure."""
    for source in report.sources:
        if source.error:
            status = "error"
        elif source.blocked:
            status = "blocked"
        elif report.dry_run:
            status = "dry_run"
        elif source.added or source.changed or source.removed:
            status = "applied"
        else:
            status = "unchanged"
        SYNC_RUNS.labels(source.source, status).inc()
        failures = len(source.skipped) + (1 if source.error else 0)
        if failures:
            SYNC_ERRORS.labels(source.source).inc(failures)


def exposition() -> tuple[bytes, str]:
    """The default registry in the Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
