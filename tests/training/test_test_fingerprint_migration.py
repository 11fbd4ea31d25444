"""Migration 0004_test_fingerprint on both backends: a catalog with splits and evaluated runs
from before gets each split version's test fingerprint and count, and each evaluated run one
look with an unknown fingerprint; a downgrade removes the columns and keeps the rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from curation.splits.stored import fingerprint_of
from pipeline import schema as t
from pipeline.catalog import Catalog
from tests.postgres import migrate, postgres_server  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(120)

PREVIOUS = "0003_growth_indexes"


def _old_catalog(catalog: Catalog) -> None:
    """Rows as a catalog at the previous revision holds them: 4 photos, a split whose test
    subset has 2 of them, one evaluated run and one not."""
    now = t.utcnow()
    with catalog.engine.begin() as conn:
        for i in range(1, 5):
            conn.execute(
                sa.insert(t.images).values(
                    id=i,
                    sha256=f"{i:064x}",
                    store_path=f"00/{i}.jpg",
                    width=64,
                    height=64,
                    format="JPEG",
                    bytes=10,
                    label_scraped="swift",
                    label="swift" if i % 2 else "wagonr",
                    status="active",
                    created_at=now,
                    updated_at=now,
                )
            )
        conn.execute(
            sa.text(
                "INSERT INTO splits (id, name, version, seed, params, created_at, updated_at) "
                "VALUES (1, 'default', 1, 0, '{}', :now, :now)"
            ),
            {"now": now},
        )
        for image_id, subset, label in (
            (1, "train", "swift"),
            (2, "train", "wagonr"),
            (3, "test", "swift"),
            (4, "test", "wagonr"),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO split_assignments (split_id, image_id, subset, label, "
                    "created_at) VALUES (1, :i, :s, :l, :now)"
                ),
                {"i": image_id, "s": subset, "l": label, "now": now},
            )
        for run_id, name in ((1, "evaluated"), (2, "never-evaluated")):
            conn.execute(
                sa.text(
                    "INSERT INTO training_runs (id, name, model, data_source, split_id, run_dir, "
                    "config, status, role, started_at) VALUES (:id, :name, 'fast_cnn', "
                    "'catalog:default', 1, '/runs', '{}', 'finished', 'challenger', :now)"
                ),
                {"id": run_id, "name": name, "now": now},
            )
        conn.execute(
            sa.text(
                "INSERT INTO run_metrics (run_id, subset, name, value, created_at) VALUES "
                "(1, 'test', 'accuracy', 0.5, :now), (2, 'validation', 'accuracy', 0.6, :now)"
            ),
            {"now": now},
        )


def test_upgrade_fingerprints_old_splits_and_counts_old_looks(catalog_url: str) -> None:
    catalog = Catalog(catalog_url, upgrade=False)
    migrate(catalog, "upgrade", PREVIOUS)
    _old_catalog(catalog)
    migrate(catalog, "upgrade", "head")
    with catalog.reading() as conn:
        split = conn.execute(sa.select(t.splits)).one()
        runs = {
            row.name: row
            for row in conn.execute(sa.select(t.training_runs).order_by(t.training_runs.c.id))
        }
    expected = fingerprint_of([(f"{3:064x}", "swift"), (f"{4:064x}", "wagonr")])
    assert (split.test_fingerprint, split.test_count) == (expected, 2)
    assert runs["evaluated"].test_looks == 1 and runs["evaluated"].test_fingerprint is None
    assert runs["never-evaluated"].test_looks == 0
    migrate(catalog, "downgrade", PREVIOUS)
    columns = {c["name"] for c in sa.inspect(catalog.engine).get_columns("training_runs")}
    assert "test_looks" not in columns
    with catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.run_metrics)).scalar() == 2
    catalog.close()
