"""The catalog's tables, as SQLAlchemy Core metadata.

This is the *current* shape of the schema. Changes go through an Alembic migration in
``pipeline/migrations/versions`` as well; a test checks the two agree.

Conventions: timestamps are timezone-aware UTC; perceptual hashes are 16-character hex strings
(SQLite integers are signed, a 64-bit hash is not); free-form extras are JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

IMAGE_STATUSES = ("active", "duplicate", "rejected", "invalid")
SUBSETS = ("train", "validation", "test")


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, default=utcnow)


# A pipeline run (scrape, import, dedup, score, ...) that failures and summaries hang off.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, default=utcnow),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False, default="running"),
    sa.Column("params", sa.JSON, nullable=False, default=dict),
    sa.Column("summary", sa.JSON, nullable=False, default=dict),
)

listings = sa.Table(
    "listings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("site", sa.String(200), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False, unique=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("title", sa.String(500)),
    sa.Column("price", sa.Integer),
    sa.Column("year", sa.Integer),
    sa.Column("location", sa.String(200)),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False, default=utcnow),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False, default=utcnow),
    # Set once every photo of the listing was stored or recorded as failed: resume skips it.
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    # The scraper's state: the spec that last read the listing (a changed spec revisits
    # listings it left without photos or fields), visits that did not complete (bounded), and
    # photos that failed for good (`carscout scrape --retry-failed` tries them again).
    sa.Column("spec_fingerprint", sa.String(64)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("photos_failed", sa.Integer, nullable=False, default=0, server_default="0"),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("store_path", sa.String(300), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("bytes", sa.Integer, nullable=False),
    sa.Column("label_scraped", sa.String(200), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, default="active", index=True),
    sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("images.id")),
    sa.Column("listing_id", sa.Integer, sa.ForeignKey("listings.id"), index=True),
    sa.Column("normalized", sa.String(200)),
    _created(),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, default=utcnow),
    sa.CheckConstraint(
        "status IN ('active', 'duplicate', 'rejected', 'invalid')", name="status_known"
    ),
)

# Provenance: every place an image was found. The same bytes found twice are one image.
image_sources = sa.Table(
    "image_sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False, index=True),
    sa.Column("listing_id", sa.Integer, sa.ForeignKey("listings.id"), index=True),
    sa.Column("source_url", sa.String(2000)),
    sa.Column("source_path", sa.String(2000)),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    _created(),
    sa.UniqueConstraint("image_id", "source_url", "source_path", name="uq_image_sources_origin"),
)
sa.Index("ix_image_sources_source_url", image_sources.c.source_url)
sa.Index("ix_images_label_status", images.c.label, images.c.status)

failures = sa.Table(
    "failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("target", sa.String(2000), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False, index=True),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    _created(),
)

# History of every label or status change: nothing is overwritten without a trace.
image_events = sa.Table(
    "image_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False, index=True),
    sa.Column("field", sa.String(16), nullable=False),
    sa.Column("old_value", sa.String(200)),
    sa.Column("new_value", sa.String(200)),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False, default=""),
    _created(),
)

image_hashes = sa.Table(
    "image_hashes",
    metadata,
    sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False, index=True),
    _created(),
)
sa.Index("ix_image_hashes_kind_created", image_hashes.c.kind, image_hashes.c.created_at)

duplicate_groups = sa.Table(
    "duplicate_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kept_image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False),
    sa.Column("hash_kind", sa.String(16), nullable=False),
    sa.Column("threshold", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="resolved"),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    _created(),
)

duplicate_members = sa.Table(
    "duplicate_members",
    metadata,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("duplicate_groups.id"), primary_key=True),
    sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), primary_key=True),
    sa.Column("distance", sa.Integer, nullable=False, default=0),
)

label_scores = sa.Table(
    "label_scores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False, index=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    sa.Column("feature_source", sa.String(100), nullable=False),
    sa.Column("model", sa.String(100), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("suggested_label", sa.String(200)),
    sa.Column("issue_score", sa.Float, nullable=False),
    sa.Column("outlier_score", sa.Float, nullable=False),
    sa.Column("probabilities", sa.JSON, nullable=False, default=dict),
    _created(),
)
sa.Index("ix_label_scores_run_image", label_scores.c.run_id, label_scores.c.image_id)

review_items = sa.Table(
    "review_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False, index=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("suggested_label", sa.String(200)),
    sa.Column("score", sa.Float, nullable=False, default=0.0),
    sa.Column("state", sa.String(16), nullable=False, default="pending", index=True),
    sa.Column("detail", sa.JSON, nullable=False, default=dict),
    _created(),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
)

review_decisions = sa.Table(
    "review_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False),
    sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("old_label", sa.String(200)),
    sa.Column("new_label", sa.String(200)),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("undone_at", sa.DateTime(timezone=True)),
    _created(),
)

splits = sa.Table(
    "splits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("params", sa.JSON, nullable=False, default=dict),
    _created(),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, default=utcnow),
    # The test subset as built, fixed for the version's life: sha256 over its sorted
    # (image sha256, label) lines, and how many photos it holds.
    sa.Column("test_fingerprint", sa.String(64)),
    sa.Column("test_count", sa.Integer),
    sa.UniqueConstraint("name", "version", name="uq_splits_name_version"),
)

split_assignments = sa.Table(
    "split_assignments",
    metadata,
    sa.Column("split_id", sa.Integer, sa.ForeignKey("splits.id"), primary_key=True),
    sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), primary_key=True),
    sa.Column("subset", sa.String(16), nullable=False, index=True),
    sa.Column("label", sa.String(200), nullable=False),
    _created(),
    sa.CheckConstraint("subset IN ('train', 'validation', 'test')", name="subset_known"),
)

training_runs = sa.Table(
    "training_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("data_source", sa.String(500), nullable=False),
    sa.Column("split_id", sa.Integer, sa.ForeignKey("splits.id")),
    sa.Column("run_dir", sa.String(1000), nullable=False),
    sa.Column("config", sa.JSON, nullable=False, default=dict),
    sa.Column("status", sa.String(16), nullable=False, default="running"),
    sa.Column("role", sa.String(16), nullable=False, default="challenger"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, default=utcnow),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    # The test set the run's test metrics were measured on, and how often it was looked at.
    sa.Column("test_fingerprint", sa.String(64)),
    sa.Column("test_count", sa.Integer),
    sa.Column("test_looks", sa.Integer, nullable=False, default=0, server_default="0"),
)

run_metrics = sa.Table(
    "run_metrics",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("training_runs.id"), primary_key=True),
    sa.Column("subset", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    _created(),
)
