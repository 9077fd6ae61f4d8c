"""Shared fixtures: a real engine over a tiny two-audience knowledge base.

``kb_engine`` ingests ``tests/data/kb/public`` as ``public`` and ``tests/data/kb/internal`` as
``internal`` into a Qdrant local-mode store in a temporary folder, with the real embedding model.
It is session-scoped: loading the model and ingesting take a few seconds, and Qdrant local mode
allows one client per folder, so every test module shares the one engine.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bot.engine import SupportEngine
from bot.feedback import FeedbackStore
from bot.ops import SyncService
from bot.settings import Settings
from knowledge.sources.config import SourceConfig
from tests.fake_openai import FakeOpenAI, start

POSTGRES_URL = os.environ.get("SUPPORTBOT_TEST_POSTGRES_URL")
FEEDBACK_BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])

TESTS = Path(__file__).parent
KB = TESTS / "data" / "kb"
SHARED = TESTS.parent.parent / "shared" / "data" / "contoso_hr_benefits"

# Questions the tiny knowledge base answers, by audience.
PUBLIC_QUESTION = "How many days do I have to return an item for a refund?"
INTERNAL_QUESTION = "What is the salary band for a senior support engineer?"
# Questions about tests/data/office, each with the document that answers it.
OFFICE_QUESTIONS = [
    ("How many days of paid annual leave do full-time employees get?", "leave.md"),
    ("How far in advance must leave requests go to my manager?", "leave.md"),
    ("What discount do employees get in the staff canteen?", "lunch.md"),
    ("When is the canteen open?", "lunch.md"),
    ("Where can employees park their cars?", "parking.md"),
    ("Where do visitors park?", "parking.md"),
    ("What should I do if I lose my access badge?", "security.md"),
    ("Where is the fire assembly point?", "security.md"),
    ("How often are laptops replaced?", "laptops.md"),
    ("Whom do I tell about a stolen laptop?", "laptops.md"),
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# One Hypothesis profile for the fuzz runs over the Slack and Discord message handlers: one
# running bot (a function-scoped fixture) serves every example, and each takes a real answer.
fuzz_run = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def hostile_messages(pieces: Sequence[str], max_pieces: int) -> st.SearchStrategy[str]:
    """Messages made of 1..``max_pieces`` parts, each one of ``pieces`` (pings, markup, control
    characters, scripts) or any short text."""
    return st.lists(
        st.one_of(st.sampled_from(pieces), st.text(max_size=30)), min_size=1, max_size=max_pieces
    ).map("".join)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings isolated from the developer's environment and config file."""
    return Settings(data_dir=data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]


def engine_over(
    tmp_path_factory: pytest.TempPathFactory, documents: dict[str, str], audience: str = "public"
) -> SupportEngine:
    """A real engine of its own over ``documents`` (file name -> text), ingested for
    ``audience``; the caller closes it."""
    docs = tmp_path_factory.mktemp("docs")
    for name, text in documents.items():
        (docs / name).write_text(text)
    engine = SupportEngine.from_settings(make_settings(tmp_path_factory.mktemp("data")))
    engine.kb.ingest([docs], audience=audience, progress=False)
    return engine


@pytest.fixture(scope="session")
def kb_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose data_dir is a fresh temporary folder."""
    return make_settings(tmp_path_factory.mktemp("kb-data"))


@pytest.fixture(scope="session")
def kb_engine(kb_settings: Settings) -> Iterator[SupportEngine]:
    """A real SupportEngine over tests/data/kb (public and internal documents)."""
    engine = SupportEngine.from_settings(kb_settings)
    engine.kb.ingest([KB / "public"], audience="public", progress=False)
    engine.kb.ingest([KB / "internal"], audience="internal", progress=False)
    yield engine
    engine.close()


@pytest.fixture
def office_sync(tmp_path: Path) -> Iterator[SyncService]:
    """A sync service over a fresh engine of its own (a temporary index) with one folder
    source, ``office``: a copy of ``tests/data/office`` (five documents)."""
    docs = tmp_path / "office-docs"
    shutil.copytree(TESTS / "data" / "office", docs)
    engine = SupportEngine.from_settings(make_settings(tmp_path / "office-data"))
    store = FeedbackStore(f"sqlite:///{tmp_path / 'office-sync.db'}")
    source = SourceConfig(id="office", kind="folder", location=str(docs))
    yield SyncService(engine, store, [source])
    store.close()
    engine.close()


@pytest.fixture(scope="session")
def contoso() -> Path:
    """The shared Contoso data folder; skips the test when ../shared is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (clone with ../shared beside the repo)")
    return SHARED


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    """A local server speaking the chat-completions protocol, and its ``/v1`` base URL."""
    server = FakeOpenAI()
    runner, url = await start(server)
    yield server, url
    await runner.cleanup()


def database_at(
    url: str,
    revision: str,
    *,
    created_at: datetime,
    votes: Sequence[tuple[str, int]],
) -> None:
    """Make a database at an old schema ``revision`` holding one answer, ``a1``, created at
    ``created_at``, with ``votes`` (user, +1/-1) on it, written with that revision's SQL."""
    from alembic import command

    from bot import migrations
    from bot.feedback import make_engine

    engine = make_engine(url)
    command.upgrade(migrations.config(engine), revision)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO answers (id, created_at, platform, audience, question, answer_text,"
                " citations, retrieved, generator, abstained, degraded, confidence, latency_ms)"
                " VALUES ('a1', :when, 'slack', 'public', 'How long for a refund?',"
                " 'Thirty days [1].', '[]', '[]', 'extractive', false, false, 0.5, 10.0)"
            ),
            {"when": created_at},
        )
        for user, value in votes:
            conn.execute(
                sa.text(
                    "INSERT INTO votes (answer_id, user_id, value, source, created_at,"
                    " updated_at) VALUES ('a1', :u, :v, 'button', :when, :when)"
                ),
                {"u": user, "v": value, "when": created_at},
            )
    engine.dispose()


@pytest.fixture(params=FEEDBACK_BACKENDS)
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database (a file on SQLite; a new database on PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    server = sa.engine.make_url(POSTGRES_URL or "")
    name = f"supportbot_mig_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
