"""a fixed test set per split version (fingerprint, count) and per run (fingerprint, looks)

Revision ID: 0004_test_fingerprint
Revises: 0003_growth_indexes
Create Date: 2026-11-30 07:20:00.000000
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0004_test_fingerprint"
down_revision = "0003_growth_indexes"
branch_labels = None
depends_on = None


def _fingerprint(members: list[tuple[str, str]]) -> str:
    # The definition of curation.splits.stored.fingerprint_of, written out here because a
    # migration must keep meaning what it meant when it was written.
    digest = hashlib.sha256()
    for sha256, label in sorted(members):
        digest.update(f"{sha256}\t{label}\n".encode())
    return digest.hexdigest()


def upgrade() -> None:
    # Plain ALTER TABLE on both backends: a batch "move and copy" on SQLite would drop tables
    # that rows of split_assignments and run_metrics refer to, which foreign keys refuse.
    for table in ("splits", "training_runs"):
        op.add_column(table, sa.Column("test_fingerprint", sa.String(length=64), nullable=True))
        op.add_column(table, sa.Column("test_count", sa.Integer(), nullable=True))
    op.add_column(
        "training_runs", sa.Column("test_looks", sa.Integer(), nullable=False, server_default="0")
    )
    conn = op.get_bind()
    # A version's test assignments never change after it is built, so the fingerprint of the
    # stored rows is the one it had when it was built.
    rows = conn.execute(
        sa.text(
            "SELECT a.split_id, i.sha256, a.label FROM split_assignments a "
            "JOIN images i ON i.id = a.image_id WHERE a.subset = 'test'"
        )
    ).all()
    members: dict[int, list[tuple[str, str]]] = {}
    for split_id, sha256, label in rows:
        members.setdefault(int(split_id), []).append((sha256, label))
    for split_id in conn.execute(sa.text("SELECT id FROM splits")).scalars():
        test = members.get(int(split_id), [])
        conn.execute(
            sa.text("UPDATE splits SET test_fingerprint = :f, test_count = :n WHERE id = :i"),
            {"f": _fingerprint(test), "n": len(test), "i": int(split_id)},
        )
    # Runs evaluated before this migration were looked at (at least) once, on a test set that
    # may have shrunk since; their fingerprint stays unknown (NULL), so they are never compared
    # on test with a run that has one.
    conn.execute(
        sa.text(
            "UPDATE training_runs SET test_looks = 1 WHERE id IN "
            "(SELECT run_id FROM run_metrics WHERE subset = 'test')"
        )
    )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 or newer), for the reason given in upgrade().
    op.drop_column("training_runs", "test_looks")
    for table in ("training_runs", "splits"):
        op.drop_column(table, "test_count")
        op.drop_column(table, "test_fingerprint")
