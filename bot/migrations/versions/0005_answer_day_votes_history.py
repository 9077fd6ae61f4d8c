"""Per answer: its UTC day, its 👍/👎 totals, the thread's earlier turns and the link to the
platform message (when the platform gives one), with a covering
index for the overview (issue: review console, "the overview renders in ≤ 300 ms p95 with 100k
answers").

``day`` (``YYYY-MM-DD``, UTC) lets the database group by period without computing it per row;
``up`` and ``down`` repeat the ``votes`` table's totals for the answer (kept in step by the
store in the vote's own transaction), so the overview, the 👎 filter and the "most 👎" sort read
one table; ``ix_answers_overview`` holds every column the overview reads, so it is computed
from the index alone. Existing rows are backfilled.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OVERVIEW_COLUMNS = ("day", "created_at", "abstained", "degraded", "latency_ms", "up", "down")


def upgrade() -> None:
    """Add the columns, backfill them, and create the index."""
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("day", sa.String(10), nullable=True))
        batch.add_column(sa.Column("up", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("down", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("history", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("permalink", sa.String(512), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # SQLAlchemy stores UTC as "YYYY-MM-DD HH:MM:SS…" text
        op.execute("UPDATE answers SET day = substr(created_at, 1, 10)")
    else:
        op.execute("UPDATE answers SET day = to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
    op.execute(
        "UPDATE answers SET"
        " up = (SELECT count(*) FROM votes WHERE votes.answer_id = answers.id AND value = 1),"
        " down = (SELECT count(*) FROM votes WHERE votes.answer_id = answers.id AND value = -1)"
    )
    op.create_index("ix_answers_overview", "answers", list(OVERVIEW_COLUMNS))


def downgrade() -> None:
    """Drop the index and the columns."""
    op.drop_index("ix_answers_overview", table_name="answers")
    with op.batch_alter_table("answers") as batch:
        for name in ("permalink", "history", "down", "up", "day"):
            batch.drop_column(name)
