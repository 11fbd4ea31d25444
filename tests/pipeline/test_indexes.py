"""The growth indexes (migration 0003_growth_indexes): present on both backends after an upgrade
from the previous revision with rows in place, gone after a downgrade, and used by the queries
they were made for (SQLite's query plans)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import schema as t
from pipeline.catalog import Catalog
from tests.postgres import migrate, postgres_server  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(120)

REVISION = "0003_growth_indexes"
PREVIOUS = "0002_scrape_listing_state"
INDEXES = {
    "ix_label_scores_run_image": ("label_scores", ["run_id", "image_id"]),
    "ix_image_hashes_kind_created": ("image_hashes", ["kind", "created_at"]),
    "ix_images_label_status": ("images", ["label", "status"]),
}


def _indexes(catalog: Catalog) -> dict[str, tuple[str, list[str]]]:
    inspector = sa.inspect(catalog.engine)
    return {
        index["name"]: (table, list(index["column_names"]))
        for table in ("label_scores", "image_hashes", "images")
        for index in inspector.get_indexes(table)
        if index["name"] in INDEXES
    }


def test_upgrade_adds_the_indexes_over_existing_rows_and_downgrade_drops_them(
    catalog_url: str,
) -> None:
    catalog = Catalog(catalog_url, upgrade=False)
    migrate(catalog, "upgrade", PREVIOUS)
    with catalog.engine.begin() as conn:
        conn.execute(
            sa.insert(t.images).values(
                id=1,
                sha256="a" * 64,
                store_path="aa/a.jpg",
                width=160,
                height=120,
                format="JPEG",
                bytes=10,
                label_scraped="swift",
                label="swift",
                status="active",
                created_at=t.utcnow(),
                updated_at=t.utcnow(),
            )
        )
        conn.execute(
            sa.insert(t.image_hashes).values(
                image_id=1, kind="phash", value="0" * 16, created_at=t.utcnow()
            )
        )
    assert _indexes(catalog) == {}
    migrate(catalog, "upgrade", REVISION)
    assert catalog.schema_revision() == REVISION
    assert _indexes(catalog) == INDEXES
    with catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.images)).scalar_one() == 1
    migrate(catalog, "downgrade", PREVIOUS)
    assert _indexes(catalog) == {}
    with catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.image_hashes)).scalar_one()
    catalog.close()


def _plan(catalog: Catalog, query: sa.Select) -> str:
    compiled = query.compile(catalog.engine, compile_kwargs={"literal_binds": True})
    with catalog.reading() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    ("name", "query"),
    [
        (
            "ix_label_scores_run_image",
            sa.select(t.label_scores.c.id).where(
                t.label_scores.c.run_id == 3, t.label_scores.c.image_id == 7
            ),
        ),
        (
            "ix_image_hashes_kind_created",
            sa.select(t.image_hashes.c.image_id).where(
                t.image_hashes.c.kind == "phash",
                t.image_hashes.c.created_at > "2026-01-01 00:00:00",
            ),
        ),
        (
            "ix_images_label_status",
            sa.select(t.images.c.label, t.images.c.status, sa.func.count())
            .group_by(t.images.c.label, t.images.c.status)
            .order_by(t.images.c.label, t.images.c.status),
        ),
    ],
)
def test_sqlite_answers_the_queries_from_the_new_indexes(
    tmp_path: Path, name: str, query: sa.Select
) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    plan = _plan(catalog, query)
    assert name in plan, plan
    if name == "ix_images_label_status":
        # Covering: no table rows read and no temporary sort for the group-by.
        assert "COVERING INDEX" in plan and "TEMP B-TREE" not in plan, plan
    catalog.close()
