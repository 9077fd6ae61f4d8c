"""``supportbot db upgrade|current`` and a store that refuses an outdated schema, on SQLite
and PostgreSQL (a new database per test: ``fresh_database``)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from bot import migrations
from bot.cli import app
from bot.feedback import FeedbackStore, make_engine
from bot.migrations import SchemaOutdatedError
from tests.conftest import database_at

runner = CliRunner()


async def test_db_upgrade_keeps_the_data_of_an_old_schema(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_at(
        fresh_database,
        "0001",
        created_at=datetime(2026, 3, 4, 12, 0, tzinfo=UTC),
        votes=[("U1", 1), ("U2", 1), ("U3", -1)],
    )
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", fresh_database)

    outdated = runner.invoke(app, ["db", "current"])
    assert outdated.exit_code == 1
    assert f"database revision: 0001; this version needs: {migrations.head()}" in outdated.output
    # A replica configured not to migrate refuses the old schema, naming the command.
    with pytest.raises(SchemaOutdatedError, match="supportbot db upgrade"):
        FeedbackStore(fresh_database, upgrade=False)

    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"revision 0001 → {migrations.head()}" in upgraded.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert "is current" in again.output
    assert runner.invoke(app, ["db", "current"]).exit_code == 0

    store = FeedbackStore(fresh_database, upgrade=False)
    try:
        rec = await store.get_answer("a1")
        assert rec is not None and rec.question == "How long for a refund?"
        assert (rec.up, rec.down) == (2, 1)  # totals backfilled from the kept votes
        assert len(await store.votes("a1")) == 3
        await store.vote("a1", "U4", -1, source="reaction")  # and it takes new votes
        rec = await store.get_answer("a1")
        assert rec is not None and (rec.up, rec.down) == (2, 2)
    finally:
        store.close()


def test_replicas_upgrading_at_once_all_succeed(fresh_database: str) -> None:
    """Three replicas (processes: Alembic keeps per-process state) upgrading one new database
    together: on PostgreSQL an advisory lock puts them in turn, on SQLite ``BEGIN IMMEDIATE``."""
    code = (
        "import sys; from bot import migrations; from bot.feedback import make_engine; "
        "migrations.upgrade(make_engine(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh_database], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    failures = [p.communicate(timeout=120)[1] for p in procs if p.wait(timeout=120) != 0]
    assert failures == []
    engine = make_engine(fresh_database)
    try:
        assert migrations.current(engine) == migrations.head()
    finally:
        engine.dispose()


def test_an_unreachable_database_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SUPPORTBOT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "db", "current"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "cannot reach the feedback database" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
