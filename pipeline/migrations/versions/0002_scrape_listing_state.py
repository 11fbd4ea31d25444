"""scrape state per listing: spec fingerprint, failed attempts, failed photos

Revision ID: 0002_scrape_listing_state
Revises: 0001
Create Date: 2026-11-23 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_scrape_listing_state"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spec_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("photos_failed", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.drop_column("photos_failed")
        batch_op.drop_column("attempts")
        batch_op.drop_column("spec_fingerprint")
