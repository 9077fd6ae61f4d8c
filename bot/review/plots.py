"""The feedback trend plot, drawn once for the console (inline SVG) and the CLI (a file)."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import datetime

from bot.review.feedback_report import Overview

Point = tuple[datetime, int, int, float | None]  # period start, answered, abstained, satisfaction


def trend_points(trend: Sequence[tuple[datetime, Overview]]) -> tuple[Point, ...]:
    """What the plot shows of each period (hashable, so drawings can be cached)."""
    return tuple((d, o.answered, o.abstained, o.satisfaction) for d, o in trend)


@functools.lru_cache(maxsize=64)
def draw_trend(points: tuple[Point, ...], fmt: str = "svg") -> bytes:
    """Questions per period (bars: answered, abstained) and satisfaction (line, right axis)
    → the image in ``fmt`` (``svg`` or ``png``). matplotlib takes ~0.3 s, so the same points
    are drawn once (cached)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    days = [float(mdates.date2num(p[0])) for p in points]
    fig, ax = plt.subplots(figsize=(8, 3))
    answered = [p[1] for p in points]
    ax.bar(days, answered, label="answered", color="#4c72b0")
    ax.bar(days, [p[2] for p in points], bottom=answered, label="abstained", color="#dd8452")
    ax.set_ylabel("questions")
    right = ax.twinx()
    nan = float("nan")
    satisfaction: list[float] = [nan if p[3] is None else p[3] for p in points]
    right.plot(days, satisfaction, "o-", color="#55a868", label="satisfaction")
    right.set_ylim(0, 1)
    right.set_ylabel("satisfaction (share of up-votes)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    plt.close(fig)
    return buf.getvalue()


def trend_svg(trend: Sequence[tuple[datetime, Overview]]) -> str:
    """The trend as an inline ``<svg>`` element (empty without periods)."""
    if not trend:
        return ""
    svg = draw_trend(trend_points(trend), "svg").decode("utf-8")
    return svg[svg.index("<svg") :]
