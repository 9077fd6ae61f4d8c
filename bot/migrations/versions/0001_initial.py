"""The first schema: answers, votes, processed events.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables, those that do not exist yet (a database from before
    migrations has some or all of them)."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "answers" not in existing:
        _answers()
    if "votes" not in existing:
        _votes()
    if "processed_events" not in existing:
        _processed_events()


def _answers() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), index=True),
        sa.Column("platform", sa.String(32)),
        sa.Column("channel_id", sa.String(128), nullable=True),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("thread_ref", sa.String(128), nullable=True),
        sa.Column("message_ref", sa.String(128), nullable=True, index=True),
        sa.Column("audience", sa.String(16)),
        sa.Column("question", sa.Text()),
        sa.Column("answer_text", sa.Text()),
        sa.Column("citations", sa.JSON()),
        sa.Column("retrieved", sa.JSON()),
        sa.Column("generator", sa.String(64)),
        sa.Column("abstained", sa.Boolean()),
        sa.Column("degraded", sa.Boolean()),
        sa.Column("confidence", sa.Float()),
        sa.Column("latency_ms", sa.Float()),
    )


def _votes() -> None:
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "answer_id", sa.String(36), sa.ForeignKey("answers.id", ondelete="CASCADE"), index=True
        ),
        sa.Column("user_id", sa.String(128)),
        sa.Column("value", sa.Integer()),
        sa.Column("source", sa.String(32)),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("answer_id", "user_id", name="uq_vote_answer_user"),
    )


def _processed_events() -> None:
    op.create_table(
        "processed_events",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("processed_events")
    op.drop_table("votes")
    op.drop_table("answers")
