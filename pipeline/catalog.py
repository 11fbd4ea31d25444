"""The SQLite (or PostgreSQL) catalog of listings, images, provenance, failures and history.

:class:`Catalog` owns the engine. Every write goes through :meth:`Catalog.atomic`, one
transaction; on SQLite the connection runs in WAL mode with foreign keys on and a busy timeout,
and write transactions start with ``BEGIN IMMEDIATE`` so that two writers queue instead of
failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from pipeline import schema as t
from pipeline.errors import CatalogError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 30_000


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _enable_sqlite_pragmas(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front so two of them queue on busy_timeout instead of
        # failing with "database is locked" when a read transaction tries to upgrade.
        immediate = conn.info.pop("begin_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Catalog:
    """One catalog database, upgraded to the newest schema when opened.

    ``url`` is a SQLAlchemy URL (``sqlite:///path/catalog.sqlite`` or ``postgresql://…``).
    """

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(url, future=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise CatalogError(
                f"cannot open catalog {url!r} ({exc}); use a URL like sqlite:///data/catalog.sqlite"
            ) from exc
        if self.engine.dialect.name == "sqlite":
            _enable_sqlite_pragmas(self.engine)
        if upgrade:
            self.upgrade()

    @classmethod
    def open(cls, path_or_url: str | Path) -> Catalog:
        """Return a catalog for a file path or a SQLAlchemy URL, creating the file if needed."""
        text = str(path_or_url)
        return cls(text if "://" in text else f"sqlite:///{Path(text).resolve()}")

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision, in place."""
        config = _alembic_config()
        try:
            with self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except sa.exc.OperationalError as exc:
            raise CatalogError(
                f"cannot upgrade catalog {self.url} ({exc.orig}); check the path is writable"
            ) from exc

    def schema_revision(self) -> str | None:
        """Return the Alembic revision the database is at (None for an empty database)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        """Return the newest revision the code knows."""
        return ScriptDirectory.from_config(_alembic_config()).get_current_head()

    @contextmanager
    def atomic(self) -> Iterator[Connection]:
        """Yield a connection inside one transaction: committed on success, rolled back on error."""
        with self.engine.connect() as conn:
            conn.info["begin_immediate"] = True
            with conn.begin():
                yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """Yield a connection for reads (no transaction is held open for writing)."""
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# --- small shared writes used by several stages -------------------------------------------


def record_failure(
    conn: Connection,
    *,
    stage: str,
    target: str,
    reason: str,
    detail: str = "",
    run_id: int | None = None,
) -> int:
    """Insert one failure row and return its id."""
    result = conn.execute(
        sa.insert(t.failures).values(
            stage=stage, target=target, reason=reason, detail=detail[:4000], run_id=run_id
        )
    )
    return int(result.inserted_primary_key[0])


def change_image(
    conn: Connection,
    image_id: int,
    *,
    actor: str,
    reason: str = "",
    label: str | None = None,
    status: str | None = None,
    duplicate_of: int | None = None,
) -> bool:
    """Change an image's label, status and duplicate pointer, one history row per changed field.

    ``duplicate_of`` is only kept with ``status="duplicate"`` (any other status clears it), so a
    duplicate can be re-pointed to a better copy with ``status="duplicate", duplicate_of=new``.
    Returns True when something changed. Raises :class:`CatalogError` for an unknown image,
    an unknown status, or a duplicate pointer without ``status="duplicate"``.
    """
    row = conn.execute(
        sa.select(t.images.c.label, t.images.c.status, t.images.c.duplicate_of).where(
            t.images.c.id == image_id
        )
    ).first()
    if row is None:
        raise CatalogError(f"image {image_id} is not in the catalog; run `carscout status`")
    if status is not None and status not in t.IMAGE_STATUSES:
        raise CatalogError(f"unknown status {status!r}; use one of {', '.join(t.IMAGE_STATUSES)}")
    if duplicate_of is not None and status != "duplicate":
        raise CatalogError("duplicate_of needs status='duplicate'")
    wanted: dict[str, Any] = {}
    if label is not None:
        wanted["label"] = label
    if status is not None:
        wanted["status"] = status
        wanted["duplicate_of"] = duplicate_of if status == "duplicate" else None
    changes = {field: new for field, new in wanted.items() if new != getattr(row, field)}
    if not changes:
        return False
    conn.execute(
        sa.update(t.images)
        .where(t.images.c.id == image_id)
        .values(**changes, updated_at=t.utcnow())
    )
    conn.execute(
        sa.insert(t.image_events),
        [
            {
                "image_id": image_id,
                "field": field,
                "old_value": _text(getattr(row, field)),
                "new_value": _text(new),
                "actor": actor,
                "reason": reason,
            }
            for field, new in changes.items()
        ],
    )
    return True


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def start_run(conn: Connection, kind: str, params: dict[str, Any] | None = None) -> int:
    """Insert a pipeline run row and return its id."""
    result = conn.execute(sa.insert(t.runs).values(kind=kind, params=params or {}))
    return int(result.inserted_primary_key[0])


def finish_run(conn: Connection, run_id: int, summary: dict[str, Any], status: str = "ok") -> None:
    """Mark a pipeline run finished with its summary."""
    conn.execute(
        sa.update(t.runs)
        .where(t.runs.c.id == run_id)
        .values(finished_at=t.utcnow(), status=status, summary=summary)
    )
