"""A throwaway PostgreSQL server for tests: initdb into a temporary folder, pg_ctl on a free
127.0.0.1 port, one fresh catalog per test, stopped when the session ends.

Test modules import the fixtures from here: ``postgres_server`` (then ``server.fresh_url()``)
or ``postgres_workspace`` (``catalog_url`` in tests/conftest.py gives SQLite and PostgreSQL in
turn); ``migrate`` moves a catalog's schema to a revision. A module that imports tests
written for the ``workspace`` fixture and overrides ``workspace`` with ``postgres_workspace``
runs them on PostgreSQL unchanged. The server is shared by every module of a session; the
last one to finish stops it.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alembic import command

from pipeline.catalog import Catalog, _alembic_config

if TYPE_CHECKING:
    from pipeline.workspace import Workspace

INSTALL_HINT = (
    "install Debian's `postgresql` package (`make setup` does) or set $CARSCOUT_PG_BIN to the "
    "folder holding initdb and pg_ctl"
)


def find_pg_bin() -> Path | None:
    """Return the folder with ``initdb`` and ``pg_ctl`` ($CARSCOUT_PG_BIN, Debian's newest
    /usr/lib/postgresql/N/bin, or the PATH), or None when PostgreSQL is not installed."""
    candidates = [os.environ.get("CARSCOUT_PG_BIN", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )[::-1]
    on_path = shutil.which("pg_ctl")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, reachable as user ``carscout`` (trust)."""

    USER = "carscout"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="carscout-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        # initdb refuses to run as root: the cluster then belongs to the `postgres` user.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{tail}")

    def start(self) -> None:
        """Create the cluster and start the server; wait until it accepts connections."""
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            self.USER,
            "-E",
            "UTF8",
            "--no-sync",
        )
        # A test server: durability is not wanted, speed is.
        options = (
            f"-p {{port}} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = _free_port()
            try:
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options.format(port=self.port),
                    "-l",
                    str(self.root / "log"),
                    "-w",
                    "-t",
                    "30",
                    "start",
                )
                return
            except RuntimeError:
                if _attempt == 2:
                    raise

    def restart(self) -> None:
        """Restart the server (same port): every open connection to it is dropped."""
        # With its log file: a server writing to this call's captured output would keep it open.
        log = str(self.root / "log")
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", log, "-m", "fast", "-w",
            "restart",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """Return the SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{database}"

    def fresh_url(self) -> str:
        """Return the URL of a new, empty catalog on this server.

        Each catalog is its own schema of one database (the URL sets ``search_path``): creating
        a schema takes a millisecond where ``CREATE DATABASE`` takes most of a second.
        """
        import psycopg

        with self._lock:
            name = f"catalog_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?options=-csearch_path%3D{name}"


_shared: dict[str, object] = {"server": None, "users": 0}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start (once per session) a PostgreSQL server on 127.0.0.1; skip where none is installed."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip(f"PostgreSQL is not installed: {INSTALL_HINT}")
    pytest.importorskip("psycopg", reason="psycopg is missing: pip install -e '.[postgres]'")
    if _shared["server"] is None:
        server = PostgresServer(bin_dir)
        server.start()
        _shared["server"] = server
    _shared["users"] = int(_shared["users"]) + 1  # type: ignore[call-overload]
    server = _shared["server"]
    assert isinstance(server, PostgresServer)
    try:
        yield server
    finally:
        _shared["users"] = int(_shared["users"]) - 1  # type: ignore[call-overload]
        if _shared["users"] == 0:
            _shared["server"] = None
            server.stop()


@pytest.fixture
def postgres_workspace(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """Return a workspace whose catalog is a fresh PostgreSQL catalog (store under tmp_path).

    ``$CARSCOUT_CATALOG_URL`` names the same catalog, so ``carscout --home <its home> …``
    (in process or as a subprocess) works on it exactly as a user's shell would.
    """
    from pipeline.settings import Settings
    from pipeline.workspace import Workspace

    url = postgres_server.fresh_url()
    monkeypatch.setenv("CARSCOUT_CATALOG_URL", url)
    with Workspace.open(Settings(home=(tmp_path / "home").resolve(), catalog_url=url)) as ws:
        yield ws


def migrate(catalog: Catalog, verb: str, revision: str) -> None:
    """Run Alembic's ``verb`` (``upgrade`` or ``downgrade``) on ``catalog`` to ``revision``."""
    config = _alembic_config()
    with catalog.engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, verb)(config, revision)
