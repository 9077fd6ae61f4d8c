"""Operations inside the running bot: scheduled sync, sync history, admin commands, the admin
socket. One place for both runners (``serve slack`` and ``serve discord``).

- :class:`SyncService` runs the sources of ``sources.toml`` in the bot's own process (so Qdrant
  local mode needs no second process): each on its ``schedule`` (an asyncio task per source),
  folders with ``watch = true`` also within seconds of a change (watchfiles), and on request.
  One sync runs at a time; each source's result is written to the sync history
  (:meth:`bot.feedback.FeedbackStore.record_sync`).
- :class:`AdminCommands` is what ``/supportbot-sync`` and ``/supportbot-status`` do on both
  platforms: configured admins only, every refusal logged.
- :class:`AdminServer` listens on ``data_dir/admin.sock`` (a Unix socket, mode 0600, peers of
  another uid refused) so ``supportbot sync`` run next to a bot that holds the embedded index
  hands the work to the bot instead of failing on the folder lock (:func:`request_admin`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rich.console import Console

from bot import metrics
from bot.feedback import FeedbackStore, SyncRunRecord
from bot.memory import LinkedAnswer, RefreshReport, VerifiedAnswer
from bot.settings import Settings
from knowledge.errors import KnowledgeError
from knowledge.sources import Source, make_source
from knowledge.sources.config import SourceConfig, load_sources, schedule_label
from knowledge.sync import SyncReport

log = logging.getLogger(__name__)

WATCH_DEBOUNCE_MS = 1000
"""watchfiles groups changes seen within this many milliseconds into one sync."""
ADMIN_TIMEOUT_S = 3600.0
"""How long ``supportbot sync`` waits for the running bot's answer over the admin socket."""


class UnknownSourceError(KnowledgeError):
    """A sync was asked for a source id that the sources file does not have."""


class SyncEngine(Protocol):
    """What :class:`SyncService` needs from the core (:class:`bot.engine.SupportEngine`)."""

    async def sync(
        self,
        sources: Sequence[Source],
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        recalibrate: bool = True,
        console: Console | None = None,
    ) -> SyncReport: ...

    async def recalibrate(self) -> None: ...


@runtime_checkable
class MemoryEngine(Protocol):
    """What :class:`MemoryRefresher` needs from the core (:class:`bot.engine.SupportEngine`)."""

    async def refresh_memory(
        self, verified: Sequence[VerifiedAnswer], linked: Sequence[LinkedAnswer] = ()
    ) -> RefreshReport | None: ...


class Periodic:
    """A background task that runs :meth:`round` now and then every ``interval_s`` until
    :meth:`stop`; a failing round is logged and the next one runs on time."""

    name = "periodic"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def round(self) -> None:
        """One round (subclasses)."""
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:
                log.exception(
                    "%s: the round failed; retrying in %.0f s", self.name, self.interval_s
                )
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        """Run rounds in the background until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Stop the background rounds."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class MemoryRefresher(Periodic):
    """Keeps a serving bot's answer memory and feedback links in step with the database:
    every ``interval_s`` it reads the verified answers and the feedback links (a lead's
    decisions, made in the review console, possibly another process, and votes), refreshes
    them, and records which verified answers are stale (their cited chunks changed or gone)
    for the console. A failing round is logged and retried."""

    name = "answer-memory"

    def __init__(
        self,
        engine: MemoryEngine,
        store: FeedbackStore,
        *,
        interval_s: float,
        min_up_votes: int,
        links: bool = False,
    ) -> None:
        super().__init__(interval_s)
        self.engine = engine
        self.store = store
        self.min_up_votes = min_up_votes
        self.links = links  # read the feedback links too (only when feedback_boost is on)
        self._recorded: tuple[list[str], list[str]] | None = None

    async def refresh(self) -> RefreshReport | None:
        """One round now; the report, or ``None`` when the memory is off."""
        verified = await self.store.verified_answers(min_up_votes=self.min_up_votes)
        linked = await self.store.feedback_links() if self.links else []
        report = await self.engine.refresh_memory(verified, linked)
        status = ([v.answer_id for v in verified], report.stale) if report else None
        if status is not None and status != self._recorded:  # written when it changes
            await self.store.set_stale(*status)
            self._recorded = status
        return report

    async def round(self) -> None:
        """:meth:`refresh`, logged when something changed."""
        report = await self.refresh()
        if report is not None and (report.added or report.removed or report.stale):
            log.info(
                "answer memory: %d verified (%d new, %d withdrawn, %d stale)",
                report.entries,
                report.added,
                report.removed,
                len(report.stale),
            )


@runtime_checkable
class StatisticsEngine(Protocol):
    """What :class:`StatisticsWatcher` needs from the core (:class:`bot.engine.SupportEngine`)."""

    async def reload_statistics(self) -> bool: ...


class StatisticsWatcher(Periodic):
    """For bots that share a Qdrant server with a sync worker: every ``interval_s`` it checks
    whether the collection's vocabulary and abstention calibration were rewritten by another
    process and takes them (a collection-info request per round), so that terms a sync added
    are known without a restart."""

    name = "index-statistics"

    def __init__(self, engine: StatisticsEngine, *, interval_s: float) -> None:
        super().__init__(interval_s)
        self.engine = engine

    async def round(self) -> None:
        """One check; logs when new statistics were taken."""
        if await self.engine.reload_statistics():
            log.info("took the index statistics (vocabulary, calibration) another process wrote")


@dataclass(frozen=True)
class SourceStatus:
    """Where one source stands: its config, its last applied run and when it runs next."""

    config: SourceConfig
    last: SyncRunRecord | None
    next_run: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the admin socket)."""
        last = self.last
        return {
            "source": self.config.id,
            "kind": self.config.kind,
            "schedule": schedule_label(self.config.interval_s),
            "watch": self.config.watch,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last": None
            if last is None
            else {
                "trigger": last.trigger,
                "started_at": last.started_at.isoformat(),
                "finished_at": last.finished_at.isoformat(),
                "added": last.added,
                "changed": last.changed,
                "removed": last.removed,
                "unchanged": last.unchanged,
                "skipped": last.skipped,
                "error": last.error,
            },
        }


def report_dict(report: SyncReport) -> dict[str, Any]:
    """A sync report as JSON (the admin socket's reply)."""
    return {"dry_run": report.dry_run, "sources": [s.as_dict() for s in report.sources]}


def report_lines(report: SyncReport | dict[str, Any]) -> list[str]:
    """One line per source for people (CLI, chat): counts, seconds, errors, skipped files."""
    data = report_dict(report) if isinstance(report, SyncReport) else report
    verb = "would add" if data.get("dry_run") else "added"
    lines = []
    for r in data["sources"]:
        line = (
            f"{r['source']}: {len(r['added'])} {verb}, {len(r['changed'])} changed, "
            f"{len(r['removed'])} removed, {r['unchanged']} unchanged, "
            f"{len(r['skipped'])} skipped ({r['seconds']:.1f} s)"
        )
        if r.get("error"):
            line = f"{r['source']}: ERROR {r['error']}"
        elif r.get("blocked"):
            line = f"{r['source']}: STOPPED {r['blocked']}"
        lines.append(line)
        lines += [f"  skipped {s['path']}: {s['reason']}" for s in r["skipped"]]
    return lines


def status_lines(statuses: Sequence[SourceStatus] | Sequence[dict[str, Any]]) -> list[str]:
    """One line per source: schedule, last run (when, counts, error) and next run."""
    lines = []
    for s in statuses:
        d = s.as_dict() if isinstance(s, SourceStatus) else s
        last = d["last"]
        if last is None:
            when = "never synced"
        else:
            when = (
                f"last {last['finished_at'][:19].replace('T', ' ')} UTC ({last['trigger']}): "
                f"+{last['added']} ~{last['changed']} -{last['removed']} ={last['unchanged']}"
                + (f", {last['skipped']} skipped" if last["skipped"] else "")
            )
            if last["error"]:
                when += f"; ERROR {last['error']}"
        nxt = d["next_run"]
        nxt_text = f"next {nxt[:19].replace('T', ' ')} UTC" if nxt else "next: on request"
        watch = ", watched" if d.get("watch") else ""
        lines.append(f"{d['source']} ({d['kind']}, {d['schedule']}{watch}): {when}; {nxt_text}")
    return lines


class SyncService:
    """Sync the configured sources inside the running bot (see the module docstring).

    Args:
        engine: runs a sync (in a worker thread, answers going on meanwhile).
        store: where the sync history goes.
        sources: the configured sources.
        console: where syncs show progress bars (the CLI); ``None`` in the bot.
    """

    def __init__(
        self,
        engine: SyncEngine,
        store: FeedbackStore,
        sources: Sequence[SourceConfig],
        *,
        console: Console | None = None,
    ) -> None:
        self.engine = engine
        self.console = console
        self.store = store
        self.sources = {s.id: s for s in sources}
        self._lock = asyncio.Lock()
        self._next: dict[str, datetime] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._calibration: asyncio.Task[None] | None = None
        self._calibration_stale = False

    @classmethod
    def from_settings(
        cls, engine: SyncEngine, store: FeedbackStore, settings: Settings
    ) -> SyncService | None:
        """The service for ``settings.sources_file``; ``None`` when there is no such file.

        Raises:
            knowledge.sources.config.SourcesFileError: the file exists but is invalid.
        """
        if not settings.sources_file.is_file():
            return None
        return cls(engine, store, load_sources(settings.sources_file))

    def select(self, ids: Sequence[str]) -> list[SourceConfig]:
        """The sources named (all when none are).

        Raises:
            UnknownSourceError: an id the sources file does not have.
        """
        unknown = [i for i in ids if i not in self.sources]
        if unknown:
            raise UnknownSourceError(
                f"no source {', '.join(map(repr, unknown))} in the sources file "
                f"(sources: {', '.join(self.sources) or 'none'})"
            )
        return [self.sources[i] for i in ids] if ids else list(self.sources.values())

    async def run(
        self,
        ids: Sequence[str] = (),
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        trigger: str = "manual",
    ) -> SyncReport:
        """Sync the named sources (all when none), one sync at a time, and record each
        source's result in the sync history (a history write that fails is logged; the sync
        stands).

        Raises:
            UnknownSourceError: an id the sources file does not have.
        """
        configs = self.select(ids)
        async with self._lock:
            started = datetime.now(UTC)
            sources = [make_source(c) for c in configs]
            # The calibration (seconds of retrievals) is rebuilt in the background, so the next
            # change is not held up behind it; answers use the previous one meanwhile.
            report = await self.engine.sync(
                sources,
                dry_run=dry_run,
                allow_mass_delete=allow_mass_delete,
                recalibrate=False,
                console=self.console,
            )
            finished = datetime.now(UTC)
        metrics.record_sync(report)
        if report.wrote:
            self._recalibrate_soon()
        for r in report.sources:
            if r.error or r.blocked:
                log.warning("sync of %s: %s", r.source, r.error or r.blocked)
            try:
                await self.store.record_sync(
                    r.as_dict(),
                    trigger=trigger,
                    dry_run=dry_run,
                    started_at=started,
                    finished_at=finished,
                )
            except Exception:
                log.exception("could not record the sync run of %s", r.source)
        try:
            await self.store.record_inventory(report)
        except Exception:
            log.exception("could not record the document inventory")
        log.info("sync (%s): %s", trigger, "; ".join(report_lines(report)))
        return report

    async def status(self) -> list[SourceStatus]:
        """Each source's last applied run and next scheduled run."""
        out = []
        for config in self.sources.values():
            runs = await self.store.sync_runs(config.id, limit=1, applied_only=True)
            out.append(SourceStatus(config, runs[0] if runs else None, self._next.get(config.id)))
        return out

    def _recalibrate_soon(self) -> None:
        """Rebuild the calibration after a sync that wrote; one rebuild at a time, and one more
        after it when another sync wrote meanwhile."""
        self._calibration_stale = True
        if self._calibration is None or self._calibration.done():
            self._calibration = asyncio.create_task(self._recalibrate())

    async def _recalibrate(self) -> None:
        while self._calibration_stale:
            self._calibration_stale = False
            try:
                await self.engine.recalibrate()
            except Exception:
                log.exception("recalibration after a sync failed; the previous one stays")

    async def settled(self) -> None:
        """Wait for a pending recalibration (tests, shutdown)."""
        while self._calibration is not None and not self._calibration.done():
            await asyncio.shield(self._calibration)

    # -- scheduling ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the schedules (a first sync of each scheduled source right away) and the
        folder watchers; returns at once."""
        for config in self.sources.values():
            if config.interval_s is not None:
                self._tasks.append(asyncio.create_task(self._every(config, config.interval_s)))
            if config.watch and config.kind == "folder":
                self._tasks.append(asyncio.create_task(self._watch(config)))

    async def _every(self, config: SourceConfig, interval_s: float) -> None:
        while True:
            self._next[config.id] = datetime.now(UTC)
            try:
                await self.run([config.id], trigger="schedule")
            except Exception:  # a failing sync must not end the schedule
                log.exception("scheduled sync of %s failed", config.id)
            self._next[config.id] = datetime.now(UTC) + timedelta(seconds=interval_s)
            await asyncio.sleep(interval_s)

    async def _watch(self, config: SourceConfig) -> None:
        import watchfiles

        folder = Path(config.location)
        while True:
            if not await asyncio.to_thread(folder.exists):  # unmounted: look again later
                await asyncio.sleep(5)
                continue
            try:
                async for _ in watchfiles.awatch(folder, debounce=WATCH_DEBOUNCE_MS):
                    try:
                        await self.run([config.id], trigger="watch")
                    except Exception:
                        log.exception("watched sync of %s failed", config.id)
            except (OSError, RuntimeError):
                log.exception("watching %s failed; retrying", folder)
                await asyncio.sleep(5)

    async def stop(self) -> None:
        """Cancel the schedules and watchers (a sync in progress finishes in its thread)."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.settled()  # its worker thread would outlive the engine otherwise


REFUSAL = "Sorry, only the bot's admins can use {command}."
NO_SOURCES = (
    "No sources are configured: add a sources.toml (see the README) and restart the bot, "
    "or run 'supportbot ingest PATH' on the server."
)


class AdminCommands:
    """``/supportbot-sync [source]`` and ``/supportbot-status``, the same on both platforms.

    Args:
        sync: the running bot's sync service (``None``: no sources file).
        admins: per platform (``slack``, ``discord``), the user ids allowed.
        admin_roles: per platform, role ids whose members are allowed (Discord roles).
    """

    def __init__(
        self,
        sync: SyncService | None,
        *,
        admins: dict[str, Sequence[str]],
        admin_roles: dict[str, Sequence[str]] | None = None,
    ) -> None:
        self.sync = sync
        self.admins = {k: set(v) for k, v in admins.items()}
        self.admin_roles = {k: set(v) for k, v in (admin_roles or {}).items()}

    @classmethod
    def from_settings(cls, sync: SyncService | None, settings: Settings) -> AdminCommands:
        """Admins from ``slack_admin_user_ids``, ``discord_admin_user_ids`` and
        ``discord_admin_role_ids``."""
        return cls(
            sync,
            admins={
                "slack": settings.slack_admin_user_ids,
                "discord": settings.discord_admin_user_ids,
            },
            admin_roles={"discord": settings.discord_admin_role_ids},
        )

    def allowed(self, platform: str, user_id: str, role_ids: Sequence[str] = ()) -> bool:
        """Whether the user (or one of their roles) is a configured admin on ``platform``."""
        if user_id in self.admins.get(platform, set()):
            return True
        return bool(self.admin_roles.get(platform, set()) & set(role_ids))

    def _refuse(self, platform: str, user_id: str, command: str) -> str:
        log.warning("refused %s to %s user %s (not an admin)", command, platform, user_id)
        return REFUSAL.format(command=command)

    async def run_sync(
        self,
        platform: str,
        user_id: str,
        source: str | None,
        *,
        role_ids: Sequence[str] = (),
        command: str = "/supportbot-sync",
    ) -> str:
        """Run a sync for an admin → the text to show (a refusal for anyone else)."""
        if not self.allowed(platform, user_id, role_ids):
            return self._refuse(platform, user_id, command)
        if self.sync is None:
            return NO_SOURCES
        log.info("%s by %s user %s (source %s)", command, platform, user_id, source or "all")
        try:
            report = await self.sync.run([source] if source else [], trigger=f"chat:{platform}")
        except UnknownSourceError as exc:
            return str(exc)
        return "Sync finished:\n" + "\n".join(report_lines(report))

    async def run_status(
        self,
        platform: str,
        user_id: str,
        *,
        role_ids: Sequence[str] = (),
        command: str = "/supportbot-status",
    ) -> str:
        """The sources' status for an admin → text (a refusal for anyone else)."""
        if not self.allowed(platform, user_id, role_ids):
            return self._refuse(platform, user_id, command)
        if self.sync is None:
            return NO_SOURCES
        return "\n".join(status_lines(await self.sync.status()))


# -- the admin socket ---------------------------------------------------------------------------
def _peer_uid(sock: socket.socket) -> int | None:
    """The connecting process's uid (Linux ``SO_PEERCRED``); ``None`` where unsupported."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class AdminServer:
    """Serve sync and status requests from ``supportbot`` commands of the same user.

    The protocol is one JSON line each way: ``{"op": "sync", "sources": [...], "dry_run": b,
    "allow_mass_delete": b}`` or ``{"op": "status"}`` → ``{"ok": b, "lines": [...],
    "report": {...}}`` (or ``"error"``).
    """

    def __init__(self, sync: SyncService, path: Path) -> None:
        self.sync = sync
        self.path = path
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen (a stale socket file from a crashed bot is replaced).

        Raises:
            KnowledgeError: another running bot already listens there.
        """
        if self.path.exists():
            try:
                _, writer = await asyncio.open_unix_connection(str(self.path))
            except OSError:
                self.path.unlink()
            else:
                writer.close()
                raise KnowledgeError(f"another supportbot is already serving {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o177)  # created 0600: other local users cannot connect
        try:
            self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            uid = _peer_uid(sock) if sock is not None else None
            if uid is not None and uid != os.getuid():
                log.warning("admin socket: refused a connection from uid %s", uid)
                reply: dict[str, Any] = {"ok": False, "error": "not allowed"}
            else:
                reply = await self._serve(json.loads(await reader.readline() or b"{}"))
        except (ValueError, KnowledgeError) as exc:
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("admin socket request failed")
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
            writer.close()

    async def _serve(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            statuses = await self.sync.status()
            return {"ok": True, "statuses": [s.as_dict() for s in statuses]}
        if op == "sync":
            report = await self.sync.run(
                [str(s) for s in request.get("sources") or []],
                dry_run=bool(request.get("dry_run")),
                allow_mass_delete=bool(request.get("allow_mass_delete")),
                trigger="cli",
            )
            return {"ok": not report.errors, "report": report_dict(report)}
        raise ValueError(f"unknown admin request {op!r}")

    async def stop(self) -> None:
        """Stop listening and remove the socket file."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def request_admin(
    path: Path, request: dict[str, Any], *, timeout_s: float = ADMIN_TIMEOUT_S
) -> dict[str, Any] | None:
    """Send one request to a running bot's admin socket (blocking) → its reply, or ``None``
    when no bot listens there."""
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
        except OSError:
            return None
        sock.sendall(json.dumps(request).encode() + b"\n")
        chunks = []
        started = time.monotonic()
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            if data.endswith(b"\n") or time.monotonic() - started > timeout_s:
                break
    reply: dict[str, Any] = json.loads(b"".join(chunks) or b"{}")
    return reply


@contextlib.asynccontextmanager
async def running_ops(
    settings: Settings,
    engine: SyncEngine,
    store: FeedbackStore,
    *,
    embed: Callable[[list[str]], Any] | None = None,
) -> AsyncIterator[AdminCommands]:
    """Start the sync schedules, the admin socket and, with ``serve_review``, the review
    console (sharing ``store`` and the bot's embedding model ``embed``) for a serving bot; stop
    them on exit. With an LLM generator (``engine.llm``), also send the prompt's constant part
    once in the background (``OpenAICompatibleGenerator.warm_up``), so that the first user does
    not wait for the server to read it. Yields the admin commands the adapters register.

    Raises:
        knowledge.sources.config.SourcesFileError: the sources file is invalid.
        bot.review.serve.ConsoleConfigError: ``serve_review`` is on but no console users exist.
    """
    from bot.review.serve import start_hosted_console  # FastAPI: only when serving

    review = await start_hosted_console(settings, store, embed)
    memory = (
        MemoryRefresher(
            engine,
            store,
            interval_s=settings.memory_refresh_s,
            min_up_votes=settings.memory_min_up_votes,
            links=settings.feedback_boost > 0,
        )
        if settings.memory_enabled and isinstance(engine, MemoryEngine)
        else None
    )
    if memory is not None:
        memory.start()
    llm = getattr(engine, "llm", None)
    warm_up = asyncio.create_task(llm.warm_up(), name="llm-warm-up") if llm is not None else None
    statistics = (
        StatisticsWatcher(engine, interval_s=settings.statistics_refresh_s)
        if settings.qdrant_url
        and settings.statistics_refresh_s > 0
        and isinstance(engine, StatisticsEngine)
        else None
    )
    if statistics is not None:
        statistics.start()
    sync = SyncService.from_settings(engine, store, settings)
    server = (
        AdminServer(sync, settings.admin_socket_path)
        if sync is not None and settings.admin_socket
        else None
    )
    if sync is not None:
        log.info("syncing %d sources from %s", len(sync.sources), settings.sources_file)
        sync.start()
    try:
        if server is not None:
            try:
                await server.start()
            except (KnowledgeError, OSError) as exc:  # e.g. a second bot on this data_dir
                log.warning("no admin socket: %s", exc)
                server = None
        yield AdminCommands.from_settings(sync, settings)
    finally:
        if server is not None:
            await server.stop()
        if sync is not None:
            await sync.stop()
        if review is not None:
            await review.stop()
        if memory is not None:
            await memory.stop()
        if statistics is not None:
            await statistics.stop()
        if warm_up is not None and not warm_up.done():
            warm_up.cancel()
