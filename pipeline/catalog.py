"""The SQLite (or PostgreSQL) catalog of listings, images, provenance, failures and history.

:class:`Catalog` owns the engine. Every write goes through :meth:`Catalog.atomic`, one
transaction, and two writers (threads or processes, on one machine or several) queue instead of
failing or interleaving:

- on SQLite the connection runs in WAL mode with foreign keys on and a busy timeout, and write
  transactions start with ``BEGIN IMMEDIATE`` (the database's single write lock);
- on PostgreSQL (``postgresql+psycopg://…``, ``pip install "carscout[postgres]"``) write
  transactions first take a transaction-level advisory lock, the same one for every writer, so
  a writer's reads-then-writes (next split version, "is this sha256 stored yet?") see every
  earlier writer's commit, exactly as on SQLite; readers never wait. Schema upgrades take it
  too, so two processes opening a fresh catalog at once migrate it once.
"""

from __future__ import annotations

import sqlite3
import time
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
# Any fixed 64-bit number works; it only has to be the same for every carscout writer.
WRITER_LOCK_KEY = 0x6361_7273_636F_7574  # "carscout"
POSTGRES_HINT = 'pip install "carscout[postgres]" and use a URL like postgresql+psycopg://…'


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
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front so two of them queue on busy_timeout instead of
        # failing with "database is locked" when a read transaction tries to upgrade.
        immediate = conn.info.pop("begin_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, waiting up to the busy timeout for the lock it needs."""
    # SQLite answers "database is locked" at once, without its busy handler, when another
    # connection switches the same new file at that moment (two first opens of a catalog).
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _take_writer_lock(conn: Connection) -> None:
    """On PostgreSQL, wait (at most the busy timeout) for the catalog's writer lock; it is
    released when the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {BUSY_TIMEOUT_MS}")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")


class Catalog:
    """One catalog database, upgraded to the newest schema when opened.

    ``url`` is a SQLAlchemy URL (``sqlite:///path/catalog.sqlite`` or
    ``postgresql+psycopg://user:password@host/database``).
    """

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            dialect = sa.engine.make_url(url).get_backend_name()
            # pre_ping: a server restarted or an idle connection dropped between two stages (a
            # long review session, a scheduled job) is reconnected instead of failing.
            options = {"pool_pre_ping": True} if dialect == "postgresql" else {}
            self.engine = sa.create_engine(url, future=True, **options)
        except ImportError as exc:
            hint = POSTGRES_HINT if "postgres" in url else "use a URL like sqlite:///catalog.sqlite"
            raise CatalogError(f"cannot open catalog {self.display_url} ({exc}); {hint}") from exc
        except sa.exc.ArgumentError as exc:
            raise CatalogError(
                f"cannot open catalog {self.display_url} ({exc}); use a URL like "
                "sqlite:///data/catalog.sqlite or postgresql+psycopg://user@host/database"
            ) from exc
        if self.engine.dialect.name == "sqlite":
            _enable_sqlite_pragmas(self.engine)
        if upgrade:
            self.upgrade()

    @property
    def display_url(self) -> str:
        """Return the URL with any password replaced by ``***`` (for messages)."""
        try:
            return sa.engine.make_url(self.url).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            return repr(self.url)

    @property
    def dialect(self) -> str:
        """Return the database kind: ``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @classmethod
    def open(cls, path_or_url: str | Path) -> Catalog:
        """Return a catalog for a file path or a SQLAlchemy URL, creating the file if needed."""
        text = str(path_or_url)
        return cls(text if "://" in text else f"sqlite:///{Path(text).resolve()}")

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision, in place."""
        config = _alembic_config()
        try:
            with self.engine.connect() as conn:
                conn.info["begin_immediate"] = True
                with conn.begin():
                    _take_writer_lock(conn)
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
        except sa.exc.OperationalError as exc:
            if self.dialect == "sqlite":
                hint = "check the path is writable"
            else:
                hint = "check the server is running and the URL's host, port, user and database"
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise CatalogError(
                f"cannot open catalog {self.display_url} ({reason}); {hint}"
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
    def atomic(self, durable: bool = False) -> Iterator[Connection]:
        """Yield a connection inside one transaction: committed on success, rolled back on error.

        ``durable``: on SQLite the commit is flushed to disk before this returns (``synchronous
        =FULL`` for this transaction; otherwise WAL's ``NORMAL`` may lose the last commits to a
        power cut, never consistency). PostgreSQL commits are durable either way.
        """
        with self.engine.connect() as conn:
            full = durable and self.dialect == "sqlite"
            if full:
                # Outside any transaction: SQLite refuses to change it inside one.
                conn.connection.dbapi_connection.execute("PRAGMA synchronous=FULL")
            try:
                conn.info["begin_immediate"] = True
                with conn.begin():
                    _take_writer_lock(conn)
                    yield conn
            finally:
                if full:
                    conn.connection.dbapi_connection.execute("PRAGMA synchronous=NORMAL")

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
    """Insert one failure row and return its id (``target`` cut to the column's 2000
    characters: PostgreSQL refuses longer values where SQLite kept them)."""
    result = conn.execute(
        sa.insert(t.failures).values(
            stage=stage,
            target=target[: t.failures.c.target.type.length],
            reason=reason,
            detail=detail[:4000],
            run_id=run_id,
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


def running_runs(conn: Connection, kind: str) -> list[sa.Row[Any]]:
    """Return ``(id, params, summary)`` of every run of ``kind`` still marked ``running``."""
    return list(
        conn.execute(
            sa.select(t.runs.c.id, t.runs.c.params, t.runs.c.summary).where(
                t.runs.c.kind == kind, t.runs.c.status == "running"
            )
        ).all()
    )


def mark_run_interrupted(conn: Connection, run_id: int, summary: dict[str, Any]) -> None:
    """Mark a run ``interrupted`` (its process ended without finishing) with ``summary``."""
    conn.execute(
        sa.update(t.runs)
        .where(t.runs.c.id == run_id)
        .values(status="interrupted", finished_at=t.utcnow(), summary=summary)
    )
