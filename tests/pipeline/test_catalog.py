"""The catalog: migrations match the schema, SQLite is set up safely, history is kept.

Every test that takes ``catalog_url`` or ``workspace`` runs twice: on a SQLite file and on a
fresh catalog of a real PostgreSQL server (tests/postgres.py starts one for the session).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pipeline import schema as t
from pipeline.catalog import Catalog, change_image, record_failure
from pipeline.errors import CatalogError
from pipeline.intake import Provenance, intake_image
from pipeline.settings import Settings, load_settings
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg
from tests.postgres import postgres_server  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def workspace(catalog_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """Return a fresh workspace on ``catalog_url`` (both backends) with its store under tmp."""
    settings = Settings(home=tmp_path / "home", catalog_url=catalog_url)
    with Workspace.open(settings) as ws:
        yield ws


def test_migrations_build_exactly_the_declared_schema(catalog_url: str) -> None:
    catalog = Catalog(catalog_url)
    with catalog.reading() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []
    assert catalog.schema_revision() == Catalog.head_revision()
    catalog.upgrade()  # a second upgrade is a no-op, not an error
    assert catalog.schema_revision() == Catalog.head_revision()
    catalog.close()


def test_foreign_keys_are_enforced(workspace: Workspace) -> None:
    with pytest.raises(sa.exc.IntegrityError), workspace.catalog.atomic() as conn:
        conn.execute(sa.insert(t.image_sources).values(image_id=999, label="x", source_url="u"))


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


def test_reopening_an_existing_catalog_keeps_its_rows(
    catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    if catalog_url.startswith("postgresql"):  # as a user sets it: $CARSCOUT_CATALOG_URL
        monkeypatch.setenv("CARSCOUT_CATALOG_URL", catalog_url)
    with Workspace.open(home=home) as ws:
        assert ws.settings.catalog_url.split(":")[0] == catalog_url.split(":")[0]
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


def test_catalog_url_comes_from_the_environment_or_carscout_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://team@db.example:5432/carscout"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "carscout.toml").write_text(f'catalog_url = "{url}"\n')
    assert load_settings().catalog_url == url
    # A --home elsewhere moves the store, not a catalog that lives on a server.
    assert load_settings().with_home(tmp_path / "other").catalog_url == url
    monkeypatch.setenv("CARSCOUT_CATALOG_URL", url + "2")
    assert load_settings(home=tmp_path / "h").catalog_url == url + "2"


def test_an_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://carscout:secret@127.0.0.1:{port}/catalog"
    pytest.importorskip("psycopg")
    with pytest.raises(CatalogError, match="check the server is running") as info:
        Catalog(url)
    assert "secret" not in str(info.value)
    assert "\n" not in str(info.value)


def _racing_writers(url: str, writers: int, body) -> list[BaseException]:  # type: ignore[no-untyped-def]
    """Run ``body(catalog, i)`` in ``writers`` threads at once, each with its own catalog (its
    own engine and connections, as separate processes would have); return their errors."""
    catalogs = [Catalog(url, upgrade=False) for _ in range(writers)]
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            body(catalogs[i], i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for catalog in catalogs:
        catalog.close()
    return errors


def test_two_writers_at_once_queue_instead_of_interleaving(workspace: Workspace) -> None:
    """Read-then-write transactions (the next split version) from concurrent writers each see
    the previous one's commit: no lost update, no unique violation, no "database is locked"."""

    def next_version(catalog: Catalog, _i: int) -> None:
        with catalog.atomic() as conn:
            latest = conn.execute(
                sa.select(sa.func.max(t.splits.c.version)).where(t.splits.c.name == "race")
            ).scalar_one_or_none()
            time.sleep(0.05)  # widen the window in which an unlocked writer would interleave
            conn.execute(sa.insert(t.splits).values(name="race", version=(latest or 0) + 1, seed=0))

    errors = _racing_writers(workspace.catalog.url, 4, next_version)
    assert errors == []
    with workspace.catalog.reading() as conn:
        versions = conn.execute(sa.select(t.splits.c.version).order_by("version")).scalars()
        assert list(versions) == [1, 2, 3, 4]


def test_two_writers_storing_the_same_photo_make_one_image(workspace: Workspace) -> None:
    data = small_jpeg(31)

    def store(catalog: Catalog, i: int) -> None:
        intake_image(catalog, workspace.store, data, Provenance("swift", source_path=f"{i}.jpg"))

    assert _racing_writers(workspace.catalog.url, 3, store) == []
    with workspace.catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.images)).scalar_one() == 1
        sources = conn.execute(sa.select(t.image_sources.c.source_path)).scalars()
        assert sorted(sources) == ["0.jpg", "1.jpg", "2.jpg"]
        assert conn.execute(sa.select(sa.func.count()).select_from(t.failures)).scalar_one() == 0


def test_a_writer_does_not_block_readers(workspace: Workspace) -> None:
    intake_image(workspace.catalog, workspace.store, small_jpeg(32), Provenance("swift"))
    reader = Catalog(workspace.catalog.url, upgrade=False)
    with workspace.catalog.atomic() as conn:
        conn.execute(sa.update(t.images).values(label="wagonr"))
        began = time.monotonic()
        with reader.reading() as other:
            seen = other.execute(sa.select(t.images.c.label)).scalar_one()
        assert time.monotonic() - began < 2
        assert seen == "swift"  # the uncommitted change is invisible
    reader.close()


def test_two_processes_opening_a_new_catalog_migrate_it_once(catalog_url: str) -> None:
    errors = _racing_writers_open(catalog_url, 3)
    assert errors == []
    assert Catalog(catalog_url, upgrade=False).schema_revision() == Catalog.head_revision()


def _racing_writers_open(url: str, openers: int) -> list[BaseException]:
    start = threading.Barrier(openers)
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            Catalog(url).close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_a_failure_with_a_very_long_target_is_still_recorded(workspace: Workspace) -> None:
    target = "https://example.com/photo?" + "q" * 3000  # PostgreSQL enforces varchar(2000)
    with workspace.catalog.atomic() as conn:
        record_failure(conn, stage="scrape", target=target, reason="http_404")
    with workspace.catalog.reading() as conn:
        assert conn.execute(sa.select(t.failures.c.target)).scalar_one() == target[:2000]
