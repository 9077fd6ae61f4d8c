"""Reports of an evaluation run: a Rich table, a JSON file and one self-contained HTML page.

The HTML page embeds its plots as base64 PNG (matplotlib, Agg canvas, no pyplot state) and has
no external CSS or JavaScript, so it can be attached to a CI run or mailed as is.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from bot.evaluation.dataset import source_matches
from bot.evaluation.metrics import (
    MetricDef,
    QuestionResult,
    gold_rank,
    macro_average,
    metric_def,
    reciprocal_rank_at_k,
)
from knowledge.calibration import MARGIN, UNKNOWN_MARGIN

MAIN_METRICS: tuple[str, ...] = (
    "hit@1",
    "hit@5",
    "mrr@10",
    "ndcg@10",
    "recall@5",
    "citation_hit",
    "f1",
    "rouge_l",
    "abstention_recall",
    "answerable_abstain_rate",
    "total_p50_ms",
    "total_p95_ms",
)


def _def(key: str) -> MetricDef:
    d = metric_def(key)
    return d if d is not None else MetricDef(key, key)


# (summary key, column header) of the main metrics, in table order, from the metric definitions.
MAIN_COLUMNS: tuple[tuple[str, str], ...] = tuple((k, _def(k).label) for k in MAIN_METRICS)
# Quality metrics (all in [0, 1]) drawn in the bar chart.
CHART_METRICS: tuple[str, ...] = tuple(k for k in MAIN_METRICS if _def(k).unit == "share")
LOWER_IS_BETTER = frozenset(k for k in MAIN_METRICS if not _def(k).higher_is_better)
RANK_DEPTH = 10
WORST_N = 20
MISSING = "–"


@dataclass
class ConfigRun:
    """One retrieval/answer configuration of a run.

    Attributes:
        name: Short name used in tables and gate messages (``dense``, ``hybrid``, ...).
        description: One line saying what it does.
        results: One result per question, in dataset order.
        metrics: ``summarize(results)``.
    """

    name: str
    description: str
    results: list[QuestionResult]
    metrics: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "description": self.description,
            "metrics": self.metrics,
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConfigRun:
        """Inverse of :meth:`to_dict`; ``KeyError`` on a missing field."""
        return cls(
            name=d["name"],
            description=d["description"],
            results=[QuestionResult.from_dict(r) for r in d["results"]],
            metrics=dict(d["metrics"]),
        )


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds, e.g. ``2025-01-31T12:00:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class EvalRun:
    """A whole evaluation run: one dataset, one ingest, several configurations.

    Attributes:
        dataset_name: Short name, e.g. ``contoso_hr_benefits``.
        dataset_path: The questions file, as given.
        docs_path: The documents folder that was ingested.
        created: ISO 8601 time of the run (see :func:`now_iso`).
        ingest_seconds: Wall time of the ingest, in seconds.
        n_chunks: Number of chunks indexed.
        threshold: The abstention threshold on ``support_score``, or ``None``.
        configs: The configurations; the first is the primary one (worst-questions list).
        unknown_term_threshold: The bar for questions with an unknown term, or ``None``.
        generator: Which generator answered (``extractive``, ``openai:MODEL``).
        calibration: The collection's abstention calibration record, if any.
    """

    dataset_name: str
    dataset_path: str
    docs_path: str
    created: str
    ingest_seconds: float
    n_chunks: int
    threshold: float | None
    configs: list[ConfigRun] = field(default_factory=list)
    unknown_term_threshold: float | None = None
    generator: str = ""
    calibration: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "dataset_name": self.dataset_name,
            "dataset_path": self.dataset_path,
            "docs_path": self.docs_path,
            "created": self.created,
            "ingest_seconds": self.ingest_seconds,
            "n_chunks": self.n_chunks,
            "threshold": self.threshold,
            "unknown_term_threshold": self.unknown_term_threshold,
            "generator": self.generator,
            "calibration": self.calibration,
            "configs": [c.to_dict() for c in self.configs],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvalRun:
        """Inverse of :meth:`to_dict`; ``KeyError`` on a missing field."""
        return cls(
            dataset_name=d["dataset_name"],
            dataset_path=d["dataset_path"],
            docs_path=d["docs_path"],
            created=d["created"],
            ingest_seconds=float(d["ingest_seconds"]),
            n_chunks=int(d["n_chunks"]),
            threshold=d["threshold"],
            configs=[ConfigRun.from_dict(c) for c in d["configs"]],
            unknown_term_threshold=d.get("unknown_term_threshold"),
            generator=str(d.get("generator", "")),
            calibration=d.get("calibration"),
        )


def format_metric(key: str, value: float | None) -> str:
    """``"–"`` for ``None`` or NaN, ``"812"`` for milliseconds and counts, else ``"0.872"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if _def(key).unit in ("ms", "count") or key.startswith("n_"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def macro_configs(runs: Sequence[EvalRun]) -> dict[str, dict[str, float | None]]:
    """Per configuration name (those every run has), the macro average of its metrics over
    the runs (:func:`bot.evaluation.metrics.macro_average`)."""
    names = [c.name for c in runs[0].configs] if runs else []
    out = {}
    for name in names:
        per = [c.metrics for r in runs for c in r.configs if c.name == name]
        if len(per) == len(runs):
            out[name] = macro_average(per)
    return out


def refusal_counts(results: Sequence[QuestionResult]) -> dict[str, tuple[int, int]]:
    """Per refusal rule, ``(answerable, unanswerable)`` questions it refused, most first."""
    counts: dict[str, list[int]] = {}
    for r in results:
        if r.abstained:
            pair = counts.setdefault(r.abstain_reason or "unknown", [0, 0])
            pair[0 if r.answerable else 1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(counts.items(), key=lambda kv: -sum(kv[1]))}


def refusal_line(run: EvalRun) -> str | None:
    """One line saying which rule refused how many questions in the primary configuration, e.g.
    ``refusals: low_support 21 (0 answerable), unknown_terms 5 (0 answerable)``."""
    if not run.configs:
        return None
    counts = refusal_counts(run.configs[0].results)
    if not counts:
        return "refusals: none"
    parts = [f"{k} {a + u} ({a} answerable)" for k, (a, u) in counts.items()]
    return "refusals: " + ", ".join(parts)


GENERATION_METRICS: tuple[str, ...] = (
    "uncited_rate",
    "partial_rate",
    "degraded_rate",
    "answered_p50_ms",
    "answered_p95_ms",
    "tokens_in_mean",
    "tokens_out_mean",
)


def generation_line(run: EvalRun) -> str | None:
    """One line on the LLM's answers in the primary configuration (``None`` when no LLM
    answered), e.g. ``generation (openai:qwen): uncited 0.000, partial 0.050, …``."""
    if not run.configs or not any(r.model for r in run.configs[0].results):
        return None
    m = run.configs[0].metrics
    parts = []
    for key in GENERATION_METRICS:
        value = m.get(key)
        if value is None:
            continue
        d = _def(key)
        shown = f"{value:.3f}" if d.unit == "share" else f"{value:.0f}"
        parts.append(f"{d.label} {shown}")
    return f"generation ({run.generator}): " + ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Console table and JSON
# --------------------------------------------------------------------------------------------


def render_table(run: EvalRun, console: Console) -> Table:
    """Print the main metrics as a Rich table, one row per configuration, and return it.

    Columns are :data:`MAIN_COLUMNS` (latencies are the ``total`` p50/p95 in ms); ``–`` marks a
    metric with no value.
    """
    n = int(run.configs[0].metrics.get("n_questions") or 0) if run.configs else 0
    threshold = MISSING if run.threshold is None else f"{run.threshold:.3f}"
    if run.unknown_term_threshold is not None:
        threshold += f" ({run.unknown_term_threshold:.3f} with an unknown term)"
    rows = [(c.name, c.metrics) for c in run.configs]
    return _print_table(
        f"{run.dataset_name}: {n} questions, abstention threshold {threshold}", rows, console
    )


def render_macro_table(runs: Sequence[EvalRun], console: Console) -> Table:
    """Print the macro average over datasets, one row per configuration, and return it."""
    names = ", ".join(r.dataset_name for r in runs)
    rows = list(macro_configs(runs).items())
    return _print_table(f"macro average over {len(runs)} datasets ({names})", rows, console)


def _print_table(
    title: str, rows: Sequence[tuple[str, Mapping[str, float | None]]], console: Console
) -> Table:
    table = Table(title=escape(title))
    table.add_column("config", style="bold")
    for _, header in MAIN_COLUMNS:
        table.add_column(header, justify="right")
    for name, metrics in rows:
        table.add_row(escape(name), *(format_metric(k, metrics.get(k)) for k, _ in MAIN_COLUMNS))
    # Off a terminal (CI logs, a file) Rich assumes 80 columns and would truncate every header
    # and number; print at the table's natural width there instead.
    if console.is_terminal:
        console.print(table)
    else:
        natural = Measurement.get(console, console.options.update_width(1000), table).maximum
        width = console.width
        console.width = max(width, natural)
        try:
            console.print(table)
        finally:
            console.width = width
    return table


def write_json(run: EvalRun | Sequence[EvalRun], path: Path) -> None:
    """Write the whole run (metrics and per-question results) as indented UTF-8 JSON.

    Several runs (one per dataset) are written as ``{"datasets": [run, ...], "macro":
    {config: metrics}}``. Parent folders are created. Read it back with :func:`read_json` or
    :func:`read_runs`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(run, EvalRun):
        data: dict[str, Any] = run.to_dict()
    else:
        data = {"datasets": [r.to_dict() for r in run], "macro": macro_configs(run)}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def read_runs(path: Path) -> list[EvalRun]:
    """Every run in a file written by :func:`write_json` (one, or one per dataset)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if "datasets" in data:
        return [EvalRun.from_dict(d) for d in data["datasets"]]
    return [EvalRun.from_dict(data)]


def read_json(path: Path) -> EvalRun:
    """Load a run written by :func:`write_json`.

    Raises:
        KeyError: If a field is missing; ``json.JSONDecodeError`` if it is not JSON.
    """
    return EvalRun.from_dict(json.loads(path.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def _png(fig: Figure) -> str:
    """The figure as an ``<img>`` tag with a base64 PNG data URI."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="plot">'


def _grouped_bars(
    ax: Any, labels: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str
) -> None:
    """Bars for each label, one coloured bar per series (configuration) side by side."""
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")


def _metrics_chart(run: EvalRun) -> str:
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    series = {
        c.name: [np.nan if (v := c.metrics.get(k)) is None else v for k in CHART_METRICS]
        for c in run.configs
    }
    headers = dict(MAIN_COLUMNS)
    labels = [headers[k] + (" ↓" if k in LOWER_IS_BETTER else "") for k in CHART_METRICS]
    _grouped_bars(ax, labels, series, "score")
    ax.set_ylim(0, 1.05)
    ax.set_title("Main metrics per configuration (↓ = lower is better)")
    return _png(fig)


def rank_histogram(results: Sequence[QuestionResult], depth: int = RANK_DEPTH) -> list[int]:
    """Counts of the gold rank over answerable questions with gold: ``[rank 1, ..., rank depth,
    not found]`` (length ``depth + 1``; "not found" includes ranks beyond ``depth``)."""
    counts = [0] * (depth + 1)
    for r in results:
        if r.answerable and r.gold:
            rank = gold_rank(r.ranked, r.gold)
            counts[rank - 1 if rank is not None and rank <= depth else depth] += 1
    return counts


def _rank_chart(run: EvalRun) -> str:
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    labels = [str(i) for i in range(1, RANK_DEPTH + 1)] + ["not found"]
    _grouped_bars(ax, labels, {c.name: rank_histogram(c.results) for c in run.configs}, "questions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"rank of the first gold source (not found = not in top {RANK_DEPTH})")
    ax.set_title("Where the gold source ranks")
    return _png(fig)


def _support_chart(run: EvalRun) -> str | None:
    """Histograms of the support score per configuration that has one: answered and refused
    questions apart, answerable and don't-know apart, with the abstention bars as lines."""
    configs = [c for c in run.configs if any(r.support_score is not None for r in c.results)]
    if not configs:
        return None
    fig = Figure(figsize=(6 * len(configs), 3.8), layout="constrained")
    axes = fig.subplots(1, len(configs), squeeze=False)[0]
    bars = [(run.threshold, "threshold", "--")]
    if run.unknown_term_threshold is not None:
        bars.append((run.unknown_term_threshold, "with an unknown term", ":"))
    for ax, c in zip(axes, configs, strict=True):
        scored = [(r, s) for r in c.results if (s := r.support_score) is not None]
        extra = [b for b, _, _ in bars if b is not None]
        # shared bins, so that the histograms line up
        edges = np.histogram_bin_edges([s for _, s in scored] + extra, bins=24)
        groups = (
            (True, False, "answerable, answered"),
            (True, True, "answerable, refused"),
            (False, False, "don't-know, answered"),
            (False, True, "don't-know, refused"),
        )
        for answerable, refused, label in groups:
            values = [
                s for r, s in scored if r.answerable is answerable and bool(r.abstained) is refused
            ]
            if values:
                ax.hist(values, bins=edges, alpha=0.55, label=f"{label} ({len(values)})")
        for value, label, style in bars:
            if value is not None:
                ax.axvline(value, color="black", linestyle=style, label=f"{label} {value:.3f}")
        ax.set_title(c.name)
        ax.set_xlabel("support score (best question-sentence cosine)")
        ax.set_ylabel("questions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    return _png(fig)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.hit { color: #1a7f37; font-weight: bold; }
.meta { color: #555; }
img { max-width: 100%; }
code { font-size: 0.9em; }
"""


def worst_questions(results: Sequence[QuestionResult], n: int = WORST_N) -> list[QuestionResult]:
    """Up to ``n`` answerable questions with gold whose gold source ranks worst.

    Only questions without the gold at rank 1 are listed. Order: lowest reciprocal rank@10
    first; among equal ones, gold not retrieved at all first, then the deeper rank; then dataset
    order.
    """
    scored = []
    for i, r in enumerate(results):
        if not (r.answerable and r.gold):
            continue
        rr = reciprocal_rank_at_k(r.ranked, r.gold, RANK_DEPTH)
        if rr < 1.0:
            rank = gold_rank(r.ranked, r.gold)
            scored.append(((rr, rank is not None, -(rank or 0), i), r))
    scored.sort(key=lambda t: t[0])
    return [r for _, r in scored[:n]]


def _e(text: object) -> str:
    return html.escape(str(text))


def _metrics_table_html(
    rows_in: Sequence[tuple[str, str, Mapping[str, float | None]]],
    columns: Sequence[tuple[str, str]] = MAIN_COLUMNS,
) -> str:
    """A table of ``(name, description, metrics)`` rows."""
    head = "".join(f"<th>{_e(h)}</th>" for _, h in columns)
    rows = []
    for name, description, metrics in rows_in:
        cells = "".join(
            f'<td class="num">{_e(format_metric(k, metrics.get(k)))}</td>' for k, _ in columns
        )
        rows.append(f'<tr><td title="{_e(description)}">{_e(name)}</td>{cells}</tr>')
    return f"<table><tr><th>config</th>{head}</tr>{''.join(rows)}</table>"


def _worst_html(c: ConfigRun) -> str:
    worst = worst_questions(c.results)
    if not worst:
        return "<p>Every question had its gold source at rank 1.</p>"
    rows = []
    for i, r in enumerate(worst, start=1):
        rank = gold_rank(r.ranked, r.gold)
        retrieved = (
            "<br>".join(
                f'<code class="hit">{_e(s)}</code>'
                if any(source_matches(s, g) for g in r.gold)
                else f"<code>{_e(s)}</code>"
                for s in r.ranked[:5]
            )
            or MISSING
        )
        gold = "<br>".join(f"<code>{_e(g)}</code>" for g in r.gold)
        rows.append(
            f'<tr><td class="num">{i}</td><td>{_e(r.question)}</td><td>{gold}</td>'
            f'<td class="num">{_e(rank if rank is not None else "not found")}</td>'
            f"<td>{retrieved}</td></tr>"
        )
    return (
        "<table><tr><th>#</th><th>question</th><th>gold</th><th>gold rank</th>"
        f"<th>retrieved instead (top 5)</th></tr>{''.join(rows)}</table>"
    )


TRADEOFF_MARGINS: tuple[float, ...] = tuple(round(0.125 * i, 3) for i in range(-8, 17))


def abstention_tradeoff(
    run: EvalRun, margins: Sequence[float] = TRADEOFF_MARGINS
) -> list[tuple[float, float | None, float | None]]:
    """What the calibrated rule would refuse at other margins, from the run's per-question
    support scores: ``(margin, answerable refused share, don't-know refused share)`` per margin,
    with the bars ``hi + margin·spread`` and, for questions with an unknown term,
    ``hi + (margin + 1)·spread`` (the default margin is :data:`knowledge.calibration.MARGIN`,
    0.25). Empty without a calibration or a primary configuration."""
    cal = run.calibration
    if not cal or not run.configs:
        return []
    hi, spread = float(cal["null_high"]), float(cal["null_high"]) - float(cal["null_median"])
    step = UNKNOWN_MARGIN - MARGIN  # the unknown-term bar stays this many spreads higher
    scored = [r for r in run.configs[0].results if r.support_score is not None]
    out = []
    for m in margins:
        refused = [
            (
                r.answerable,
                float(r.support_score or 0.0) < hi + (m + step * bool(r.unknown_terms)) * spread,
            )
            for r in scored
        ]
        ans = [x for a, x in refused if a]
        dk = [x for a, x in refused if not a]
        out.append((m, sum(ans) / len(ans) if ans else None, sum(dk) / len(dk) if dk else None))
    return out


def _tradeoff_chart(run: EvalRun) -> str | None:
    curve = abstention_tradeoff(run)
    if not curve:
        return None
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    xs = [m for m, _, _ in curve]
    for idx, label in ((1, "answerable refused (false refusals)"), (2, "don't-know refused")):
        ys = [np.nan if (v := point[idx]) is None else v for point in curve]
        if not all(np.isnan(ys)):
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.axvline(MARGIN, color="black", linestyle="--", label=f"default margin {MARGIN:g}")
    ax.set_xlabel("margin over the off-topic 95th percentile, in null spreads")
    ax.set_ylabel("share of questions")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Abstention trade-off (calibrated bars moved together)")
    ax.legend(fontsize="small")
    return _png(fig)


def _refusals_html(run: EvalRun) -> str:
    """Which rule refused how many questions, and the answerable questions refused."""
    if not run.configs:
        return ""
    results = run.configs[0].results
    counts = refusal_counts(results)
    if not counts:
        return "<p>No question was refused.</p>"
    rows = "".join(
        f'<tr><td><code>{_e(k)}</code></td><td class="num">{a}</td><td class="num">{u}</td></tr>'
        for k, (a, u) in counts.items()
    )
    parts = [
        "<table><tr><th>rule</th><th>answerable refused</th><th>don't-know refused</th></tr>"
        f"{rows}</table>"
    ]
    wrong = [r for r in results if r.answerable and r.abstained]
    if wrong:
        items = "".join(
            f"<tr><td>{_e(r.question)}</td><td><code>{_e(r.abstain_reason or '')}</code></td>"
            f'<td class="num">{_e(format_metric("s", r.support_score))}</td></tr>'
            for r in wrong
        )
        parts.append(
            "<h3>Answerable questions refused</h3><table><tr><th>question</th><th>rule</th>"
            f"<th>support</th></tr>{items}</table>"
        )
    return "".join(parts)


def _run_sections(run: EvalRun, level: int = 2) -> list[str]:
    h, h3 = f"h{level}", f"h{level + 1}"
    all_keys = list(dict.fromkeys(k for c in run.configs for k in c.metrics))
    support = _support_chart(run)
    primary = run.configs[0] if run.configs else None
    threshold = MISSING if run.threshold is None else f"{run.threshold:.3f}"
    if run.unknown_term_threshold is not None:
        threshold += f" ({run.unknown_term_threshold:.3f} with an unknown term)"
    parts = [
        f'<p class="meta">questions <code>{_e(run.dataset_path)}</code> · documents '
        f"<code>{_e(run.docs_path)}</code> · {_e(run.created)} · ingest "
        f"{run.ingest_seconds:.1f} s, {run.n_chunks} chunks · generator "
        f"<code>{_e(run.generator or MISSING)}</code> · abstention threshold "
        f"{_e(threshold)}</p>",
        f"<{h3}>Metrics</{h3}>",
        "<ul>"
        + "".join(f"<li><b>{_e(c.name)}</b>: {_e(c.description)}</li>" for c in run.configs)
        + "</ul>",
        _metrics_table_html([(c.name, c.description, c.metrics) for c in run.configs]),
        "<details><summary>All metrics</summary>",
        _metrics_table_html(
            [(c.name, c.description, c.metrics) for c in run.configs], [(k, k) for k in all_keys]
        ),
        "</details>",
    ]
    if run.configs:
        parts += [
            f"<{h3}>Main metrics</{h3}>",
            _metrics_chart(run),
            f"<{h3}>Gold source rank</{h3}>",
            _rank_chart(run),
        ]
    parts += [
        f"<{h3}>Support score</{h3}>",
        support if support else "<p>No support scores were recorded.</p>",
        f"<{h3}>Refusals by rule</{h3}>",
        _refusals_html(run),
    ]
    tradeoff = _tradeoff_chart(run)
    if tradeoff:
        parts += [f"<{h3}>Abstention trade-off</{h3}>", tradeoff]
    if primary is not None:
        parts += [f"<{h3}>Worst questions ({_e(primary.name)})</{h3}>", _worst_html(primary)]
    del h
    return parts


def write_html(run: EvalRun | Sequence[EvalRun], path: Path) -> None:
    """Write the run as one self-contained HTML page (parent folders are created).

    Sections per dataset: run metadata; the main-metrics table (all metrics under a fold); a bar
    chart of the main metrics per configuration; the gold-rank distribution per configuration
    (ranks 1..10 and "not found"); histograms of ``support_score`` for answered and refused,
    answerable and don't-know questions with the abstention bars as lines; the refusals by rule,
    with every answerable question refused; and the :data:`WORST_N` worst questions of the first
    configuration with their gold ids and the top 5 retrieved ids (gold hits in green). Several
    runs (one per dataset) get a macro-average table first. All text is HTML-escaped.
    """
    runs = [run] if isinstance(run, EvalRun) else list(run)
    title = ", ".join(r.dataset_name for r in runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evaluation: {_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Evaluation: {_e(title)}</h1>",
    ]
    if len(runs) == 1:
        parts += _run_sections(runs[0], level=1)
    else:
        macro = macro_configs(runs)
        parts += [
            f"<h2>Macro average over {len(runs)} datasets</h2>",
            "<p>Each dataset counts once, whatever its size.</p>",
            _metrics_table_html([(name, "", m) for name, m in macro.items()]),
        ]
        for r in runs:
            parts += [f"<h2>{_e(r.dataset_name)}</h2>", *_run_sections(r, level=2)]
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
