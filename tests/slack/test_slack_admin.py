"""/supportbot-sync and /supportbot-status through the fake Slack: refused (and logged) for
anyone but the configured admins, run for them, the result posted privately."""

from __future__ import annotations

import logging

import pytest
from slack_harness import ALICE, BOB, MakeHarness

from bot.engine import SupportEngine
from bot.ops import AdminCommands, SyncService
from bot.platforms.slack.listeners import STATUS_COMMAND, SYNC_COMMAND

CHANNEL = "C0SUPPORT"


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_admin_commands_on_slack(
    make_harness: MakeHarness,
    office_sync: SyncService,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine, store = office_sync.engine, office_sync.store
    assert isinstance(engine, SupportEngine)
    h = await make_harness(mode, admin=AdminCommands(office_sync, admins={"slack": [BOB]}))

    with caplog.at_level(logging.WARNING, logger="bot.ops"):
        ack, _ = await h.slash("office", channel=CHANNEL, user=ALICE, command=SYNC_COMMAND)
    assert "only the bot's admins" in str(ack.body)
    assert f"refused {SYNC_COMMAND} to slack user {ALICE}" in caplog.text
    _, url = await h.slash("", channel=CHANNEL, user=ALICE, command=STATUS_COMMAND)
    await h.fake.wait_for(lambda: h.fake.responses, what="the status refusal")
    assert "only the bot's admins" in h.fake.responses[-1][1]["text"]
    assert await store.sync_runs() == [] and engine.kb.index.count() == 0

    ack, url = await h.slash("office", channel=CHANNEL, user=BOB, command=SYNC_COMMAND)
    assert "Syncing office" in str(ack.body)
    await h.fake.wait_for(
        lambda: any(url.endswith(r[0]) for r in h.fake.responses), what="the sync result"
    )
    (posted,) = [r[1] for r in h.fake.responses if url.endswith(r[0])]
    assert posted["response_type"] == "ephemeral" and "office: 5 added" in posted["text"]
    assert len(engine.kb.index.documents("office")) == 5
    _, url = await h.slash("", channel=CHANNEL, user=BOB, command=STATUS_COMMAND)
    await h.fake.wait_for(lambda: any(url.endswith(r[0]) for r in h.fake.responses), what="status")
    (status,) = [r[1] for r in h.fake.responses if url.endswith(r[0])]
    assert "office (folder, manual): last" in status["text"] and "+5" in status["text"]
    await office_sync.settled()
