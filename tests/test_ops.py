"""Sync inside the running bot (bot.ops): schedules, history, status, whole versions during a
sync, the admin commands' checks, and the admin socket that ``supportbot sync`` hands work to."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.ops import AdminCommands, AdminServer, SyncService, request_admin
from knowledge.sources import make_source
from knowledge.sources.config import SourceConfig
from tests.conftest import TESTS, make_settings

OFFICE = TESTS / "data" / "office"
GYM = "# Staff gym\n\nThe staff gym on level 3 opens at 6 am and closes at 10 pm on weekdays.\n"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[SupportEngine, FeedbackStore, Path]]:
    docs = tmp_path / "docs"
    shutil.copytree(OFFICE, docs)
    engine = await asyncio.to_thread(SupportEngine.from_settings, make_settings(tmp_path / "data"))
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield engine, store, docs
    store.close()
    await engine.aclose()


async def eventually(check, timeout_s: float = 60.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


async def test_scheduled_sync_reaches_the_running_engine_without_restart(
    running: tuple[SupportEngine, FeedbackStore, Path],
) -> None:
    engine, store, docs = running
    config = SourceConfig(id="office", kind="folder", location=str(docs), schedule="1s")
    service = SyncService(engine, store, [config])
    service.start()
    try:
        await eventually(lambda: store.sync_runs("office"), what="the first scheduled sync")
        (status,) = await service.status()
        assert status.last is not None and status.last.added == 5
        assert status.next_run is not None
        (docs / "gym.md").write_text(GYM)

        async def cites_gym() -> bool:
            answer = await engine.answer("When does the staff gym open?", audience="internal")
            return any("office/gym.md" in c.source for c in answer.citations)

        await eventually(cites_gym, what="an answer citing the new document")
        (docs / "gym.md").unlink()

        async def gym_gone() -> bool:
            hits = (
                await asyncio.to_thread(engine.kb.retrieve, "staff gym", audience="internal")
            ).hits
            return all(h.chunk.doc_id != "office/gym.md" for h in hits)

        await eventually(gym_gone, what="the deleted document to leave the index")

        async def recorded() -> bool:  # the history is written right after the sync returns
            runs = await store.sync_runs("office", limit=100)
            return any(r.added == 1 for r in runs) and any(r.removed == 1 for r in runs)

        await eventually(recorded, what="both changes in the sync history")
        runs = await store.sync_runs("office", limit=100)
        assert {r.trigger for r in runs} == {"schedule"}
        # The inventory (the console's "never cited") follows the index: five, gym.md gone.
        inventory = {d.doc_id: d for origin, d in await store.documents() if origin == "office"}
        assert len(inventory) == 5 and "office/gym.md" not in inventory
        assert all(d.chunks > 0 and d.title and d.audience for d in inventory.values())
    finally:
        await service.stop()


async def test_questions_during_a_sync_see_one_whole_version(
    running: tuple[SupportEngine, FeedbackStore, Path],
) -> None:
    engine, _, docs = running
    big = docs / "handbook.md"

    def version(word: str) -> str:
        return "# Handbook\n\n" + "".join(
            f"## Topic {i}\n\nRule {i} of the {word} handbook: badges are checked at door {i}.\n\n"
            for i in range(60)
        )

    big.write_text(version("alpha"))
    config = SourceConfig(id="office", kind="folder", location=str(docs))
    await engine.sync([make_source(config)])
    big.write_text(version("beta"))
    seen: list[set[str]] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            hits = engine.kb.retrieve("handbook badges door rule", audience="internal", limit=20)
            seen.append(
                {h.chunk.doc_hash for h in hits.hits if h.chunk.doc_id == "office/handbook.md"}
            )

    reader = threading.Thread(target=ask)
    reader.start()
    try:
        report = await engine.sync([make_source(config)])
    finally:
        stop.set()
        reader.join()
    assert report.sources[0].changed == ["office/handbook.md"]
    assert len(seen) > 3, "the reader ran during the sync"
    assert all(len(versions) == 1 for versions in seen), "never two versions at once"
    assert all(len(v) == 1 for v in seen if v) and seen[-1]


async def test_admin_commands_check_admins_and_log_refusals(
    running: tuple[SupportEngine, FeedbackStore, Path], caplog: pytest.LogCaptureFixture
) -> None:
    engine, store, docs = running
    service = SyncService(
        engine, store, [SourceConfig(id="office", kind="folder", location=str(docs))]
    )
    admin = AdminCommands(service, admins={"slack": ["U0ADMIN"]}, admin_roles={"discord": ["42"]})
    with caplog.at_level(logging.WARNING, logger="bot.ops"):
        refused = await admin.run_sync("slack", "U0MALLORY", None)
    assert "only the bot's admins" in refused
    assert "refused /supportbot-sync to slack user U0MALLORY" in caplog.text
    assert await store.sync_runs() == []  # nothing ran
    assert "office: 5 added" in await admin.run_sync("slack", "U0ADMIN", None)
    assert "office (folder, manual)" in await admin.run_status("discord", "7", role_ids=["42"])
    assert "no source 'nope'" in await admin.run_sync("slack", "U0ADMIN", "nope")
    none = AdminCommands(None, admins={"slack": ["U0ADMIN"]})
    assert "No sources are configured" in await none.run_sync("slack", "U0ADMIN", None)
    await service.settled()


async def test_cli_sync_hands_the_work_to_the_running_bot(
    running: tuple[SupportEngine, FeedbackStore, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, store, docs = running
    sources_file = tmp_path / "sources.toml"
    sources_file.write_text(f'[[source]]\nid = "office"\nkind = "folder"\nlocation = "{docs}"\n')
    settings = make_settings(tmp_path / "data", sources_file=sources_file)
    service = SyncService(
        engine, store, [SourceConfig(id="office", kind="folder", location=str(docs))]
    )
    server = AdminServer(service, settings.admin_socket_path)
    await server.start()
    try:
        assert oct(os.stat(settings.admin_socket_path).st_mode & 0o777) == "0o600"
        monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("SUPPORTBOT_SOURCES_FILE", str(sources_file))
        monkeypatch.setenv("SUPPORTBOT_CONFIG", str(tmp_path / "none.toml"))
        runner = CliRunner()
        # The engine above holds the local index: the CLI cannot open it and asks the bot.
        result = await asyncio.to_thread(runner.invoke, app, ["sync", "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "handing the sync to it" in result.output and "office: 5 would add" in result.output
        assert engine.kb.index.count() == 0  # a dry run changed nothing
        result = await asyncio.to_thread(runner.invoke, app, ["sync"])
        assert result.exit_code == 0 and "office: 5 added" in result.output, result.output
        assert len(engine.kb.index.documents("office")) == 5
        result = await asyncio.to_thread(runner.invoke, app, ["sync", "status"])
        assert "office (folder, manual): last" in result.output, result.output
        (runs_cli, *_) = await store.sync_runs("office")
        assert runs_cli.trigger == "cli"
        reply = await asyncio.to_thread(request_admin, settings.admin_socket_path, {"op": "x"})
        assert (
            reply is not None and reply["ok"] is False and "unknown admin request" in reply["error"]
        )
    finally:
        await server.stop()
        await service.settled()
    assert not settings.admin_socket_path.exists()
    assert request_admin(settings.admin_socket_path, {"op": "status"}) is None


def test_cli_sync_in_its_own_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(OFFICE, docs)
    sources_file = tmp_path / "sources.toml"
    sources_file.write_text(f'[[source]]\nid = "office"\nkind = "folder"\nlocation = "{docs}"\n')
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPPORTBOT_SOURCES_FILE", str(sources_file))
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(tmp_path / "none.toml"))
    runner = CliRunner()
    result = runner.invoke(app, ["sync"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "5 documents indexed" in result.output and "0 removed" in result.output
    (docs / "lunch.md").unlink()
    result = runner.invoke(app, ["sync", "office"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "removed office/lunch.md" in result.output, result.output
    result = runner.invoke(app, ["sync", "--dry-run"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    store = FeedbackStore(f"sqlite:///{tmp_path / 'data' / 'feedback.db'}")
    try:  # a dry run leaves the inventory as the last applied run wrote it
        docs_now = [d.doc_id for _, d in asyncio.run(store.documents())]
    finally:
        store.close()
    assert len(docs_now) == 4 and "office/lunch.md" not in docs_now
    result = runner.invoke(app, ["sync", "status"], env={"COLUMNS": "200"})
    assert "office (folder, manual): last" in result.output and "-1" in result.output
    result = runner.invoke(app, ["sync", "nope"])
    assert result.exit_code == 1 and "no source nope" in result.output
