"""Intake, `carscout import` and `carscout status` on a real PostgreSQL catalog.

The intake and import tests are the SQLite ones, imported unchanged: ``workspace`` is a
workspace on a fresh PostgreSQL catalog and ``$CARSCOUT_CATALOG_URL`` names it, so the tests
that open their own ``--home`` (and the CLI) reach the same server, as a user's shell would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.app import app
from pipeline import schema as t
from pipeline.workspace import Workspace
from tests.pipeline.test_import import (  # noqa: F401 - collected here as PostgreSQL runs
    test_import_then_status_shows_the_right_counts,
    test_import_with_one_label_for_a_flat_folder,
)
from tests.pipeline.test_intake import (  # noqa: F401
    test_intake_case,
    test_same_bytes_twice_is_one_image_with_two_sources,
)
from tests.pipeline.test_status import test_status_counts_statuses_splits_and_review  # noqa: F401
from tests.postgres import PostgresServer, postgres_server, postgres_workspace  # noqa: F401


@pytest.fixture(autouse=True)
def workspace(postgres_workspace: Workspace) -> Workspace:  # noqa: F811
    """Every test here runs on PostgreSQL, including those that open their own --home."""
    return postgres_workspace


def test_cli_reaches_the_server_catalog_and_hides_its_password(
    postgres_server: PostgresServer,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.pipeline.test_import import _make_folder

    # The test server trusts every local login, so any password is accepted (and must not show).
    url = postgres_server.fresh_url().replace("carscout@", "carscout:s3cret@")
    monkeypatch.setenv("CARSCOUT_CATALOG_URL", url)
    home = tmp_path / "elsewhere"
    runner = CliRunner()
    imported = runner.invoke(
        app, ["--home", str(home), "import", str(_make_folder(tmp_path / "p", 2))]
    )
    assert imported.exit_code == 0, imported.output
    status = runner.invoke(app, ["--home", str(home), "status"])
    assert status.exit_code == 0, status.output
    flat = status.output.replace("\n", "")  # the console wraps the long URL
    assert "catalog: postgresql+psycopg://carscout:***@127.0.0.1" in flat
    assert "s3cret" not in status.output
    assert not (home / "catalog.sqlite").exists(), "no SQLite file was made beside the store"
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        assert ws.catalog.dialect == "postgresql"
        assert conn.execute(sa.select(sa.func.count()).select_from(t.images)).scalar_one() == 4
