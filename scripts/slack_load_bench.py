"""Load through the Slack HTTP endpoint: signed Events API requests from a local load generator.

The real bot (``SlackBot`` in HTTP mode: Bolt's aiohttp server, signature checks, the
listeners, the core, SQLite) answers ``app_mention`` events posted to its endpoint, signed with
the signing secret as Slack signs them; its Web API calls go to the local fake Slack of the test
suite (``tests/slack/fake_slack.py``), which records when each answer is posted. The generator
sends a fixed number of questions, one at a time and then ``--concurrency`` at once, and stops
by itself. Reported: the acknowledgement time (Slack wants the HTTP 200 within 3 s), the time to
the answer's ``chat.postMessage``, throughput and the event loop's lag (bot and generator share
the loop, as the bot's own loop would carry both in production: the lag is the bot's).

    python scripts/slack_load_bench.py [--concurrency 50] [--questions 200] [--out FILE]

Rate limits are off (the generator is one process asking for many people).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "slack")]

from fake_slack import (  # noqa: E402
    _API_HANDLERS,
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    FakeSlack,
    app_mention_event,
    event_callback,
)

from bot.engine import SupportEngine  # noqa: E402
from bot.evaluation.dataset import load_questions  # noqa: E402
from bot.feedback import FeedbackStore  # noqa: E402
from bot.load_bench import LoopLag, latency_ratio, percentile  # noqa: E402
from bot.platforms.slack import SlackBot  # noqa: E402
from bot.platforms.slack.runner import EVENTS_PATH  # noqa: E402
from bot.service import SupportService  # noqa: E402
from bot.settings import Settings  # noqa: E402


async def run(
    fake: FakeSlack, url: str, questions: list[str], *, concurrency: int, total: int
) -> dict[str, Any]:
    """Send ``total`` mentions from ``concurrency`` askers; their ack and answer times."""
    posted: dict[str, asyncio.Event] = {}
    original = _API_HANDLERS["chat.postMessage"]

    def post_message(self: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
        result = original(self, args)
        event = posted.get(str(args.get("thread_ts")))
        if event is not None and result.get("ok"):
            event.set()
        return result

    _API_HANDLERS["chat.postMessage"] = post_message
    source = itertools.islice(itertools.cycle(questions), total)
    acks: list[float] = []
    answers: list[float] = []
    failures = 0

    async def asker(n: int) -> None:
        nonlocal failures
        for question in source:
            message = fake.post_user_message(
                f"C{n % 5}", f"<@{BOT_USER_ID}> {question}", user=f"U{n}"
            )
            done = posted[message["ts"]] = asyncio.Event()
            body = json.dumps(event_callback(app_mention_event(message)))
            t0 = time.perf_counter()
            delivery = await fake.post_signed(url, body, "application/json")
            acks.append(delivery.seconds * 1000)
            try:
                await asyncio.wait_for(done.wait(), 60)
            except TimeoutError:
                failures += 1
                continue
            answers.append((time.perf_counter() - t0) * 1000)
            failures += delivery.status != 200

    try:
        async with LoopLag() as lag:
            started = time.perf_counter()
            await asyncio.gather(*(asker(n) for n in range(concurrency)))
            seconds = time.perf_counter() - started
    finally:
        _API_HANDLERS["chat.postMessage"] = original
    return {
        "concurrency": concurrency,
        "questions": total,
        "answered": len(answers),
        "failures": failures,
        "seconds": round(seconds, 2),
        "throughput_qps": round(len(answers) / seconds, 2),
        "ack_p50_ms": percentile(acks, 50),
        "ack_p99_ms": percentile(acks, 99),
        "ack_max_ms": round(max(acks, default=0.0), 1),
        "answer_p50_ms": percentile(answers, 50),
        "answer_p95_ms": percentile(answers, 95),
        "answer_p99_ms": percentile(answers, 99),
        "loop_lag_p99_ms": lag.p99_ms,
        "loop_lag_max_ms": lag.max_ms,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    questions = [q.question for q in load_questions(args.qa)]
    with tempfile.TemporaryDirectory(prefix="supportbot-slack-load-") as tmp:
        fake = FakeSlack()
        await fake.start()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            collection="slackload",
            slack_mode="http",
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_app_token=SecretStr(APP_TOKEN),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_http_host="127.0.0.1",
            slack_http_port=0,
            slack_api_url=fake.api_url,
            slack_default_audience="public",
            rate_limit_user="",
            rate_limit_channel="",
            health_port=0,
        )
        engine = SupportEngine.from_settings(settings)
        await asyncio.to_thread(engine.kb.ingest, [args.docs], audience="public", progress=False)
        store = FeedbackStore(f"sqlite:///{Path(tmp) / 'feedback.db'}")
        bot = SlackBot(settings, SupportService(engine, store))
        await bot.start()
        url = f"http://127.0.0.1:{bot.http_port}{EVENTS_PATH}"
        try:
            await run(fake, url, questions, concurrency=4, total=20)  # warm-up
            single = await run(fake, url, questions, concurrency=1, total=args.questions)
            many = await run(
                fake, url, questions, concurrency=args.concurrency, total=args.questions
            )
        finally:
            await bot.stop()
            store.close()
            engine.close()
            await fake.close()
    return {
        "single": single,
        "concurrent": many,
        "speedup": round(many["throughput_qps"] / single["throughput_qps"], 2),
        "p95_over_single_p50": latency_ratio(many["answer_p95_ms"], single["answer_p50_ms"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=REPO / "samples" / "contoso")
    parser.add_argument(
        "--qa",
        type=Path,
        default=REPO.parent / "shared" / "data" / "contoso_hr_benefits" / "qa.jsonl",
    )
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    figures = asyncio.run(bench(args))
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
