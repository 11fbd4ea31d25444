"""indexes that keep queue building, new-hash search and status linear at a million photos

Revision ID: 0003_growth_indexes
Revises: 0002_scrape_listing_state
Create Date: 2026-11-30 07:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003_growth_indexes"
down_revision = "0002_scrape_listing_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # build_queue reads one scoring run's rows: without it every run's rows are read.
    op.create_index("ix_label_scores_run_image", "label_scores", ["run_id", "image_id"])
    # dedup asks for the hashes of one kind added since its last run.
    op.create_index("ix_image_hashes_kind_created", "image_hashes", ["kind", "created_at"])
    # status and known_labels group by label and status: answered from the index alone.
    op.create_index("ix_images_label_status", "images", ["label", "status"])


def downgrade() -> None:
    op.drop_index("ix_images_label_status", table_name="images")
    op.drop_index("ix_image_hashes_kind_created", table_name="image_hashes")
    op.drop_index("ix_label_scores_run_image", table_name="label_scores")
