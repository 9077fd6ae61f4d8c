"""``supportbot review --demo``: a console full of realistic data for a newcomer, all simulated.

Into a separate folder (``data_dir/review-demo``: its own index and its own feedback
database, never the real one) the sample knowledge base is ingested, its labelled questions
(answerable and don't-know) are answered by the real engine, and each answer gets one
*simulated* vote from the gold labels: 👍 when an answerable question's answer cites a gold
page, or when a don't-know question is refused; 👎 otherwise. Answers are spread over the last
14 days so the trend has a shape. The console shows a "simulated data" banner.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import track

from bot.evaluation.dataset import EvalQuestion, load_questions, source_matches
from bot.feedback import FeedbackStore
from bot.settings import Settings

DEMO_DAYS = 14


def demo_dir(settings: Settings) -> Path:
    """Where the demo's index and database live."""
    return settings.data_dir / "review-demo"


def demo_database_url(settings: Settings) -> str:
    """The demo's own SQLite database."""
    return f"sqlite:///{(demo_dir(settings) / 'demo-feedback.db').resolve()}"


def simulated_vote(question: EvalQuestion, cited: list[str], abstained: bool) -> int:
    """+1 or -1 from the gold labels (see the module docstring)."""
    if not question.answerable:
        return 1 if abstained else -1
    hit = any(source_matches(c, g) for c in cited for g in question.gold)
    return 1 if hit and not abstained else -1


async def build_demo(
    settings: Settings, docs: Path, qa: list[Path], *, console: Console | None = None
) -> int:
    """Fill the demo folder (once; later calls reuse it) → the number of answers stored.

    Args:
        docs: the sample knowledge base.
        qa: question files; a file whose name contains ``dontknow`` holds unanswerable ones.
    """
    from bot.engine import SupportEngine

    store = FeedbackStore(demo_database_url(settings))
    try:
        existing = await store.answers(limit=1)
        if existing:
            return len(await store.answers())
        questions: list[EvalQuestion] = []
        for path in qa:
            unanswerable = "dontknow" in path.name.lower()
            questions += load_questions(path, answerable=False if unanswerable else None)
        demo_settings = settings.model_copy(
            update={"data_dir": demo_dir(settings), "qdrant_url": None, "generator": "extractive"}
        )
        engine = await asyncio.to_thread(SupportEngine.from_settings, demo_settings)
        try:
            ingested = await asyncio.to_thread(
                engine.kb.ingest, [docs], audience="internal", console=console
            )
            await store.record_inventory(ingested)
            rng = random.Random(13)
            now = datetime.now(UTC)
            for n, q in enumerate(
                track(questions, description="Answering the labelled questions", console=console)
            ):
                answer = await engine.answer(q.question, audience="internal")
                when = now - timedelta(seconds=rng.uniform(0, DEMO_DAYS * 86400))
                answer_id = await store.record_answer(
                    answer,
                    platform="demo",
                    channel_id="demo",
                    user_id=f"asker-{n % 40}",
                    created_at=when,
                )
                cited = [c.source_id for c in answer.citations]
                vote = simulated_vote(q, cited, answer.abstained)
                await store.vote(answer_id, f"simulated-{n}", vote, source="simulated")
        finally:
            await engine.aclose()
        return len(questions)
    finally:
        store.close()
