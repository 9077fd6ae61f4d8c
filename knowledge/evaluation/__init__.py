"""Offline evaluation of retrieval and answers: labelled questions, metrics, gates and reports.

Everything here is pure Python with no model and no network: the harness runner retrieves and
answers, then hands :class:`~knowledge.evaluation.metrics.QuestionResult` objects to
:func:`~knowledge.evaluation.metrics.summarize`, checks them with
:func:`~knowledge.evaluation.gates.check_gates` and writes reports with
:mod:`knowledge.evaluation.report`.
"""

from knowledge.evaluation.dataset import (
    EvalQuestion,
    load_questions,
    normalize_source_id,
    source_matches,
)
from knowledge.evaluation.gates import Gate, check_gates, parse_gate
from knowledge.evaluation.metrics import QuestionResult, summarize

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
