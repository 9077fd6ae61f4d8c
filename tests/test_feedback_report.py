"""The feedback overview and exports (bot.review.feedback_report, ``supportbot feedback``), on
SQLite and, when ``SUPPORTBOT_TEST_POSTGRES_URL`` is set, PostgreSQL."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.feedback import FeedbackStore
from bot.review.feedback_report import (
    Filters,
    export_rows,
    feedback_stats,
    mask,
    to_csv,
    to_jsonl,
)
from tests.test_feedback import make_answer, store  # noqa: F401  (the store fixture)

DAY1 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)  # a Monday
DAY2 = DAY1 + timedelta(days=1)


async def seed(store: FeedbackStore, channel: str) -> list[str]:  # noqa: F811
    """Four answers over two days in ``channel``: votes 👍👍, 👎 (with a comment), none, and an
    abstention with 👎. Latencies 100, 200, 300, 400 ms."""
    ids = []
    for i, (abstained, when) in enumerate(
        [(False, DAY1), (False, DAY1), (False, DAY2), (True, DAY2)]
    ):
        answer = dataclasses.replace(
            make_answer(f"question {i}?"),
            abstained=abstained,
            timings=dataclasses.replace(make_answer().timings, total_ms=100.0 * (i + 1)),
        )
        answer_id = await store.record_answer(
            answer, platform="slack", channel_id=channel, user_id="U_ASKER", created_at=when
        )
        ids.append(answer_id)
    await store.vote(ids[0], "U_A", 1, source="button")
    await store.vote(ids[0], "U_B", 1, source="reaction")
    await store.comment(ids[1], "U_C", "wrong plan")  # a 👎 with its comment
    await store.vote(ids[3], "U_A", -1, source="button")
    return ids


async def test_overview_and_trend(store: FeedbackStore) -> None:  # noqa: F811
    channel = f"C{uuid.uuid4().hex[:8]}"
    await seed(store, channel)
    stats = await feedback_stats(store, Filters(channel=channel))
    t = stats.total
    assert (t.questions, t.answered, t.abstained, t.up, t.down) == (4, 3, 1, 2, 2)
    assert t.satisfaction == pytest.approx(0.5) and t.voted_share == pytest.approx(0.75)
    assert (t.latency_p50_ms, t.latency_p95_ms) == (200.0, 400.0)
    assert [d.date() for d, _ in stats.trend] == [DAY1.date(), DAY2.date()]
    first, second = (o for _, o in stats.trend)
    assert (first.questions, first.up, first.down, first.satisfaction) == (
        2,
        2,
        1,
        pytest.approx(2 / 3),
    )
    assert (second.abstained, second.voted_share) == (1, 0.5)
    week = await feedback_stats(store, Filters(channel=channel), bucket="week")
    assert len(week.trend) == 1 and week.trend[0][1].questions == 4
    only_down = await feedback_stats(store, Filters(channel=channel, vote="down"))
    assert only_down.total.questions == 2
    since = await feedback_stats(store, Filters(channel=channel, since=DAY2))
    assert since.total.questions == 2
    text = await feedback_stats(store, Filters(channel=channel, text="QUESTION 3"))
    assert text.total.questions == 1 and text.total.abstained == 1
    none = await feedback_stats(store, Filters(channel="C-nobody"))
    assert none.total.questions == 0 and none.total.satisfaction is None


async def test_export_rows_csv_and_jsonl(store: FeedbackStore) -> None:  # noqa: F811
    channel = f"C{uuid.uuid4().hex[:8]}"
    ids = await seed(store, channel)
    rows = await export_rows(store, Filters(channel=channel, vote="down"))
    assert [(r["answer_id"], r["vote"], r["voter"], r["comment"]) for r in rows] == [
        (ids[3], "down", "U_A", None),
        (ids[1], "down", "U_C", "wrong plan"),
    ]
    everything = await export_rows(store, Filters(channel=channel), mask_users=True)
    assert len(everything) == 5  # two votes on the first answer, one row without a vote
    assert {r["voter"] for r in everything} == {mask("U_A"), mask("U_B"), mask("U_C"), None}
    assert all(r["user_id"] == mask("U_ASKER") for r in everything)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert parsed[1]["comment"] == "wrong plan" and parsed[1]["citations"].startswith("[1] Doc, S")
    lines = [json.loads(line) for line in to_jsonl(rows).splitlines()]
    assert lines[0]["citations"][0]["title"] == "Doc" and lines[0]["abstained"] is True


def test_cli_stats_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    db = FeedbackStore(f"sqlite:///{tmp_path / 'data' / 'feedback.db'}")
    try:
        asyncio.run(seed(db, "C1"))
    finally:
        db.close()
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(tmp_path / "none.toml"))
    runner = CliRunner()
    result = runner.invoke(
        app, ["feedback", "stats", "--plot", str(tmp_path / "trend.png")], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "2026-11-02" in result.output and "50.0 %" in result.output
    assert (tmp_path / "trend.png").stat().st_size > 1000
    out = tmp_path / "down.csv"
    result = runner.invoke(
        app, ["feedback", "export", "--since", "2026-11-03", "--vote", "down", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["question"] for r in rows] == ["question 3?"]
    result = runner.invoke(app, ["feedback", "export", "--format", "xml"])
    assert (
        result.exit_code == 1 and "--format must be csv, jsonl, sft, dpo or raft" in result.output
    )


async def test_answers_list_and_sources_on_each_backend(store: FeedbackStore) -> None:  # noqa: F811
    from bot.review.feedback_report import list_answers, source_usage

    channel = f"C{uuid.uuid4().hex[:8]}"
    ids = await seed(store, channel)
    f = Filters(channel=channel)
    rows, total = await list_answers(store, f, sort="slowest")
    assert total == 4 and [r.id for r in rows] == [ids[3], ids[2], ids[1], ids[0]]
    assert (rows[-1].up, rows[-1].down) == (2, 0)
    page2, _ = await list_answers(store, f, sort="slowest", page=2, per_page=3)
    assert [r.id for r in page2] == [ids[0]]
    newest, _ = await list_answers(store, f, sort="newest")
    assert {r.id for r in newest[:2]} == {ids[2], ids[3]}  # DAY2 before DAY1
    worst, _ = await list_answers(store, f, sort="most_down", per_page=2)
    assert {r.down for r in worst} == {1}
    down, n_down = await list_answers(store, Filters(channel=channel, vote="down"))
    assert n_down == 2 and {r.id for r in down} == {ids[1], ids[3]}
    (doc,) = await source_usage(store, f)
    assert (doc.doc_id, doc.cited, doc.retrieved, doc.up, doc.down) == ("d.md", 4, 4, 2, 2)
