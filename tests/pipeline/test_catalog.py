"""The catalog: migrations match the schema, SQLite is set up safely, history is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pipeline import schema as t
from pipeline.catalog import Catalog, change_image
from pipeline.errors import CatalogError
from pipeline.intake import Provenance, intake_image
from tests.imagebytes import small_jpeg
from pipeline.workspace import Workspace


def test_migrations_build_exactly_the_declared_schema(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "catalog.sqlite")
    with catalog.reading() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []
    assert catalog.schema_revision() == Catalog.head_revision()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "catalog.sqlite")
    with catalog.atomic() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.insert(t.image_sources).values(image_id=999, label="x", source_url="u"))


def test_failed_transaction_leaves_nothing(workspace: Workspace) -> None:
    with pytest.raises(RuntimeError), workspace.catalog.atomic() as conn:
        conn.execute(sa.insert(t.runs).values(kind="test"))
        raise RuntimeError("boom")
    with workspace.catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar_one() == 0


def test_reopening_an_existing_catalog_keeps_its_rows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Workspace.open(home=home) as ws:
        intake_image(ws.catalog, ws.store, small_jpeg(1), Provenance("swift"))
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.images)).scalar_one() == 1
        assert ws.catalog.schema_revision() == Catalog.head_revision()


def test_label_and_status_changes_keep_history(workspace: Workspace) -> None:
    image_id = intake_image(
        workspace.catalog, workspace.store, small_jpeg(2), Provenance("swift")
    ).image_id
    assert image_id is not None
    with workspace.catalog.atomic() as conn:
        assert change_image(conn, image_id, actor="review:ann", label="wagonr", reason="looked")
        assert change_image(conn, image_id, actor="dedup", status="rejected")
        assert not change_image(conn, image_id, actor="dedup", status="rejected")
    with workspace.catalog.reading() as conn:
        events = conn.execute(sa.select(t.image_events).order_by(t.image_events.c.id)).all()
        image = conn.execute(sa.select(t.images).where(t.images.c.id == image_id)).one()
    assert [(e.field, e.old_value, e.new_value, e.actor) for e in events] == [
        ("label", "swift", "wagonr", "review:ann"),
        ("status", "active", "rejected", "dedup"),
    ]
    assert (image.label, image.label_scraped, image.status) == ("wagonr", "swift", "rejected")


def test_unknown_status_and_image_are_clear_errors(workspace: Workspace) -> None:
    image_id = intake_image(
        workspace.catalog, workspace.store, small_jpeg(3), Provenance("swift")
    ).image_id
    with workspace.catalog.atomic() as conn:
        with pytest.raises(CatalogError, match="unknown status"):
            change_image(conn, image_id or 0, actor="x", status="gone")
        with pytest.raises(CatalogError, match="not in the catalog"):
            change_image(conn, 12345, actor="x", status="active")


def test_bad_catalog_url_is_a_clear_error() -> None:
    with pytest.raises(CatalogError, match="sqlite:///"):
        Catalog("not a url at all")


def test_store_survives_threads_storing_the_same_bytes(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.store import ImageStore, sha256_of

    store = ImageStore(tmp_path / "store")
    data = small_jpeg(9, (400, 300))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.put(data, "jpg"), range(64)))
    assert {r for r in results} == {(sha256_of(data), results[0][1])}
    assert store.path(results[0][1]).read_bytes() == data
    assert list(store.iter_temporaries()) == []


def test_a_duplicate_can_be_repointed_with_history(workspace: Workspace) -> None:
    ids = [
        intake_image(workspace.catalog, workspace.store, small_jpeg(20 + i), Provenance("swift"))
        for i in range(3)
    ]
    a, b, c = (r.image_id for r in ids)
    assert a and b and c
    with workspace.catalog.atomic() as conn:
        change_image(conn, c, actor="dedup", status="duplicate", duplicate_of=a)
        assert change_image(conn, c, actor="dedup", status="duplicate", duplicate_of=b)
        assert not change_image(conn, c, actor="dedup", status="duplicate", duplicate_of=b)
        change_image(conn, c, actor="review:ann", status="active")
        with pytest.raises(CatalogError, match="duplicate_of needs"):
            change_image(conn, c, actor="x", duplicate_of=a)
    with workspace.catalog.reading() as conn:
        events = conn.execute(
            sa.select(
                t.image_events.c.field, t.image_events.c.old_value, t.image_events.c.new_value
            )
            .where(t.image_events.c.image_id == c)
            .order_by(t.image_events.c.id)
        ).all()
        image = conn.execute(sa.select(t.images).where(t.images.c.id == c)).one()
    assert [tuple(e) for e in events] == [
        ("status", "active", "duplicate"),
        ("duplicate_of", None, str(a)),
        ("duplicate_of", str(a), str(b)),
        ("status", "duplicate", "active"),
        ("duplicate_of", str(b), None),
    ]
    assert (image.status, image.duplicate_of) == ("active", None)
