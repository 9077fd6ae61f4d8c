"""The ``supportbot`` command line (Typer)."""

from __future__ import annotations

import asyncio
import functools
import getpass
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bot.models import Answer, Turn
from bot.render import source_lines, status_note
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.engine import SupportEngine
    from bot.evaluation.runner import EvalInputs
    from bot.review.feedback_report import Filters
    from knowledge.sources.config import SourceConfig
    from knowledge.sync import SyncReport

app = typer.Typer(
    help="Customer-support chatbot that answers from your documents, with citations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
serve_app = typer.Typer(help="Run the bot on a chat platform.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")
feedback_app = typer.Typer(
    help="What people thought of the answers: the overview and exports.", no_args_is_help=True
)
app.add_typer(feedback_app, name="feedback")
review_app = typer.Typer(
    help="The support leads' web console (overview, answers, detail, curation, knowledge "
    "gaps, sources, exports). With no command: serve it; log in as a user from 'add-user'."
)
app.add_typer(review_app, name="review")
console = Console()

REPO = Path(__file__).resolve().parent.parent  # the checkout (installed in editable mode)
SAMPLE_KB = REPO / "samples" / "contoso"
# The labelled Contoso QA sets live in ../shared beside the checkout, not in the repository.
DEFAULT_QA = REPO.parent / "shared" / "data" / "contoso_hr_benefits"
DEV_SETS = REPO / "samples" / "devsets.toml"  # the dev sets `supportbot eval` runs by default
SAMPLE_QUESTIONS = (
    "What is balance billing and how does the Northwind Standard plan protect against it?",
    "What does PerksPlus reimburse?",
    "Can I bring my dog to the office?",  # not in the documents: the bot abstains
)

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
AudienceOpt = Annotated[
    str, typer.Option("--audience", "-a", help="public (never sees internal sources) or internal.")
]


def _settings() -> Settings:
    return Settings()


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]Error:[/] {escape(message)}")
    return typer.Exit(code=1)


def _open_engine(settings: Settings) -> SupportEngine:
    """Open the engine, turning setup errors into one clear line."""
    from bot.engine import SupportEngine
    from knowledge.errors import KnowledgeError

    try:
        return SupportEngine.from_settings(settings)
    except (KnowledgeError, ValueError) as exc:
        raise _fail(str(exc)) from None


def _drop_collection(settings: Settings) -> None:
    """Delete the configured collection (``ingest --rebuild``)."""
    from knowledge.index import IndexLockedError, open_client

    try:
        client = open_client(settings)
    except IndexLockedError as exc:
        raise _fail(str(exc)) from None
    try:
        if client.collection_exists(settings.collection):
            client.delete_collection(settings.collection)
    finally:
        client.close()


def print_answer(answer: Answer) -> None:
    """Show an answer with its numbered sources."""
    style = "yellow" if answer.abstained else "green"
    title = "No answer in the documents" if answer.abstained else "Answer"
    console.print(Panel(escape(answer.text), title=title, border_style=style))
    for line in source_lines(answer):
        console.print(
            f"  [bold][{line.number}][/] {escape(line.label)}  [dim]{escape(line.uri)}[/]"
        )
    note = status_note(answer)
    if note:
        console.print(f"  [yellow]{escape(note)}[/]")
    t = answer.timings
    console.print(
        f"  [dim]{answer.generator} · confidence {answer.confidence:.2f} · {t.total_ms:.0f} ms[/]"
    )


AllowMassDeleteOpt = Annotated[
    bool,
    typer.Option(
        "--allow-mass-delete",
        help="Apply a run that removes more than half of a source's documents.",
    ),
]


def print_sync_report(report: SyncReport) -> None:
    """Per source: added, changed, removed, unchanged, skipped (with reasons), seconds."""
    from rich.table import Table

    table = Table(title="Dry run: nothing was changed" if report.dry_run else None)
    # Per source: seconds listing and reading it; embedding and writing are in the total below.
    for column in ("source", "added", "changed", "removed", "unchanged", "skipped", "scan s"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for s in report.sources:
        if not s.ok:
            table.add_row(escape(s.source), *["–"] * 5, f"{s.seconds:.1f}", style="red")
            continue
        table.add_row(
            escape(s.source),
            str(len(s.added)),
            str(len(s.changed)),
            str(len(s.removed)),
            str(s.unchanged),
            str(len(s.skipped)),
            f"{s.seconds:.1f}",
        )
    console.print(table)
    for s in report.sources:
        if s.error or s.blocked:
            console.print(f"  [bold red]{escape(s.error or s.blocked or '')}[/]")
        for verb, ids in (("added", s.added), ("changed", s.changed), ("removed", s.removed)):
            for doc_id in ids[:20]:
                console.print(f"  [dim]{verb}[/] {escape(doc_id)}")
            if len(ids) > 20:
                console.print(f"  [dim]… and {len(ids) - 20} more {verb}[/]")
        for k in s.skipped:
            console.print(f"  [yellow]skipped[/] {escape(str(k.path))}: {escape(k.reason)}")
    console.print(
        f"{report.documents} documents indexed ({report.chunks} chunks, {report.embedded} texts "
        f"embedded in {report.embed_seconds:.1f} s), {report.removed} removed, in "
        f"{report.seconds:.1f} s."
    )


def _record_inventory(settings: Settings, report: SyncReport) -> None:
    """Store what the ingested sources now hold in the feedback database (the review console's
    list of documents never cited); a failure is reported, the ingest stands."""
    from bot.feedback import FeedbackStore

    try:
        store = FeedbackStore.from_settings(settings)
        try:
            asyncio.run(store.record_inventory(report))
        finally:
            store.close()
    except Exception as exc:  # the index is written; only the console's inventory is stale
        console.print(f"[yellow]could not record the document inventory:[/] {escape(str(exc))}")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    audience: Annotated[
        str | None,
        typer.Option("--audience", "-a", help="Tag for these sources (default: configured)."),
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Delete the whole collection first (all sources), then ingest these paths.",
        ),
    ] = False,
    allow_mass_delete: AllowMassDeleteOpt = False,
) -> None:
    """Ingest documents (PDF, Markdown, HTML, text, DOCX) from files or folders: new and changed
    files are indexed, files deleted from a folder since its last ingest are removed, unchanged
    ones skipped, unreadable ones reported (their indexed version stays). For several sources,
    schedules and web pages, use a sources file and 'supportbot sync'."""
    if audience not in (None, "public", "internal"):
        raise _fail("--audience must be public or internal")
    settings = _settings()
    if rebuild:
        _drop_collection(settings)
    engine = _open_engine(settings)
    try:
        report = engine.kb.ingest(
            paths, audience=audience, allow_mass_delete=allow_mass_delete, console=console
        )
    finally:
        engine.close()
    _record_inventory(settings, report)
    console.print(
        f"[bold]Ingested[/] {report.documents} documents ({report.chunks} chunks), "
        f"{report.unchanged} unchanged, {report.removed} removed, {len(report.skipped)} "
        f"skipped, in {report.seconds:.1f} s (embedding {report.embed_seconds:.1f} s)."
    )
    for s in report.skipped:
        console.print(f"  [yellow]skipped[/] {escape(str(s.path))}: {escape(s.reason)}")
    for error in report.errors:
        console.print(f"  [bold red]{escape(error)}[/]")
    if report.errors:
        raise typer.Exit(code=1)


@app.command()
def sync(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Source ids from the sources file (default: all), or 'status' to show each "
            "source's last run, next run and errors.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    allow_mass_delete: AllowMassDeleteOpt = False,
) -> None:
    """Sync the sources of the sources file (sources.toml): add new documents, re-index changed
    ones, remove those gone from their source. A running bot that holds the embedded index gets
    the request over its admin socket. 'supportbot sync status' shows the sync history."""
    from bot.ops import request_admin
    from knowledge.errors import KnowledgeError
    from knowledge.index import IndexLockedError
    from knowledge.sources.config import load_sources

    settings = _settings()
    ids = list(sources or [])
    if ids == ["status"]:
        _sync_status(settings)
        return
    try:
        configs = load_sources(settings.sources_file)
    except KnowledgeError as exc:
        raise _fail(str(exc)) from None
    known = {c.id: c for c in configs}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise _fail(f"no source {', '.join(unknown)} in {settings.sources_file}")
    chosen = [known[i] for i in ids] if ids else configs
    from bot.engine import SupportEngine

    try:
        engine = SupportEngine.from_settings(settings)
    except IndexLockedError as exc:
        request = {
            "op": "sync",
            "sources": ids,
            "dry_run": dry_run,
            "allow_mass_delete": allow_mass_delete,
        }
        console.print("The index is held by a running bot: handing the sync to it…")
        reply = request_admin(settings.admin_socket_path, request)
        if reply is None:
            raise _fail(
                f"{exc} No running bot answered on {settings.admin_socket_path}: stop the "
                "process that holds the index, or run the sync from chat (/supportbot-sync)."
            ) from None
        _print_admin_reply(reply)
        return
    except (KnowledgeError, ValueError) as exc:
        raise _fail(str(exc)) from None
    asyncio.run(_sync_here(settings, engine, chosen, dry_run, allow_mass_delete))


async def _sync_here(
    settings: Settings,
    engine: SupportEngine,
    configs: list[SourceConfig],
    dry_run: bool,
    allow_mass_delete: bool,
) -> None:
    """Sync in this process, with progress, and record the run in the sync history."""
    from bot.feedback import FeedbackStore
    from bot.ops import SyncService

    store = FeedbackStore.from_settings(settings)
    try:
        service = SyncService(engine, store, configs, console=console)  # with progress bars
        report = await service.run(
            [c.id for c in configs],
            dry_run=dry_run,
            allow_mass_delete=allow_mass_delete,
            trigger="cli",
        )
        await service.settled()  # the calibration is stored with the collection before exit
    finally:
        store.close()
        engine.close()
    print_sync_report(report)
    if report.errors:
        raise typer.Exit(code=1)


def _print_admin_reply(reply: dict[str, Any]) -> None:
    from bot.ops import report_lines, status_lines

    if "error" in reply:
        raise _fail(f"the running bot refused: {reply['error']}")
    if "statuses" in reply:
        for line in status_lines(reply["statuses"]):
            console.print(escape(line))
        return
    for line in report_lines(reply["report"]):
        console.print(escape(line))
    if not reply.get("ok", False):
        raise typer.Exit(code=1)


def _sync_status(settings: Settings) -> None:
    """Last run, next run and errors of each source (from the running bot when one answers,
    else from the sync history in the database)."""
    from bot.feedback import FeedbackStore
    from bot.ops import SourceStatus, request_admin, status_lines
    from knowledge.errors import KnowledgeError
    from knowledge.sources.config import load_sources

    try:
        configs = load_sources(settings.sources_file)
    except KnowledgeError as exc:
        raise _fail(str(exc)) from None
    reply = request_admin(settings.admin_socket_path, {"op": "status"}, timeout_s=10)
    if reply is not None and "statuses" in reply:
        _print_admin_reply(reply)
        return

    async def statuses() -> list[SourceStatus]:
        store = FeedbackStore.from_settings(settings)
        try:
            out = []
            for c in configs:
                runs = await store.sync_runs(c.id, limit=1, applied_only=True)
                out.append(SourceStatus(c, runs[0] if runs else None, None))
            return out
        finally:
            store.close()

    for line in status_lines(asyncio.run(statuses())):
        console.print(escape(line))
    console.print(
        "[dim]No running bot answered on its admin socket: next runs are scheduled by "
        "'supportbot serve' (or your cron job).[/]"
    )


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    audience: AudienceOpt = "public",
) -> None:
    """Answer one question and print it with its sources."""
    engine = _open_engine(_settings())

    async def run() -> Answer:
        try:
            return await engine.answer(question, audience=audience)
        finally:
            await engine.aclose()

    try:
        print_answer(asyncio.run(run()))
    except ValueError as exc:
        raise _fail(str(exc)) from None


@app.command()
def chat(audience: AudienceOpt = "internal") -> None:
    """Interactive console chat (the local stand-in for Slack and Discord). After an answer,
    type + or - to record 👍/👎; an empty line or Ctrl-D quits."""
    from bot.feedback import FeedbackStore
    from bot.service import ChatContext, SupportService

    settings = _settings()
    engine = _open_engine(settings)
    store = FeedbackStore.from_settings(settings)
    service = SupportService.from_settings(engine, store, settings)
    user = f"console:{getpass.getuser()}"
    ctx = ChatContext(platform="console", audience=audience, user_id=user, channel_id="console")

    async def loop() -> None:
        history: list[Turn] = []
        last_id: str | None = None
        console.print("[dim]Ask a question. + / - rates the last answer. Empty line quits.[/]")
        while True:
            try:
                line = (await asyncio.to_thread(console.input, "[bold cyan]you>[/] ")).strip()
            except EOFError:
                break
            if not line:
                break
            if line in ("+", "-"):
                if last_id is None:
                    console.print("[dim]No answer to rate yet.[/]")
                    continue
                await service.vote(last_id, user, 1 if line == "+" else -1, source="console")
                console.print("[dim]Thanks, feedback recorded.[/]")
                continue
            reply = await service.ask(line, ctx, history)
            if reply.answer is None:
                console.print(f"[red]{escape(reply.error or '')}[/]")
                continue
            print_answer(reply.answer)
            last_id = reply.answer_id
            history += [Turn("user", line), Turn("assistant", reply.answer.text)]

    try:
        asyncio.run(loop())
    finally:
        asyncio.run(engine.aclose())
        store.close()


@app.command()
def demo(
    questions: Annotated[
        list[str] | None, typer.Argument(help="Questions to ask (default: three samples).")
    ] = None,
) -> None:
    """Ingest the bundled sample knowledge base (Contoso HR/benefits PDFs) and answer sample
    questions: the quick start's main job."""
    settings = _settings()
    engine = _open_engine(settings)
    try:
        report = engine.kb.ingest([SAMPLE_KB], audience="public", console=console)
        console.print(
            f"Knowledge base: {report.documents} new, {report.unchanged} unchanged documents, "
            f"{engine.kb.index.count()} chunks in {settings.qdrant_url or settings.qdrant_path}."
        )

        async def run() -> list[Answer]:
            return [await engine.answer(q) for q in (questions or SAMPLE_QUESTIONS)]

        for q, a in zip(questions or SAMPLE_QUESTIONS, asyncio.run(run()), strict=True):
            console.rule(f"[bold]{escape(q)}")
            print_answer(a)
    finally:
        engine.close()
    console.print(
        '\nNext: [bold]supportbot chat[/] for a conversation, [bold]supportbot ask "…"[/] for '
        "one question, [bold]supportbot eval[/] to measure quality."
    )


@app.command("eval")
def evaluate(
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset",
            "-d",
            help="A dataset as [NAME=]DOCS,QA[,UNANSWERABLE] (comma-separated paths); repeat "
            "for several.",
        ),
    ] = None,
    datasets: Annotated[
        Path | None,
        typer.Option(
            help="TOML file of \\[\\[dataset]] tables (see README); default: the dev sets."
        ),
    ] = None,
    docs: Annotated[
        Path | None,
        typer.Option(help="One documents folder (with --questions), instead of --dataset."),
    ] = None,
    questions: Annotated[
        list[Path] | None,
        typer.Option("--questions", "-q", help="Labelled JSONL file(s) for --docs."),
    ] = None,
    unanswerable: Annotated[
        list[Path] | None,
        typer.Option(
            "--unanswerable", "-u", help="JSONL of questions the documents do not answer."
        ),
    ] = None,
    compare: Annotated[
        bool, typer.Option(help="Also run retrieval variants and the LlamaIndex/BM25 baselines.")
    ] = False,
    configs: Annotated[
        str | None,
        typer.Option(help="Comma-separated configurations to run (overrides --compare)."),
    ] = None,
    sample: Annotated[
        int | None, typer.Option(help="Evaluate an evenly spaced sample of N questions per file.")
    ] = None,
    generator: Annotated[
        str | None,
        typer.Option(
            help="extractive or openai (the configured OpenAI-compatible endpoint and model, "
            "SUPPORTBOT_OPENAI_BASE_URL / SUPPORTBOT_OPENAI_MODEL); default: the setting.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.json and report.html.")] = Path(
        "reports"
    ),
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            help="Gate [DATASET:]METRIC=VALUE, e.g. hit@5=0.9 (at least; every dataset), "
            "galaxy_s10:answerable_abstain_rate=0.03 (at most: lower is better) or "
            "macro:mrr@10=0.8 (the macro average).",
        ),
    ] = None,
    feedback_protocol: Annotated[
        bool,
        typer.Option(
            "--feedback-protocol",
            help="Instead: does feedback make the next answer better? Split each set's "
            "answerable questions in halves, simulate votes and corrections on one, evaluate "
            "the other before and after (bot/evaluation/feedback_protocol.py).",
        ),
    ] = False,
    tune_epochs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --feedback-protocol: also fine-tune the embedding model on the verified "
            "answers (supportbot tune) and evaluate the test half with it.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="With --feedback-protocol: the split's seed.")] = 7,
    few_shot: Annotated[
        bool,
        typer.Option(
            "--few-shot",
            help="With --feedback-protocol and --generator openai: also answer the test half "
            "with dynamic few-shot (memory_few_shot) and compare citation hit, F1 and ROUGE-L.",
        ),
    ] = False,
    paraphrases: Annotated[
        Path | None,
        typer.Option(
            help="With --feedback-protocol: a folder of DATASET.jsonl rewordings "
            '({"question", "paraphrase"} per line; scripts/paraphrase_questions.py writes '
            "them); the feedback half is also asked in other words, before and after.",
        ),
    ] = None,
) -> None:
    """Measure retrieval, answers, citations, abstention and latency on labelled sets.

    Default: the dev sets of samples/devsets.toml (the sample Contoso knowledge base with
    ../shared/data/contoso_hr_benefits, and ../shared/data/galaxy_s10), each ingested into its
    own temporary collection; a table per dataset and the macro average."""
    from bot.evaluation.gates import check_gates, parse_gate
    from bot.evaluation.report import (
        generation_line,
        macro_configs,
        refusal_line,
        render_macro_table,
        render_table,
        write_html,
        write_json,
    )
    from bot.evaluation.runner import (
        RETRIEVAL_CONFIGS,
        EvalInputs,
        load_dataset_file,
        parse_dataset_spec,
        run_datasets,
    )

    try:
        chosen: list[EvalInputs] = [parse_dataset_spec(d, sample=sample) for d in dataset or []]
        if docs is not None or questions:
            if not questions:
                raise ValueError("--docs needs --questions (or use --dataset)")
            chosen.append(EvalInputs(docs or SAMPLE_KB, questions, unanswerable or [], sample))
        if datasets is not None or not chosen:
            path = datasets or DEV_SETS
            if not path.is_file():
                raise ValueError(f"dataset file not found: {path}")
            chosen += load_dataset_file(path, sample=sample)
        for d in chosen:
            for missing in d.missing():
                raise ValueError(f"{d.label}: not found: {missing}")
        names = (
            [c.strip() for c in configs.split(",") if c.strip()]
            if configs
            else ["default", *RETRIEVAL_CONFIGS]
            if compare
            else ["default"]
        )
        # Gates are checked before the run, so a misspelt metric or dataset costs no minutes.
        gates = [parse_gate(g, datasets=[d.label for d in chosen]) for g in fail_under or []]
        if generator is not None and generator not in ("extractive", "openai"):
            raise ValueError(f"--generator must be extractive or openai, not {generator!r}")
        if feedback_protocol:
            _feedback_protocol(
                chosen,
                out,
                seed=seed,
                tune_epochs=tune_epochs,
                paraphrases=paraphrases,
                generator=generator,
                few_shot=few_shot,
            )
            return
        if tune_epochs is not None or paraphrases is not None or few_shot:
            raise ValueError("--tune-epochs, --paraphrases and --few-shot need --feedback-protocol")
        settings = _settings()
        if generator is not None:
            settings = settings.model_copy(update={"generator": generator})
        runs = run_datasets(chosen, settings, configs=names, console=console)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    for run in runs:
        render_table(run, console)
        for line in (refusal_line(run), generation_line(run)):
            if line:
                console.print(f"  [dim]{escape(line)}[/]")
    if len(runs) > 1:
        render_macro_table(runs, console)
    write_json(runs[0] if len(runs) == 1 else runs, out / "report.json")
    write_html(runs, out / "report.html")
    console.print(f"Reports: {out / 'report.json'}, {out / 'report.html'}")
    failures = []
    for run in runs:
        mine = [g for g in gates if g.dataset in (None, run.dataset_name)]
        for cfg in run.configs[:1]:
            failures += check_gates(cfg.metrics, mine, config=f"{run.dataset_name}/{cfg.name}")
    macro_gates = [g for g in gates if g.dataset == "macro"]
    if macro_gates and runs and runs[0].configs:
        first = runs[0].configs[0].name
        failures += check_gates(
            macro_configs(runs).get(first, {}), macro_gates, config=f"macro/{first}"
        )
    for line in failures:
        console.print(f"[bold red]{escape(line)}[/]")
    if failures:
        raise typer.Exit(code=2)


def _feedback_protocol(
    chosen: list[EvalInputs],
    out: Path,
    *,
    seed: int,
    tune_epochs: int | None,
    paraphrases: Path | None = None,
    generator: str | None = None,
    few_shot: bool = False,
) -> None:
    """``eval --feedback-protocol``: the protocol on each set's answerable, labelled questions
    (in a temporary index and database each); figures to ``out/feedback_protocol.json``.
    ``paraphrases``: a folder with ``<dataset label>.jsonl`` rewordings; a set without its file
    is run without them (and says so). ``generator`` and ``few_shot``: see
    :func:`bot.evaluation.feedback_protocol.run_set`."""
    import json
    from dataclasses import asdict

    from bot.evaluation.feedback_protocol import load_paraphrases, render_result, run_set
    from bot.evaluation.runner import load_all

    if paraphrases is not None and not paraphrases.is_dir():
        raise ValueError(f"--paraphrases {paraphrases}: not a folder")
    results = []
    for d in chosen:
        questions = [q for q in load_all(d) if q.answerable and q.gold]
        if len(questions) < 4:
            raise ValueError(f"{d.label}: the protocol needs at least 4 labelled questions")
        reworded = None
        if paraphrases is not None:
            path = paraphrases / f"{d.label}.jsonl"
            if path.is_file():
                reworded = load_paraphrases(path)
            else:
                console.print(f"[yellow]{escape(d.label)}: no {escape(str(path))}[/]")
        result = asyncio.run(
            run_set(
                d.label,
                d.docs,
                questions,
                seed=seed,
                tune_epochs=tune_epochs,
                paraphrases=reworded,
                generator=generator,
                few_shot=few_shot,
            )
        )
        render_result(result, console)
        results.append(result)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "feedback_protocol.json"
    path.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))
    console.print(f"Figures: {escape(str(path))}")


@app.command()
def tune(
    out: Annotated[
        Path | None,
        typer.Option(help="Model folder to write (default: data_dir/models/tuned-UTCSTAMP)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Passes over the pairs (3).")] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=2, help="Pairs per step, the in-batch negatives (16).")
    ] = None,
    learning_rate: Annotated[float | None, typer.Option(help="AdamW learning rate (2e-5).")] = None,
    holdout: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=0.9,
            help="Share of verified questions kept out of training for the report (0.2).",
        ),
    ] = None,
    min_up_votes: Annotated[
        int | None,
        typer.Option(
            help="Also train on answers with this many 👍 and no 👎 (default: "
            "memory_min_up_votes; 0 = lead-verified and corrected answers only)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split and the training.")] = 7,
) -> None:
    """Fine-tune the embedding model on the verified answers: each question with the chunks its
    answer cites (a correction's chosen citations), with in-batch and BM25-mined hard
    negatives (sentence-transformers, MultipleNegativesRankingLoss). Writes a model folder and
    reports hit@5 / MRR@10 of held-out verified questions, base → tuned. The bot keeps its
    model until you set embedding_model to the folder and run 'supportbot ingest' again."""
    from datetime import UTC, datetime

    from rich.table import Table

    from bot import tuning
    from bot.feedback import FeedbackStore
    from bot.tuning import training_questions
    from bot.tuning import tune as tune_model
    from knowledge.base import KnowledgeBase
    from knowledge.errors import KnowledgeError

    settings = _settings()
    votes = settings.memory_min_up_votes if min_up_votes is None else min_up_votes
    target = out or settings.data_dir / "models" / (
        "tuned-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    )
    store = FeedbackStore.from_settings(settings)
    try:
        questions = asyncio.run(training_questions(store, min_up_votes=votes))
    finally:
        store.close()
    try:
        kb = KnowledgeBase.open(settings)
        try:
            chunks = kb.index.all_chunks()
        finally:
            kb.close()
        console.print(
            f"{len(questions)} verified questions over {len(chunks)} chunks; "
            f"training from {escape(settings.embedding_model)}"
        )
        report = tune_model(
            questions,
            chunks,
            base_model=settings.embedding_model,
            out=target,
            epochs=epochs or tuning.DEFAULT_EPOCHS,
            batch_size=batch_size or tuning.DEFAULT_BATCH_SIZE,
            learning_rate=learning_rate or tuning.DEFAULT_LEARNING_RATE,
            holdout=tuning.DEFAULT_HOLDOUT if holdout is None else holdout,
            seed=seed,
        )
    except KnowledgeError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"[bold]Tuned[/] on {report.triples} (question, chunk, hard negative) rows from "
        f"{report.questions} questions, {report.epochs} epochs, in {report.seconds:.0f} s"
    )
    if report.held_out:
        table = Table(title=f"{report.held_out} held-out verified questions, dense ranking only")
        table.add_column("model")
        for metric in report.before:
            table.add_column(metric, justify="right")
        table.add_row("base", *(f"{v:.3f}" for v in report.before.values()))
        table.add_row("tuned", *(f"{v:.3f}" for v in report.after.values()))
        console.print(table)
    else:
        console.print("  (too few verified questions to hold some out: no before/after report)")
    console.print(
        f"Wrote {escape(str(report.out))}. To use it: SUPPORTBOT_EMBEDDING_MODEL="
        f"{escape(str(report.out))} supportbot ingest <your documents> (every chunk is "
        "embedded again; 'supportbot eval --feedback-protocol --tune-epochs N' measures the "
        "whole pipeline on labelled questions)."
    )


@app.command()
def bench(
    docs: Annotated[Path, typer.Option(help="Documents folder to ingest.")] = SAMPLE_KB,
    questions: Annotated[
        Path, typer.Option("--questions", "-q", help="JSONL questions for the latency run.")
    ] = DEFAULT_QA / "qa.jsonl",
    out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON here.")] = None,
    scale: Annotated[
        bool,
        typer.Option(
            "--scale",
            help="Instead: the embedded index's cost curve (local mode against Qdrant Edge) on "
            "synthetic corpora; writes reports/scale_bench.json and .png.",
        ),
    ] = False,
    sizes: Annotated[
        str, typer.Option(help="With --scale: comma-separated chunk counts.")
    ] = "10000,30000,100000",
    engines: Annotated[
        str,
        typer.Option(
            help="With --scale: comma-separated engines: local (qdrant-client local mode), edge "
            "(Qdrant Edge, the product's three lists), edge-rerank (Qdrant Edge with "
            "sentence_rescore); an Edge engine may end in :float16 or :turbo8, its sentence "
            "vectors' storage (edge-rerank:turbo8)."
        ),
    ] = "local,edge",
    memory_limit_mb: Annotated[
        int | None,
        typer.Option(
            min=64,
            help="With --scale: run each size in a memory cgroup of this many MiB (Linux, "
            "root), page cache included, to show the engine fits in it.",
        ),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge",
            help="With --scale: keep the other engines' and sizes' rows already in the report "
            "(and its plot).",
        ),
    ] = False,
    load: Annotated[
        bool,
        typer.Option(
            "--load",
            help="Instead: concurrent questions through the core (single stream against "
            "--concurrency askers: throughput, p50/p95/p99, event-loop lag), questions "
            "arriving at random below capacity (the open loop), and a flood against the rate "
            "limits.",
        ),
    ] = False,
    concurrency: Annotated[int, typer.Option(help="With --load: askers at once.")] = 50,
    utilisation: Annotated[
        float,
        typer.Option(
            min=0.05,
            max=1.0,
            help="With --load: the open loop's arrival rate, as a share of the concurrent "
            "throughput.",
        ),
    ] = 0.7,
) -> None:
    """Measure ingestion time against the embedding floor, and answer() latency p50/p95; or,
    with --scale, index latency, memory, disk and start-up against corpus size; or, with
    --load, throughput and latency under concurrent questions."""
    import json

    if load:
        from bot.load_bench import run_load

        if not questions.is_file():
            raise _fail(f"question file not found: {questions}")
        figures = run_load(
            docs,
            questions,
            _settings(),
            concurrency=concurrency,
            utilisation=utilisation,
            console=console,
        ).as_dict()
        console.print_json(json.dumps(figures))
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(figures, indent=2))
        return
    if scale:
        from knowledge.scale_bench import main as scale_bench

        extra = [] if memory_limit_mb is None else ["--memory-limit-mb", str(memory_limit_mb)]
        extra += ["--merge"] if merge else []
        scale_bench(
            ["--sizes", sizes, "--engines", engines, "--out", str(out or Path("reports")), *extra]
        )
        return
    from bot.benchmark import run_benchmark

    if not questions.is_file():
        raise _fail(f"question file not found: {questions}")
    result = run_benchmark(docs, questions, _settings(), console=console)
    for key, value in result.as_dict().items():
        console.print(f"  {key:30s} {value}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result.as_dict(), indent=2))


SinceOpt = Annotated[
    datetime | None,
    typer.Option("--since", help="From this UTC date or time (inclusive).", formats=DATE_FORMATS),
]
UntilOpt = Annotated[
    datetime | None,
    typer.Option("--until", help="Up to this UTC date or time (exclusive).", formats=DATE_FORMATS),
]
VoteOpt = Annotated[
    str | None, typer.Option("--vote", help="Only answers with a vote: up, down, none or any.")
]


def _filters(
    since: datetime | None,
    until: datetime | None,
    vote: str | None,
    platform: str | None,
    channel: str | None,
    audience: str | None,
    abstained: bool | None,
) -> Filters:
    from bot.review.feedback_report import Filters

    if vote not in (None, "up", "down", "none", "any"):
        raise _fail("--vote must be up, down, none or any")
    utc = [
        d.replace(tzinfo=UTC) if d is not None and d.tzinfo is None else d for d in (since, until)
    ]
    return Filters(
        since=utc[0],
        until=utc[1],
        vote=vote,  # type: ignore[arg-type]
        platform=platform,
        channel=channel,
        audience=audience,
        abstained=abstained,
    )


PlatformOpt = Annotated[str | None, typer.Option("--platform", help="slack, discord or console.")]
ChannelOpt = Annotated[str | None, typer.Option("--channel", help="A channel id.")]
AudienceFilterOpt = Annotated[str | None, typer.Option("--audience", help="public or internal.")]
AbstainedOpt = Annotated[
    bool | None,
    typer.Option(
        "--abstained/--answered", help="Only abstentions, or only answers.", show_default=False
    ),
]


@feedback_app.command("stats")
def feedback_stats_command(
    since: SinceOpt = None,
    until: UntilOpt = None,
    vote: VoteOpt = None,
    platform: PlatformOpt = None,
    channel: ChannelOpt = None,
    audience: AudienceFilterOpt = None,
    abstained: AbstainedOpt = None,
    by: Annotated[str, typer.Option("--by", help="Trend per day or week.")] = "day",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also draw the trend to this PNG or SVG file.")
    ] = None,
) -> None:
    """The overview: questions, answered and abstained, 👍/👎 and satisfaction, the share of
    answers voted on, degraded answers, latency p50/p95, and the same per day or week."""
    from rich.table import Table

    from bot.feedback import FeedbackStore
    from bot.review.feedback_report import OVERVIEW_METRICS, feedback_stats

    if by not in ("day", "week"):
        raise _fail("--by must be day or week")
    filters = _filters(since, until, vote, platform, channel, audience, abstained)
    store = FeedbackStore.from_settings(_settings())
    try:
        stats = asyncio.run(feedback_stats(store, filters, bucket=by))  # type: ignore[arg-type]
    finally:
        store.close()

    table = Table(title="Feedback overview")
    table.add_column("period")
    for m in OVERVIEW_METRICS:
        table.add_column(m.label, justify="right")
    for start, o in stats.trend:
        label = start.strftime("%Y-%m-%d") + (" (week)" if by == "week" else "")
        table.add_row(label, *(m.show(o) for m in OVERVIEW_METRICS))
    table.add_row("all", *(m.show(stats.total) for m in OVERVIEW_METRICS), style="bold")
    console.print(table)
    if plot is not None:
        from bot.review.plots import draw_trend, trend_points

        fmt = "svg" if plot.suffix.lower() == ".svg" else "png"
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_bytes(draw_trend(trend_points(stats.trend), fmt))
        console.print(f"wrote {escape(str(plot))}")


@feedback_app.command("export")
def feedback_export_command(
    since: SinceOpt = None,
    until: UntilOpt = None,
    vote: VoteOpt = None,
    platform: PlatformOpt = None,
    channel: ChannelOpt = None,
    audience: AudienceFilterOpt = None,
    abstained: AbstainedOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="csv or jsonl (answers and votes), or fine-tuning data in TRL's formats: sft, "
            "dpo or raft (from verified answers; opens the index for the chunk texts).",
        ),
    ] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
    ] = None,
    mask_users: Annotated[
        bool, typer.Option("--mask-users", help="Replace user ids by stable pseudonyms (PII).")
    ] = False,
) -> None:
    """Export the filtered answers with their votes and comments (one row per vote), as CSV or
    JSON Lines, e.g. every 👎 of last week: --since 2026-11-23 --vote down. With --format
    sft|dpo|raft: JSON Lines to fine-tune a model on the verified answers (the filters do not
    apply; see bot/training_data.py)."""
    from bot.feedback import FeedbackStore
    from bot.review.feedback_report import export_rows, to_csv, to_jsonl

    if fmt in ("sft", "dpo", "raft"):
        _export_training(fmt, out)
        return
    if fmt not in ("csv", "jsonl"):
        raise _fail("--format must be csv, jsonl, sft, dpo or raft")
    filters = _filters(since, until, vote, platform, channel, audience, abstained)
    store = FeedbackStore.from_settings(_settings())
    try:
        rows = asyncio.run(export_rows(store, filters, mask_users=mask_users))
    finally:
        store.close()
    text = to_csv(rows) if fmt == "csv" else to_jsonl(rows)
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {len(rows)} rows to {escape(str(out))}")


def _export_training(fmt: str, out: Path | None) -> None:
    """``feedback export --format sft|dpo|raft``: rows from the verified answers, with the chunk
    texts read from the index as it is now."""
    from bot.feedback import FeedbackStore
    from bot.review.feedback_report import to_jsonl
    from bot.training_data import TRAINING_FORMATS, training_rows
    from knowledge.base import KnowledgeBase
    from knowledge.errors import KnowledgeError

    settings = _settings()
    kind = next(f for f in TRAINING_FORMATS if f == fmt)
    try:
        kb = KnowledgeBase.open(settings)
    except KnowledgeError as exc:
        raise _fail(str(exc)) from None
    store = FeedbackStore.from_settings(settings)
    try:
        rows, skipped = asyncio.run(
            training_rows(
                store,
                kind,
                kb.index.chunks,
                kb.index.all_chunks,
                top_k=settings.top_k,
                human_contact=settings.human_contact,
                min_up_votes=settings.memory_min_up_votes,
            )
        )
    finally:
        store.close()
        kb.close()
    text = to_jsonl(rows)
    note = f"{len(rows)} {fmt} rows ({skipped} skipped: their cited chunks changed or are gone)"
    if out is None:
        sys.stdout.write(text)
        Console(stderr=True).print(note)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(note)} to {escape(str(out))}")


@review_app.callback(invoke_without_command=True)
def review(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Listen address (default: review_host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default: review_port, 8765).")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Fill a separate demo database (the sample questions answered, votes simulated "
            "from the gold labels) and show that; a demo user is made and its password printed.",
        ),
    ] = False,
) -> None:
    """Run the review console (reads the feedback database; runs beside a serving bot).
    Log in as a user made with 'supportbot review add-user NAME'."""
    if ctx.invoked_subcommand is not None:
        return
    import secrets

    from bot.feedback import FeedbackStore
    from bot.review.auth import add_user, load_users

    settings = _settings()
    host = host or settings.review_host
    users_path = settings.review_users_path
    database_url = settings.resolved_database_url
    if demo:
        from bot.review.demo import build_demo, demo_database_url, demo_dir

        qa = [DEFAULT_QA / "qa.jsonl", DEFAULT_QA / "qa_dontknows.jsonl"]
        if not all(p.is_file() for p in qa):
            raise _fail(f"the demo needs the labelled Contoso questions in {DEFAULT_QA}")
        n = asyncio.run(build_demo(settings, SAMPLE_KB, qa, console=console))
        console.print(f"Demo database: {n} simulated answers (never the real database).")
        database_url = demo_database_url(settings)
        users_path = demo_dir(settings) / "review_users.json"
        if not load_users(users_path):
            password = secrets.token_urlsafe(12)
            add_user(users_path, "demo", password)
            console.print(f"Demo login: [bold]demo[/] / [bold]{password}[/]")
    from bot.review.serve import ConsoleConfigError, console_app, console_server
    from knowledge.embedding import get_embedder

    store = FeedbackStore(database_url, upgrade=demo or settings.database_auto_upgrade)
    try:
        # The embedding model only (no index): the knowledge-gaps page groups questions with it.
        embedder = get_embedder(settings.embedding_model, batch_size=settings.embedding_batch_size)
        web = console_app(
            settings, store, embed=embedder.embed, host=host, users_path=users_path, simulated=demo
        )
        port = port or settings.review_port
        console.print(f"Review console on http://{host}:{port}/")
        console_server(web, host, port).run()
    except ConsoleConfigError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()


@review_app.command("add-user")
def review_add_user(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a console user (or change their password); the argon2id hash goes to
    data_dir/review_users.json (mode 0600)."""
    from bot.review.auth import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Again: ") != password:
            raise _fail("the passwords differ")
    settings = _settings()
    try:
        add_user(settings.review_users_path, name, password)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console.print(f"User {escape(name)} saved in {escape(str(settings.review_users_path))}.")


WithReviewOpt = Annotated[
    bool,
    typer.Option(
        "--with-review",
        help="Also host the review console (review_host:review_port) in this process, sharing "
        "its database and embedding model (setting serve_review).",
    ),
]


@serve_app.command("slack")
def serve_slack(with_review: WithReviewOpt = False) -> None:
    """Run the Slack app (Socket Mode or HTTP Events API, per SUPPORTBOT_SLACK_MODE)."""
    from bot.platforms.slack import serve

    _serve(serve, "Slack", with_review=with_review)


@serve_app.command("discord")
def serve_discord(
    sync_commands: Annotated[
        bool, typer.Option("--sync-commands", help="Register /ask with Discord even if unchanged.")
    ] = False,
    with_review: WithReviewOpt = False,
) -> None:
    """Run the Discord bot (needs SUPPORTBOT_DISCORD_TOKEN)."""
    from bot.platforms.discord import serve

    _serve(
        functools.partial(serve, sync_commands=sync_commands), "Discord", with_review=with_review
    )


def _serve(
    serve: Callable[[Settings], Coroutine[Any, Any, None]],
    platform: Literal["Slack", "Discord"],
    *,
    with_review: bool = False,
) -> None:
    from bot.logs import configure_logging

    settings = _settings()
    try:
        configure_logging(settings.log_format, settings.log_level)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if with_review:
        settings = settings.model_copy(update={"serve_review": True})
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        console.print(f"{platform} bot stopped.")
    except (ValueError, RuntimeError) as exc:
        # Configuration errors (missing tokens), a locked index or a missing model: one line.
        raise _fail(str(exc)) from None


@app.command()
def doctor() -> None:
    """Check this deployment's configuration: chat tokens, the index (reachable, filled, the
    model's vector size), the database (reachable, migrated), the LLM endpoint and the sources
    file. Prints what is wrong and how to fix it; exits 1 if anything would stop the bot."""
    from rich.table import Table

    from bot.doctor import run_checks

    findings = run_checks(_settings())
    table = Table(show_lines=False)
    for column in ("check", "", "found", "fix"):
        table.add_column(column)
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
    for f in findings:
        table.add_row(f.check, marks[f.status], escape(f.detail), escape(f.fix))
    console.print(table)
    failed = sum(f.status == "fail" for f in findings)
    if failed:
        console.print(f"[bold red]{failed} problem(s) would stop the bot.[/]")
        raise typer.Exit(code=1)
    console.print("Nothing stops the bot." if findings else "Nothing to check.")


db_app = typer.Typer(
    help="The feedback database's schema (Alembic migrations).", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the feedback database's schema or upgrade it to this version's (keeps the data).

    Run it once per release when several replicas share a database
    (SUPPORTBOT_DATABASE_AUTO_UPGRADE=false); with the embedded default every command does it.
    """
    from bot import migrations
    from bot.feedback import make_engine

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        before = migrations.current(engine)
        migrations.upgrade(engine)
        after = migrations.current(engine)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"The feedback database is current (revision {after}).")
    else:
        console.print(f"Upgraded the feedback database: revision {before or 'none'} → {after}.")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and this version's; exit 1 when they differ."""
    from bot import migrations
    from bot.feedback import make_engine

    engine = make_engine(_settings().resolved_database_url)
    try:
        have = migrations.current(engine)
    finally:
        engine.dispose()
    want = migrations.head()
    console.print(f"database revision: {have or 'none'}; this version needs: {want}")
    if have != want:
        console.print("Run 'supportbot db upgrade'.")
        raise typer.Exit(code=1)


index_app = typer.Typer(
    help="The index itself: move it to a Qdrant server or cluster.", no_args_is_help=True
)
app.add_typer(index_app, name="index")


@index_app.command("migrate")
def index_migrate(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Target: a Qdrant server URL (http[s]://host:6333), or a data directory "
            "(its qdrant/ or edge/ folder gets the embedded index, by --engine).",
        ),
    ],
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="For a data-directory target: 'edge' (Qdrant Edge) or 'local'; default the "
            "engine in use. Moving an index between engines needs no re-embedding.",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="SUPPORTBOT_TARGET_QDRANT_API_KEY", help="The target's API key."
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite collections the target already fills.")
    ] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Points per request.")] = 256,
) -> None:
    """Copy the index to another Qdrant without re-embedding: every chunk with its vectors,
    the abstention calibration and vocabulary, the answer memory and the feedback links.

    The target collection is laid out by the qdrant_shards, qdrant_replicas,
    qdrant_write_consistency, qdrant_on_disk and qdrant_quantization settings. With the
    embedded index, stop the bot first; afterwards set QDRANT_URL to the target.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from bot.memory import links_collection, memory_collection
    from knowledge.index import ServerLayout, open_client
    from knowledge.transfer import is_url, local_path, migrate, open_target

    settings = _settings()
    engine = engine or settings.engine
    if engine not in ("local", "edge"):
        raise _fail(f"--engine must be 'local' or 'edge', not {engine!r}")
    same = (
        to.rstrip("/") == (settings.qdrant_url or "").rstrip("/")
        if is_url(to)
        else not settings.qdrant_url
        and local_path(to, engine).resolve() == settings.qdrant_path.resolve()
    )
    if same:
        raise _fail("the target is the configured index itself; name another Qdrant")
    source = open_client(settings)
    try:
        target = open_target(to, api_key, engine=engine)
        try:
            with Progress(
                "{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("copying", total=None)
                copied = migrate(
                    source,
                    target,
                    settings.collection,
                    companions=(
                        memory_collection(settings.collection),
                        links_collection(settings.collection),
                    ),
                    layout=ServerLayout.from_settings(settings),
                    target_local=not is_url(to) and engine == "local",
                    replace=replace,
                    batch=batch,
                    on_start=lambda name, n: bar.reset(task, total=n, description=name),
                    advance=lambda n: bar.advance(task, n),
                )
        finally:
            target.close()
    finally:
        source.close()
    for c in copied:
        console.print(f"{c.name}: {c.points} points in {c.seconds:.1f} s")
    where = (
        f"QDRANT_URL={to}"
        if is_url(to)
        else f"SUPPORTBOT_DATA_DIR={to} SUPPORTBOT_INDEX_ENGINE={engine}"
    )
    console.print(
        f"Done; nothing was re-embedded. Point the bot at it with {where}.", soft_wrap=True
    )


def main() -> None:
    """The ``supportbot`` entry point: the Typer app, with the errors meant for the user (a
    :class:`~knowledge.errors.KnowledgeError`, an unreachable database) shown as one line and
    exit code 1 instead of a traceback."""
    from knowledge.errors import KnowledgeError

    try:
        app()
    except KnowledgeError as exc:
        console.print(f"[bold red]Error:[/] {escape(str(exc))}")
        sys.exit(1)
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        from bot.feedback import database_error_reason

        if isinstance(exc, OperationalError):
            reason = database_error_reason(exc)
            console.print(
                f"[bold red]Error:[/] cannot reach the feedback database: {escape(reason)} "
                "(check SUPPORTBOT_DATABASE_URL)"
            )
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
