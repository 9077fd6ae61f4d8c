"""Offline evaluation of retrieval and answers: labelled questions, metrics, gates and reports.

Everything here is pure Python with no model and no network: the harness runner retrieves and
answers, then hands :class:`~bot.evaluation.metrics.QuestionResult` objects to
:func:`~bot.evaluation.metrics.summarize`, checks them with
:func:`~bot.evaluation.gates.check_gates` and writes reports with
:mod:`bot.evaluation.report`.
"""

from bot.evaluation.dataset import (
    EvalQuestion,
    load_questions,
    normalize_source_id,
    source_matches,
)
from bot.evaluation.gates import Gate, check_gates, parse_gate
from bot.evaluation.metrics import QuestionResult, summarize

__all__ = [
    "EvalQuestion",
    "Gate",
    "QuestionResult",
    "check_gates",
    "load_questions",
    "normalize_source_id",
    "parse_gate",
    "source_matches",
    "summarize",
]
