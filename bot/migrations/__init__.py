"""Alembic migrations of the feedback store (``supportbot db upgrade``, or at open).

``upgrade(engine)`` brings any database to the newest schema: a new one is created, and one made
before migrations existed (some tables present, no ``alembic_version``) is upgraded in place:
revision 0001 creates only the tables that are missing. Revisions live in ``versions/``; add
one per schema change.

:class:`bot.feedback.FeedbackStore` upgrades at open by default (the embedded set-up). A
deployment with several replicas turns that off (``database_auto_upgrade = false``) and runs
``supportbot db upgrade`` once per release (the compose file's ``migrate`` service, the Helm
chart's pre-upgrade hook); a store then refuses a database that is not at :func:`head` with
:class:`SchemaOutdatedError`, which names the command.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from knowledge.errors import KnowledgeError

HERE = Path(__file__).parent


class SchemaOutdatedError(KnowledgeError):
    """The database's schema revision is not the one this code needs."""


def config(engine: Engine) -> Config:
    """An Alembic config for ``engine`` (no alembic.ini: everything is set here)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


def head() -> str:
    """The newest revision id (e.g. ``"0007"``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    revision = ScriptDirectory.from_config(cfg).get_current_head()
    assert revision is not None  # versions/ is never empty
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision, ``None`` for a new database (or one from before migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest revision (a no-op when current)."""
    command.upgrade(config(engine), "head")


def check(engine: Engine) -> None:
    """Raise :class:`SchemaOutdatedError` unless the database is at :func:`head`."""
    have, want = current(engine), head()
    if have != want:
        raise SchemaOutdatedError(
            f"the feedback database is at schema revision {have or 'none'}, this version needs "
            f"{want}: run 'supportbot db upgrade' (or set SUPPORTBOT_DATABASE_AUTO_UPGRADE=true)"
        )
