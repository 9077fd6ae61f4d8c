"""Review console benchmark: 100k answers and 30k votes, then the overview and the answers list.

Usage: ``.venv/bin/python scripts/review_bench.py [--answers 100000] [--votes 30000]
[--requests 30] [--db PATH | --url DATABASE_URL]``

Fills a fresh SQLite feedback database (``--db``, default a temporary file; or an empty
database at ``--url``, e.g. PostgreSQL) with synthetic
answers spread over 90 days (platforms, channels, audiences, abstentions, degraded answers,
latencies) and votes, then times full page renders through the ASGI app (login included, as a
browser would): the overview (last 30 days, and all time), the answers list (first page, a 👎
filter, a text filter, a late page), ``--requests`` times each; reports p50/p95 in ms. Target:
p95 ≤ 300 ms for the overview and the answers list on the 2-core CI machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bot.feedback import AnswerRow, FeedbackStore, VoteRow, utc_day  # noqa: E402
from bot.review.app import create_app  # noqa: E402
from bot.review.auth import add_user, load_users  # noqa: E402

WORDS: tuple[str, ...] = ("leave", "parking", "plan", "dental", "vision", "claim")
WORDS += ("refund", "badge", "laptop", "payroll", "travel", "expense")


def fill(store: FeedbackStore, n_answers: int, n_votes: int, seed: int = 7) -> None:
    """Insert synthetic answers and votes in bulk (one transaction each)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    answers = []
    for _ in range(n_answers):
        abstained = rng.random() < 0.15
        created = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        answers.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "created_at": created,
                "day": utc_day(created),
                "platform": rng.choice(["slack", "discord"]),
                "channel_id": f"C{rng.randrange(40):03d}",
                "user_id": f"U{rng.randrange(5000):05d}",
                "audience": rng.choice(["public", "internal"]),
                "question": " ".join(rng.choices(WORDS, k=8)) + "?",
                "answer_text": "Answer text [1].",
                "citations": [] if abstained else [{"number": 1, "title": "Doc", "uri": "x"}],
                "retrieved": [{"chunk_id": "c", "doc_id": "d.pdf", "score": 0.5}],
                "generator": "extractive",
                "abstained": abstained,
                "degraded": rng.random() < 0.02,
                "confidence": 0.5,
                "latency_ms": rng.lognormvariate(4, 0.5),
            }
        )
    ids = [a["id"] for a in answers]
    voted = rng.sample(ids, min(n_votes, len(ids)))
    votes = [
        {
            "answer_id": a,
            "user_id": f"U{rng.randrange(5000):05d}",
            "value": 1 if rng.random() < 0.7 else -1,
            "source": "button",
            "created_at": now,
            "updated_at": now,
        }
        for a in voted
    ]

    def work(s: object) -> None:
        s.execute(insert(AnswerRow), answers)  # type: ignore[attr-defined]
        s.execute(insert(VoteRow), votes)  # type: ignore[attr-defined]

    import asyncio

    asyncio.run(store.read(work))
    asyncio.run(store.recount_votes())  # the answers' 👍/👎 totals, as votes cast one by one set


def timed(client: TestClient, path: str, n: int) -> tuple[float, float]:
    """p50 and p95 (ms, nearest rank) of ``n`` GETs of ``path``."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200, (path, r.status_code)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=30_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--url", help="a database URL instead (e.g. an empty PostgreSQL one)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="supportbot-review-bench-"))
    db = args.db or tmp / "feedback.db"
    store = FeedbackStore(args.url or f"sqlite:///{db}")
    print(f"database: {store.dialect}")
    t0 = time.perf_counter()
    fill(store, args.answers, args.votes)
    print(
        f"filled {args.answers:,} answers and {args.votes:,} votes "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    add_user(tmp / "users.json", "bench", "benchmark-password")
    app = create_app(store, users=load_users(tmp / "users.json"), secret_key="bench")
    since = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d")
    with TestClient(app) as client:
        form = client.get("/login").text
        token = form.split('name="csrf" value="')[1].split('"')[0]
        client.post(
            "/login", data={"username": "bench", "password": "benchmark-password", "csrf": token}
        )
        pages = {
            "overview, last 30 days": f"/?since={since}",
            "overview, all time": "/",
            "answers, first page": "/answers",
            "answers, 👎 only": "/answers?vote=down",
            "answers, question text": "/answers?q=refund",
            "answers, page 1000": "/answers?page=1000",
        }
        print(f"{'page':28s} {'p50 ms':>8s} {'p95 ms':>8s}")
        for label, path in pages.items():
            p50, p95 = timed(client, path, args.requests)
            print(f"{label:28s} {p50:8.0f} {p95:8.0f}")
    store.close()


if __name__ == "__main__":
    main()
