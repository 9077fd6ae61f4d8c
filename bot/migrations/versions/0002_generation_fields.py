"""Per answer: the model, tokens in and out, uncited, partially supported, unsupported
sentences, and the abstention reason (issue: LLM answers you can trust with any model).

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns (nullable or with a default, so old rows stay valid)."""
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("model", sa.String(128), nullable=True))
        batch.add_column(sa.Column("tokens_in", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tokens_out", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("uncited", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "partially_supported", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("unsupported_claims", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("abstain_reason", sa.String(32), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("answers") as batch:
        for name in (
            "abstain_reason",
            "unsupported_claims",
            "partially_supported",
            "uncited",
            "tokens_out",
            "tokens_in",
            "model",
        ):
            batch.drop_column(name)
