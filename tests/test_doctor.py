"""``supportbot doctor`` against real dependencies: a local-mode index, SQLite/PostgreSQL
stores at old and new revisions, and an LLM endpoint that answers, refuses or is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from pydantic import SecretStr
from qdrant_client import models
from typer.testing import CliRunner

from bot import migrations
from bot.cli import app
from bot.doctor import Finding, check_database, check_index, check_llm, check_tokens
from bot.engine import SupportEngine
from bot.feedback import make_engine
from bot.settings import Settings
from knowledge.index import open_client
from tests.conftest import KB, free_port, make_settings
from tests.fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A data folder with the public test documents ingested, the index closed again."""
    settings = make_settings(tmp_path_factory.mktemp("doctor"))
    engine = SupportEngine.from_settings(settings)
    engine.kb.ingest([KB / "public"], audience="public", progress=False)
    engine.close()
    return settings


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_a_healthy_index_reports_its_chunks_and_dimension(ingested: Settings) -> None:
    found = check_index(ingested)
    assert found.status == "ok", found
    assert "384-d vectors" in found.detail and "chunks in 'supportbot'" in found.detail
    assert "(Qdrant Edge)" in found.detail  # the default embedded engine


def test_an_earlier_versions_local_mode_index_works_and_doctor_says_how_to_move_it(
    tmp_path: Path,
) -> None:
    engine = SupportEngine.from_settings(make_settings(tmp_path, index_engine="local"))
    engine.kb.ingest([KB / "public"], audience="public", progress=False)
    engine.close()
    found = check_index(make_settings(tmp_path))  # index_engine = auto
    assert found.status == "warn" and "local mode" in found.detail and "chunks" in found.detail
    assert f"index migrate --to {tmp_path} --engine edge" in found.fix


def test_the_sentence_layout_and_sentence_rescore_are_checked_together(
    ingested: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Built with a sentence graph: fine either way at sample size...
    assert check_index(ingested.model_copy(update={"sentence_rescore": True})).status == "ok"
    # ...but a large index searched sentence by sentence is worth a warning.
    monkeypatch.setattr("bot.doctor.LARGE_INDEX", 2)
    large = check_index(ingested)
    assert large.status == "warn" and "every sentence vector" in large.detail
    assert "SUPPORTBOT_SENTENCE_RESCORE=true" in large.fix and "index migrate" in large.fix
    assert check_index(ingested.model_copy(update={"sentence_rescore": True})).status == "ok"
    # Built for sentence_rescore (no sentence graph), then searched without it: a full scan.
    engine = SupportEngine.from_settings(make_settings(tmp_path, sentence_rescore=True))
    engine.kb.ingest([KB / "public"], audience="public", progress=False)
    engine.close()
    assert check_index(make_settings(tmp_path, sentence_rescore=True)).status == "ok"
    off = check_index(make_settings(tmp_path))
    assert off.status == "warn" and "no sentence graph" in off.detail
    assert off.fix == "set SUPPORTBOT_SENTENCE_RESCORE=true"


def test_missing_empty_and_mismatched_collections(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    missing = check_index(settings)
    assert missing.status == "fail" and "supportbot ingest" in missing.fix
    client = open_client(settings)  # the embedded engine in use
    client.create_collection(
        "supportbot",
        vectors_config={"dense": models.VectorParams(size=8, distance=models.Distance.COSINE)},
    )
    client.close()
    mismatch = check_index(settings)
    assert mismatch.status == "fail" and "holds 8-d vectors" in mismatch.detail
    assert "--rebuild" in mismatch.fix
    SupportEngine.from_settings(make_settings(tmp_path, collection="empty")).close()
    empty = check_index(make_settings(tmp_path, collection="empty"))
    assert empty.status == "warn" and "empty" in empty.detail


def test_an_outdated_database_is_a_failure_only_without_auto_upgrade(
    fresh_database: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_database)
    command.upgrade(migrations.config(engine), "0003")
    engine.dispose()
    manual = check_database(
        make_settings(tmp_path, database_url=fresh_database, database_auto_upgrade=False)
    )
    assert manual.status == "fail" and "revision 0003" in manual.detail
    assert manual.fix == "run 'supportbot db upgrade'"
    auto = check_database(make_settings(tmp_path, database_url=fresh_database))
    assert auto.status == "warn" and "would do it at start" in auto.fix
    engine = make_engine(fresh_database)
    migrations.upgrade(engine)
    engine.dispose()
    assert check_database(make_settings(tmp_path, database_url=fresh_database)).status == "ok"


def test_an_unreachable_database_says_so(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    found = check_database(make_settings(tmp_path, database_url=url))
    assert found.status == "fail" and "cannot reach it" in found.detail
    assert "SUPPORTBOT_DATABASE_URL" in found.fix


async def test_llm_endpoint_answering_refusing_and_absent(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    import asyncio

    server, url = fake
    settings = make_settings(
        tmp_path, generator="openai", openai_base_url=url, openai_model="qwen-1.5b"
    )
    ok = await asyncio.to_thread(check_llm, settings)
    assert ok is not None and ok.status == "ok", ok
    assert server.requests[-1]["max_tokens"] == 1
    server.fail_status = 401
    refused = await asyncio.to_thread(check_llm, settings)
    assert refused is not None and refused.status == "fail"
    assert "HTTP 401" in refused.detail and "OPENAI_API_KEY" in refused.fix
    absent = make_settings(
        tmp_path, generator="openai", openai_base_url=f"http://127.0.0.1:{free_port()}/v1"
    )
    down = await asyncio.to_thread(check_llm, absent)
    assert down is not None and down.status == "fail" and "did not answer" in down.detail
    assert check_llm(make_settings(tmp_path)) is None  # extractive: nothing to check


def test_tokens(tmp_path: Path) -> None:
    none = check_tokens(make_settings(tmp_path))
    assert [f.status for f in none] == ["warn"]
    socket_without_app_token = by_check(
        check_tokens(make_settings(tmp_path, slack_bot_token=SecretStr("xoxb-1-2-abc")))
    )
    assert socket_without_app_token["slack"].status == "fail"
    assert "SUPPORTBOT_SLACK_APP_TOKEN" in socket_without_app_token["slack"].detail
    wrong_kind = by_check(
        check_tokens(
            make_settings(
                tmp_path,
                slack_mode="http",
                slack_bot_token=SecretStr("xapp-1-A1-abc"),
                slack_signing_secret=SecretStr("s3cret"),
            )
        )
    )
    assert "does not start with xoxb-" in wrong_kind["slack"].detail
    good = by_check(
        check_tokens(
            make_settings(
                tmp_path,
                slack_bot_token=SecretStr("xoxb-1-2-abc"),
                slack_app_token=SecretStr("xapp-1-A1-abc"),
                discord_token=SecretStr("MTA" + "x" * 24 + ".GhIjKl." + "y" * 38),
            )
        )
    )
    assert good["slack"].status == "ok" and good["discord"].status == "ok"


def test_the_command_prints_the_fix_and_exits_1_on_a_failure(
    ingested: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(ingested.data_dir))
    monkeypatch.setenv("COLUMNS", "200")
    healthy = runner.invoke(app, ["doctor"])
    assert healthy.exit_code == 0, healthy.output
    assert "Nothing stops the bot." in healthy.output
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path))
    broken = runner.invoke(app, ["doctor"])
    assert broken.exit_code == 1
    assert "FAIL" in broken.output and "supportbot ingest DOCS" in broken.output
