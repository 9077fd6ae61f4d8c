"""``serve(settings)`` — what ``supportbot serve slack`` runs — against the fake Slack."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER_ID, FakeSlack, event_callback
from pydantic import SecretStr
from slack_harness import PUBLIC_QUESTION

from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.platforms.slack import SlackConfigError, serve
from bot.service import AnswerEngine
from bot.settings import Settings

KB_PUBLIC = Path(__file__).resolve().parents[1] / "data" / "kb" / "public"


@pytest.mark.parametrize(
    ("mode", "missing"),
    [("socket", "SUPPORTBOT_SLACK_APP_TOKEN"), ("http", "SUPPORTBOT_SLACK_SIGNING_SECRET")],
)
@pytest.mark.asyncio(loop_scope="session")
async def test_serve_names_the_missing_setting(tmp_path: Path, mode: str, missing: str) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        slack_mode=mode,  # type: ignore[arg-type]
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_app_token=None,
        slack_signing_secret=None,
    )
    with pytest.raises(SlackConfigError, match=missing):
        await serve(settings)
    assert not (tmp_path / "qdrant").exists(), "fails before opening the index"


@pytest.mark.asyncio(loop_scope="session")
async def test_serve_answers_over_socket_mode_until_cancelled(
    fake_slack: FakeSlack, slack_engine: AnswerEngine, tmp_path: Path
) -> None:
    # slack_engine: the embedding model is already loaded in this process, so serve() is quick.
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        slack_mode="socket",
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_app_token=SecretStr(APP_TOKEN),
        slack_api_url=fake_slack.api_url,
        slack_audiences={},
        human_contact="#help-desk",
    )
    engine = SupportEngine.from_settings(settings)  # what `supportbot ingest` would do first
    await engine.ingest([KB_PUBLIC], audience="public")
    engine.close()

    task = asyncio.create_task(serve(settings))
    try:
        await fake_slack.wait_connected()
        message = fake_slack.post_user_message(
            "C0SUPPORT", f"<@{BOT_USER_ID}> {PUBLIC_QUESTION}", user="U0ALICE"
        )
        ack = await fake_slack.send_envelope(
            "events_api", event_callback(dict(message, type="app_mention"))
        )
        assert ack.status == 200
        reply = await fake_slack.wait_for_call(
            "chat.postMessage", channel="C0SUPPORT", thread_ts=message["ts"]
        )
        assert "30 days" in reply.args["text"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await fake_slack.wait_for(lambda: fake_slack.socket_closed, what="the socket to be closed")
    store = FeedbackStore(settings.resolved_database_url)
    try:
        (answer,) = await store.answers()
        assert answer.platform == "slack" and answer.question == PUBLIC_QUESTION
    finally:
        store.close()
