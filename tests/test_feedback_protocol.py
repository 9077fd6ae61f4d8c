"""A small run of the feedback protocol (bot.evaluation.feedback_protocol) on the office
documents: the split, simulated votes and corrections, the test half before and after, and
repeats served from the answer memory. The full protocol is scripts/feedback_protocol.py."""

from __future__ import annotations

from bot.evaluation.dataset import EvalQuestion
from bot.evaluation.feedback_protocol import METRICS, run_set
from tests.conftest import TESTS

QUESTIONS = [
    ("How many days of paid annual leave do full-time employees get?", "leave.md"),
    ("How far in advance must leave requests go to my manager?", "leave.md"),
    ("What discount do employees get in the staff canteen?", "lunch.md"),
    ("When is the canteen open?", "lunch.md"),
    ("Where can employees park their cars?", "parking.md"),
    ("Where do visitors park?", "parking.md"),
    ("What should I do if I lose my access badge?", "security.md"),
    ("Where is the fire assembly point?", "security.md"),
    ("How often are laptops replaced?", "laptops.md"),
    ("Whom do I tell about a stolen laptop?", "laptops.md"),
]


async def test_a_small_feedback_protocol_run() -> None:
    questions = [EvalQuestion(q, None, (gold,), True) for q, gold in QUESTIONS]
    r = await run_set(
        "office",
        TESTS / "data" / "office",
        questions,
        seed=3,
        boosts=(0.0, 0.5),
        bootstrap=200,
        progress=False,
    )
    assert (r.feedback, r.test) == (5, 5)
    assert r.up + r.down == 5 and r.verified >= r.up  # every 👍 answer verified (one vote)
    assert set(r.test_after) == {"0", "0.5"}
    for strength, figures in r.test_after.items():
        for m in METRICS:
            assert 0.0 <= figures[m] <= 1.0 and 0.0 <= r.test_before[m] <= 1.0
            d, lo, hi = r.test_diff[strength][m]
            assert lo <= d <= hi
    assert r.test_served == 0  # no test question repeats a feedback one
    # Exact repeats: every verified answer comes back, citing a gold source.
    assert r.repeats_served == r.verified / r.feedback
    assert r.repeats_served_citation_hit == 1.0
