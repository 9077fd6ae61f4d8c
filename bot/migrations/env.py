"""Alembic environment: runs migrations on the engine that ``bot.migrations.config`` passes.

* PostgreSQL: the whole upgrade runs under a transaction-scoped advisory lock, so replicas that
  start together upgrade one after the other (the later ones find the schema current).
* SQLite: foreign keys are switched off while migrating. Batch mode alters a table by copying
  it to a new one and dropping the old (https://alembic.sqlalchemy.org/en/latest/batch.html);
  with ``foreign_keys=ON`` that drop cascades, so altering ``answers`` would delete every vote.
  The pragma only takes effect outside a transaction, hence before ``begin``; afterwards
  ``PRAGMA foreign_key_check`` must find no dangling row. ``BEGIN IMMEDIATE`` takes the write
  lock before the revision is read, so concurrent upgrades wait for each other too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

ADVISORY_LOCK_KEY = 7_310_455_021  # any fixed 64-bit key, the same in every replica

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()  # ends the autobegun (empty) transaction; the pragma stays set
    try:
        with connection.begin():
            if sqlite:  # take the write lock before reading the revision: replicas wait
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
                )
            context.configure(connection=connection, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if dangling:
                    raise RuntimeError(f"migration left rows without their parent: {dangling}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
