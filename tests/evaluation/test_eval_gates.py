"""Parsing and checking quality gates."""

from __future__ import annotations

import pytest

from bot.evaluation.gates import Gate, check_gates, parse_gate


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
        Gate("hit@50", 0.1),  # parse_gate would refuse it (see below); check_gates reports it
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


def test_a_misspelt_metric_is_refused_when_parsed() -> None:
    # Before the run, not after it: every metric summarize can produce is known by default.
    with pytest.raises(ValueError, match=r"unknown metric 'hit5'"):
        parse_gate("hit5=0.9")
    with pytest.raises(ValueError, match=r"unknown metric 'answerable_abstain'"):
        parse_gate("answerable_abstain=0.05")
    assert parse_gate("recall@10=0.9") == Gate("recall@10", 0.9)
    with pytest.raises(ValueError, match=r"unknown metric 'recall@20'"):
        parse_gate("recall@20=0.9")  # the eval reports k = 1, 3, 5, 10 only
    assert parse_gate("generate_p95_ms=50").is_upper_bound


def test_direction_comes_from_the_metric_definition() -> None:
    # answerable_abstain_rate is a false-refusal rate: lower is better, so the gate is a maximum.
    gate = parse_gate("answerable_abstain_rate=0.05")
    assert gate.is_upper_bound
    assert check_gates({"answerable_abstain_rate": 0.03}, [gate]) == []
    assert check_gates({"answerable_abstain_rate": 0.18}, [gate]) == [
        "FAIL answerable_abstain_rate = 0.180 > 0.050"
    ]
    assert not parse_gate("abstention_recall=0.5").is_upper_bound


def test_dataset_prefixes() -> None:
    assert parse_gate("galaxy_s10:hit@5=0.9", datasets=["galaxy_s10"]) == Gate(
        "hit@5", 0.9, "galaxy_s10"
    )
    assert parse_gate("macro:mrr@10=0.8", datasets=["a"]).dataset == "macro"
    with pytest.raises(ValueError, match=r"no dataset 'galaxy' in this run"):
        parse_gate("galaxy:hit@5=0.9", datasets=["galaxy_s10", "contoso"])
