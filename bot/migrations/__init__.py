"""Alembic migrations of the feedback store (run by :class:`bot.feedback.FeedbackStore` at open).

``upgrade(engine)`` brings any database to the newest schema: a new one is created, and one made
before migrations existed (some tables present, no ``alembic_version``) is upgraded in place:
revision 0001 creates only the tables that are missing. Revisions live in ``versions/``; add
one per schema change.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent


def config(engine: Engine) -> Config:
    """An Alembic config for ``engine`` (no alembic.ini: everything is set here)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest revision."""
    command.upgrade(config(engine), "head")
