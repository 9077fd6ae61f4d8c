"""Whether each verified answer in the answer memory is stale (its cited chunks changed or
gone), for the review console (issue: the feedback loop).

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``memory_status``."""
    op.create_table(
        "memory_status",
        sa.Column(
            "answer_id",
            sa.String(36),
            sa.ForeignKey("answers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``memory_status``."""
    op.drop_table("memory_status")
