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

from knowledge.evaluation.dataset import source_matches
from knowledge.evaluation.metrics import QuestionResult, gold_rank, reciprocal_rank_at_k

# (summary key, column header) of the main metrics, in table order.
MAIN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("hit@1", "hit@1"),
    ("hit@5", "hit@5"),
    ("mrr@10", "MRR@10"),
    ("ndcg@10", "nDCG@10"),
    ("recall@5", "recall@5"),
    ("citation_hit", "cit. hit"),
    ("f1", "F1"),
    ("rouge_l", "ROUGE-L"),
    ("abstention_recall", "abst. recall"),
    ("answerable_abstain_rate", "ans. abstain"),
    ("total_p50_ms", "p50 ms"),
    ("total_p95_ms", "p95 ms"),
)
# Quality metrics (all in [0, 1]) drawn in the bar chart.
CHART_METRICS: tuple[str, ...] = tuple(k for k, _ in MAIN_COLUMNS if not k.endswith("_ms"))
LOWER_IS_BETTER = frozenset({"answerable_abstain_rate"})
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
    """

    dataset_name: str
    dataset_path: str
    docs_path: str
    created: str
    ingest_seconds: float
    n_chunks: int
    threshold: float | None
    configs: list[ConfigRun] = field(default_factory=list)

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
        )


def format_metric(key: str, value: float | None) -> str:
    """``"–"`` for ``None`` or NaN, ``"812"`` for ``*_ms`` and ``n_*`` keys, else ``"0.872"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if key.endswith("_ms") or key.startswith("n_"):
        return f"{value:.0f}"
    return f"{value:.3f}"


# --------------------------------------------------------------------------------------------
# Console table and JSON
# --------------------------------------------------------------------------------------------


def render_table(run: EvalRun, console: Console) -> Table:
    """Print the main metrics as a Rich table, one row per configuration, and return it.

    Columns are :data:`MAIN_COLUMNS` (latencies are the ``total`` p50/p95 in ms); ``–`` marks a
    metric with no value.
    """
    n = int(run.configs[0].metrics.get("n_questions") or 0) if run.configs else 0
    threshold = MISSING if run.threshold is None else f"{run.threshold:g}"
    table = Table(
        title=escape(f"{run.dataset_name}: {n} questions, abstention threshold {threshold}")
    )
    table.add_column("config", style="bold")
    for _, header in MAIN_COLUMNS:
        table.add_column(header, justify="right")
    for c in run.configs:
        table.add_row(
            escape(c.name), *(format_metric(k, c.metrics.get(k)) for k, _ in MAIN_COLUMNS)
        )
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


def write_json(run: EvalRun, path: Path) -> None:
    """Write the whole run (metrics and per-question results) as indented UTF-8 JSON.

    Parent folders are created. Read it back with :func:`read_json`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")


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
    configs = [c for c in run.configs if any(r.support_score is not None for r in c.results)]
    if not configs:
        return None
    fig = Figure(figsize=(5 * len(configs), 3.5), layout="constrained")
    axes = fig.subplots(1, len(configs), squeeze=False)[0]
    for ax, c in zip(axes, configs, strict=True):
        scored = [(r.answerable, s) for r in c.results if (s := r.support_score) is not None]
        extra = [run.threshold] if run.threshold is not None else []
        # shared bins, so that the two histograms line up
        edges = np.histogram_bin_edges([s for _, s in scored] + extra, bins=20)
        for answerable, label in ((True, "answerable"), (False, "unanswerable")):
            values = [s for a, s in scored if a is answerable]
            if values:
                ax.hist(values, bins=edges, alpha=0.6, label=f"{label} ({len(values)})")
        if run.threshold is not None:
            ax.axvline(
                run.threshold, color="black", linestyle="--", label=f"threshold {run.threshold:g}"
            )
        ax.set_title(c.name)
        ax.set_xlabel("support score")
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


def _metrics_table_html(run: EvalRun, columns: Sequence[tuple[str, str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for _, h in columns)
    rows = []
    for c in run.configs:
        cells = "".join(
            f'<td class="num">{_e(format_metric(k, c.metrics.get(k)))}</td>' for k, _ in columns
        )
        rows.append(f'<tr><td title="{_e(c.description)}">{_e(c.name)}</td>{cells}</tr>')
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


def write_html(run: EvalRun, path: Path) -> None:
    """Write the run as one self-contained HTML page (parent folders are created).

    Sections: run metadata; the main-metrics table (all metrics under a fold); a bar chart of
    the main metrics per configuration; the gold-rank distribution per configuration (ranks
    1..10 and "not found"); histograms of ``support_score`` for answerable vs unanswerable
    questions with the abstention threshold as a dashed line (per configuration that has
    scores); and the :data:`WORST_N` worst questions of the first configuration with their gold
    ids and the top 5 retrieved ids (gold hits in green). All text is HTML-escaped.
    """
    all_keys = list(dict.fromkeys(k for c in run.configs for k in c.metrics))
    support = _support_chart(run)
    primary = run.configs[0] if run.configs else None
    threshold = MISSING if run.threshold is None else f"{run.threshold:g}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evaluation: {_e(run.dataset_name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Evaluation: {_e(run.dataset_name)}</h1>",
        f'<p class="meta">questions <code>{_e(run.dataset_path)}</code> · documents '
        f"<code>{_e(run.docs_path)}</code> · {_e(run.created)} · ingest "
        f"{run.ingest_seconds:.1f} s, {run.n_chunks} chunks · abstention threshold "
        f"{_e(threshold)}</p>",
        "<h2>Metrics</h2>",
        "<ul>"
        + "".join(f"<li><b>{_e(c.name)}</b>: {_e(c.description)}</li>" for c in run.configs)
        + "</ul>",
        _metrics_table_html(run, MAIN_COLUMNS),
        "<details><summary>All metrics</summary>",
        _metrics_table_html(run, [(k, k) for k in all_keys]),
        "</details>",
    ]
    if run.configs:
        parts += [
            "<h2>Main metrics</h2>",
            _metrics_chart(run),
            "<h2>Gold source rank</h2>",
            _rank_chart(run),
        ]
    parts += [
        "<h2>Support score</h2>",
        support if support else "<p>No support scores were recorded.</p>",
    ]
    if primary is not None:
        parts += [f"<h2>Worst questions ({_e(primary.name)})</h2>", _worst_html(primary)]
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
