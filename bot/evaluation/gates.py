"""Quality gates: ``name=value`` thresholds checked against the output of ``summarize``.

A gate ``hit@5=0.9`` means "hit@5 must be at least 0.9". For a metric whose definition says
lower is better (:func:`bot.evaluation.metrics.metric_def`: latencies such as
``total_p95_ms=800``, and ``answerable_abstain_rate=0.03``) it means "at most". A gate whose
metric is missing from the summary, or is ``None`` there (no question qualified), fails: a gate
that cannot be checked should not pass silently. ``parse_gate`` rejects a name that is no
metric at all, so a misspelt gate fails before a run, not after it.

A gate may name a dataset of a multi-set run: ``galaxy_s10:hit@5=0.9`` checks that dataset
only, ``macro:hit@5=0.9`` the macro average; a gate without a prefix applies to every dataset.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from bot.evaluation.metrics import known_metrics, metric_def


@dataclass(frozen=True)
class Gate:
    """One threshold on one summary metric.

    Attributes:
        metric: A key produced by :func:`bot.evaluation.metrics.summarize`.
        threshold: The minimum allowed value, or the maximum for ``*_ms`` metrics.
    """

    metric: str
    threshold: float
    dataset: str | None = None

    @property
    def is_upper_bound(self) -> bool:
        """True for lower-is-better metrics (latencies, false refusals): a maximum."""
        d = metric_def(self.metric)
        return d is not None and not d.higher_is_better

    def passes(self, value: float) -> bool:
        """Whether ``value`` satisfies the gate (``>=`` threshold, or ``<=`` for ``*_ms``)."""
        return value <= self.threshold if self.is_upper_bound else value >= self.threshold


def parse_gate(
    spec: str,
    *,
    known: Collection[str] | None = None,
    datasets: Collection[str] | None = None,
) -> Gate:
    """Parse ``"[dataset:]metric=value"`` (whitespace around the parts allowed), e.g.
    ``"hit@5=0.9"`` or ``"galaxy_s10:answerable_abstain_rate=0.03"``.

    Args:
        spec: The gate as typed on the command line.
        known: The valid metric names; default every metric ``summarize`` can produce
            (:func:`bot.evaluation.metrics.known_metrics`).
        datasets: If given, the valid dataset prefixes (``macro`` is always valid).

    Raises:
        ValueError: If there is no ``=``, the name is empty, the value is not a finite number,
            the metric is not known (the message lists the valid ones), or the dataset prefix
            is not one of ``datasets``.
    """
    name, sep, raw = spec.partition("=")
    name, raw = name.strip(), raw.strip()
    dataset: str | None = None
    if ":" in name:
        dataset, _, name = (part.strip() for part in name.rpartition(":"))
        if datasets is not None and dataset not in (*datasets, "macro"):
            raise ValueError(
                f"gate {spec!r}: no dataset {dataset!r} in this run "
                f"(datasets: {', '.join([*datasets, 'macro'])})"
            )
    if not sep or not name or not raw:
        raise ValueError(f"gate {spec!r} is not of the form metric=value, e.g. hit@5=0.9")
    try:
        threshold = float(raw)
    except ValueError:
        raise ValueError(f"gate {spec!r}: {raw!r} is not a number") from None
    if not math.isfinite(threshold):
        raise ValueError(f"gate {spec!r}: threshold must be finite")
    valid = list(known) if known is not None else known_metrics()
    if name not in valid:
        raise ValueError(f"unknown metric {name!r} in gate {spec!r}; valid: {', '.join(valid)}")
    return Gate(name, threshold, dataset)


def _fmt_pair(metric: str, value: float, threshold: float) -> tuple[str, str]:
    """Value and threshold with as many decimals as it takes to tell them apart (from 1 for
    ``*_ms``, 3 otherwise, up to 8): MRR 0.79988 against a gate of 0.8 reads ``0.7999 < 0.8000``,
    not ``0.800 < 0.800``."""
    d = metric_def(metric)
    digits = 1 if d is not None and d.unit == "ms" else 3
    while digits < 8 and f"{value:.{digits}f}" == f"{threshold:.{digits}f}":
        digits += 1
    return f"{value:.{digits}f}", f"{threshold:.{digits}f}"


def check_gates(
    metrics: Mapping[str, float | None], gates: Sequence[Gate], *, config: str | None = None
) -> list[str]:
    """Check gates against one configuration's summary; return one line per failed gate.

    Lines look like ``FAIL hit@5 = 0.872 < 0.900 (config: hybrid)`` or, for latency,
    ``FAIL total_p95_ms = 912.0 > 800.0 (config: hybrid)``; the ``(config: ...)`` suffix is
    left out when ``config`` is ``None``. An unknown metric gives
    ``FAIL hit@50: unknown metric (valid: ...)``; a metric with value ``None`` gives
    ``FAIL abstention_recall: no value (no question qualified)``. An empty list means all passed.
    """
    suffix = f" (config: {config})" if config is not None else ""
    failures: list[str] = []
    for gate in gates:
        if gate.metric not in metrics:
            failures.append(
                f"FAIL {gate.metric}: unknown metric (valid: {', '.join(metrics)}){suffix}"
            )
            continue
        value = metrics[gate.metric]
        if value is None:
            failures.append(f"FAIL {gate.metric}: no value (no question qualified){suffix}")
        elif not gate.passes(value):
            op = ">" if gate.is_upper_bound else "<"
            shown, bar = _fmt_pair(gate.metric, value, gate.threshold)
            failures.append(f"FAIL {gate.metric} = {shown} {op} {bar}{suffix}")
    return failures
