"""Parsing and checking quality gates."""

from __future__ import annotations

import pytest

from knowledge.evaluation.gates import Gate, check_gates, parse_gate


def test_parse_gate() -> None:
    assert parse_gate("hit@5=0.9") == Gate("hit@5", 0.9)
    gate = parse_gate(" total_p95_ms = 800 ")
    assert gate == Gate("total_p95_ms", 800.0)
    assert gate.is_upper_bound
    assert not parse_gate("mrr@10=0.5").is_upper_bound


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("hit@5", "not of the form metric=value"),
        ("=0.9", "not of the form metric=value"),
        ("hit@5=", "not of the form metric=value"),
        ("hit@5=abc", "'abc' is not a number"),
        ("hit@5=nan", "must be finite"),
    ],
)
def test_parse_gate_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_gate(spec)


def test_parse_gate_with_known_names_lists_them() -> None:
    assert parse_gate("hit@5=0.9", known=["hit@5"]) == Gate("hit@5", 0.9)
    with pytest.raises(ValueError, match=r"unknown metric 'hit@50'.*valid: hit@5, mrr@10"):
        parse_gate("hit@50=0.9", known=["hit@5", "mrr@10"])


def test_check_gates_failures() -> None:
    metrics = {"hit@5": 0.872, "mrr@10": 0.7, "total_p95_ms": 912.0, "abstention_recall": None}
    gates = [
        parse_gate("hit@5=0.9"),
        parse_gate("mrr@10=0.7"),  # equal passes
        parse_gate("total_p95_ms=800"),
        parse_gate("abstention_recall=0.5"),
        parse_gate("hit@50=0.1"),
    ]
    assert check_gates(metrics, gates, config="hybrid") == [
        "FAIL hit@5 = 0.872 < 0.900 (config: hybrid)",
        "FAIL total_p95_ms = 912.0 > 800.0 (config: hybrid)",
        "FAIL abstention_recall: no value (no question qualified) (config: hybrid)",
        "FAIL hit@50: unknown metric "
        "(valid: hit@5, mrr@10, total_p95_ms, abstention_recall) (config: hybrid)",
    ]


def test_check_gates_passing_and_no_config() -> None:
    metrics = {"hit@5": 0.95, "total_p95_ms": 640.0}
    assert check_gates(metrics, [parse_gate("hit@5=0.9"), parse_gate("total_p95_ms=800")]) == []
    assert check_gates(metrics, [parse_gate("total_p95_ms=600")]) == [
        "FAIL total_p95_ms = 640.0 > 600.0"
    ]
    assert check_gates(metrics, []) == []


def test_a_near_miss_shows_enough_decimals_to_see_it() -> None:
    # MRR 0.79988 against a gate of 0.8 must not read "0.800 < 0.800".
    metrics = {"mrr@10": 0.7998756, "total_p95_ms": 800.04}
    gates = [parse_gate("mrr@10=0.8"), parse_gate("total_p95_ms=800")]
    assert check_gates(metrics, gates) == [
        "FAIL mrr@10 = 0.7999 < 0.8000",
        "FAIL total_p95_ms = 800.04 > 800.00",
    ]
