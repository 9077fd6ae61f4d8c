"""Sync benchmark: re-sync cost and freshness lag in a running engine (issue: ops document sync).

Usage: ``.venv/bin/python scripts/sync_bench.py [--interval 15] [--trials 3] [--out reports]``

1. **Re-sync cost.** The sample knowledge base (``samples/contoso``) is synced into a fresh
   index (a full ingest), then synced again unchanged, then again after one PDF changed (bytes
   appended after its end; same text, new hash). Reported: seconds of each, the no-change
   re-sync as a share of the full ingest (target ≤ 5 %), and the texts embedded each time
   (target: the changed file's chunks and sentences only).
2. **Freshness lag.** The engine runs a :class:`bot.ops.SyncService` on the same folder, as
   ``supportbot serve`` does: first with a schedule of ``--interval`` seconds, then with a file
   watcher (watchfiles) and no schedule. For each trial a new Markdown file with a new fact is
   written (and later deleted); the lag is the time from the write (or delete) until
   ``engine.answer`` cites it (or no longer does), polled every 0.25 s. Targets: ≤ interval +
   10 s with the schedule, ≤ 5 s with the watcher.

Writes ``OUT/sync_bench.json`` and a plot ``OUT/sync_freshness.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from bot.engine import SupportEngine  # noqa: E402
from bot.feedback import FeedbackStore  # noqa: E402
from bot.ops import SyncService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from knowledge.sources import make_source  # noqa: E402
from knowledge.sources.config import SourceConfig  # noqa: E402

SAMPLE = REPO / "samples" / "contoso"
console = Console()


def fact(n: int) -> tuple[str, str, str]:
    """(file name, Markdown, question) of a fact no sample document has."""
    colour = ["teal", "amber", "violet", "crimson", "olive", "navy"][n % 6]
    text = (
        f"# Bike room {n}\n\nThe secure bike room number {n} is behind the {colour} door on the "
        f"ground floor of the Contoso headquarters and opens with your employee badge.\n"
    )
    return f"bike-room-{n}.md", text, f"Where is the secure bike room number {n}?"


async def cited(engine: SupportEngine, question: str, doc_id: str) -> bool:
    """Whether the engine's answer to ``question`` cites ``doc_id``."""
    answer = await engine.answer(question, audience="internal")
    return any((c.source or "").split("#")[0] == doc_id for c in answer.citations)


async def lag_until(check: Any, want: bool, timeout_s: float) -> float:
    """Seconds until ``await check()`` equals ``want`` (polled every 0.25 s)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if await check() == want:
            return time.perf_counter() - start
        await asyncio.sleep(0.25)
    raise TimeoutError(f"not fresh after {timeout_s:.0f} s")


async def freshness(
    engine: SupportEngine,
    store: FeedbackStore,
    docs: Path,
    config: SourceConfig,
    trials: int,
    first: int,
    timeout_s: float,
) -> dict[str, list[float]]:
    """Add/delete lags for ``trials`` new files with a running sync service."""
    service = SyncService(engine, store, [config])
    service.start()
    out: dict[str, list[float]] = {"add": [], "delete": []}
    try:
        await asyncio.sleep(2)  # the first scheduled run (nothing to do) and the watcher start
        for n in range(first, first + trials):
            name, text, question = fact(n)
            doc_id = f"{config.id}/{name}"
            check = functools.partial(cited, engine, question, doc_id)
            (docs / name).write_text(text)
            out["add"].append(await lag_until(check, True, timeout_s))
            (docs / name).unlink()
            out["delete"].append(await lag_until(check, False, timeout_s))
            console.print(
                f"  trial {n}: add {out['add'][-1]:.2f} s, delete {out['delete'][-1]:.2f} s"
            )
    finally:
        await service.stop()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=15.0, help="schedule, seconds")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the plot from OUT/sync_bench.json"
    )
    args = parser.parse_args()
    if args.plot_only:
        plot(
            json.loads((args.out / "sync_bench.json").read_text()), args.out / "sync_freshness.png"
        )
        return
    result: dict[str, Any] = {"interval_s": args.interval, "trials": args.trials}
    with tempfile.TemporaryDirectory(prefix="supportbot-sync-bench-") as tmp:
        docs = Path(tmp) / "kb"
        shutil.copytree(SAMPLE, docs)
        settings = Settings(data_dir=Path(tmp) / "data", qdrant_url=None, _env_file=None)  # type: ignore[call-arg]
        engine = await asyncio.to_thread(SupportEngine.from_settings, settings)
        store = FeedbackStore(f"sqlite:///{Path(tmp) / 'feedback.db'}")
        config = SourceConfig(id="contoso", kind="folder", location=str(docs), audience="internal")
        try:
            console.rule("Re-sync cost")
            full = await engine.sync([make_source(config)])
            same = await engine.sync([make_source(config)])
            smallest = min(docs.glob("*.pdf"), key=lambda p: p.stat().st_size)
            with smallest.open("ab") as fh:
                fh.write(b"\n% touched by sync_bench\n")
            one = await engine.sync([make_source(config)])
            changed_id = f"contoso/{smallest.name}"
            chunks = [c for c in engine.kb.index.all_chunks() if c.doc_id == changed_id]
            own = len(chunks) + len({s for c in chunks for s in c.sentences})
            result["resync"] = {
                "full_seconds": full.seconds,
                "full_embedded": full.embedded,
                "documents": full.documents,
                "chunks": full.chunks,
                "no_change_seconds": same.seconds,
                "no_change_embedded": same.embedded,
                "no_change_share": same.seconds / full.seconds,
                "one_change_file": smallest.name,
                "one_change_changed": one.sources[0].changed,
                "one_change_seconds": one.seconds,
                "one_change_embedded": one.embedded,
                "changed_file_texts": own,
            }
            for k, v in result["resync"].items():
                console.print(f"  {k:22s} {v:.3f}" if isinstance(v, float) else f"  {k:22s} {v}")

            console.rule(f"Freshness, schedule every {args.interval:g} s")
            scheduled = config.model_copy(update={"schedule": f"{args.interval:g}s"})
            result["scheduled"] = await freshness(
                engine, store, docs, scheduled, args.trials, 1, args.interval + 60
            )
            console.rule("Freshness, file watcher")
            watched = config.model_copy(update={"watch": True})
            result["watched"] = await freshness(engine, store, docs, watched, args.trials, 100, 60)
        finally:
            store.close()
            await engine.aclose()
    for mode in ("scheduled", "watched"):
        lags = result[mode]["add"] + result[mode]["delete"]
        result[mode]["max_s"] = max(lags)
        result[mode]["median_s"] = statistics.median(lags)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sync_bench.json").write_text(json.dumps(result, indent=2))
    plot(result, args.out / "sync_freshness.png")
    console.rule("Summary")
    r = result["resync"]
    console.print(
        f"no-change re-sync {r['no_change_seconds']:.2f} s = {100 * r['no_change_share']:.1f} % "
        f"of the full ingest ({r['full_seconds']:.1f} s); one changed file embedded "
        f"{r['one_change_embedded']} texts (that file has {r['changed_file_texts']})"
    )
    for mode, target in (("scheduled", args.interval + 10), ("watched", 5.0)):
        m = result[mode]
        console.print(
            f"{mode}: median {m['median_s']:.2f} s, max {m['max_s']:.2f} s (target ≤ {target:g} s)"
        )
    console.print(f"wrote {args.out / 'sync_bench.json'} and {args.out / 'sync_freshness.png'}")


def plot(result: dict[str, Any], path: Path) -> None:
    """Freshness lag per trial, scheduled and watched, with the targets as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=False)
    for ax, mode, target in (
        (axes[0], "scheduled", result["interval_s"] + 10),
        (axes[1], "watched", 5.0),
    ):
        data = result[mode]
        x = range(1, len(data["add"]) + 1)
        ax.plot(x, data["add"], "o-", label="file added")
        ax.plot(x, data["delete"], "s-", label="file deleted")
        ax.axhline(target, color="red", linestyle="--", label=f"target {target:g} s")
        ax.set_title(
            f"{mode}" + (f" (every {result['interval_s']:g} s)" if mode == "scheduled" else "")
        )
        ax.set_xlabel("trial")
        ax.set_xticks(list(x))
        ax.set_ylabel("lag, s")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle("Freshness: seconds from a file change until the bot answers from it")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    asyncio.run(main())
