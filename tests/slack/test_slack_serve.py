"""``serve(settings)`` — what ``supportbot serve slack`` runs — against the fake Slack."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest
from fake_slack import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    FakeSlack,
    event_callback,
)
from pydantic import SecretStr
from slack_harness import PUBLIC_QUESTION

from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.platforms.slack import SlackConfigError, serve
from bot.service import AnswerEngine
from bot.settings import Settings
from tests.conftest import free_port

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
    assert not settings.qdrant_path.exists(), "fails before opening the index"


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
        health_port=0,
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


@pytest.mark.asyncio(loop_scope="session")
async def test_serve_in_http_mode_answers_probes_on_its_port(
    fake_slack: FakeSlack, slack_engine: AnswerEngine, tmp_path: Path
) -> None:
    port = free_port()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        slack_mode="http",
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_http_host="127.0.0.1",
        slack_http_port=port,
        slack_api_url=fake_slack.api_url,
    )
    engine = SupportEngine.from_settings(settings)
    await engine.ingest([KB_PUBLIC], audience="public")
    engine.close()
    task = asyncio.create_task(serve(settings))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):  # the engine loads in a thread first
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/healthz") as live:
                        if live.status == 200:
                            break
                await asyncio.sleep(0.1)
            async with http.get(f"{base}/readyz") as ready:
                body = await ready.json()
                assert ready.status == 200 and body["ready"] is True, body
            async with http.get(f"{base}/metrics") as page:
                assert page.status == 200
                assert "supportbot_stage_seconds" in await page.text()
            # The events endpoint on the same port still verifies Slack's signature.
            async with http.post(f"{base}/slack/events", data=b"{}") as unsigned:
                assert unsigned.status == 401
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
