"""The document inventory: what each source holds in the index after its last applied sync, so
the review console (which reads only the database) can list documents never cited (issue:
review console, "documents never cited").

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``documents``."""
    op.create_table(
        "documents",
        sa.Column("origin", sa.String(128), primary_key=True),
        sa.Column("doc_id", sa.String(512), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``documents``."""
    op.drop_table("documents")
