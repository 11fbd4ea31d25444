"""A Dask worker without the shared folder (a machine where the store is not mounted): every
stage that sends it photos to read stops with one line naming the fix, instead of recording the
photos as unreadable or deciding pairs it could not check.

The worker runs in a mount namespace of its own where the shared folder is an empty tmpfs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pipeline import schema as t
from pipeline.errors import ConfigError
from pipeline.workspace import Workspace
from tests.flows.dask_processes import can_hide_folders, running_cluster
from tests.flows.test_cluster_cli import _draw

distributed = pytest.importorskip("distributed", reason="the dask extra: pip install -e '.[dask]'")
pytestmark = pytest.mark.skipif(
    not can_hide_folders(), reason="needs `unshare --mount` (root or user namespaces)"
)

FIX = "mount the store (and any folder being imported) at the same path on every worker"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the data homes and the photos: what the worker does not see."""
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="module")
def blind_cluster(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Iterator[str]:
    """A scheduler and one worker that sees ``shared`` empty; yields the scheduler's address."""
    with running_cluster(tmp_path_factory.mktemp("dask"), "blind", hide=shared) as processes:
        yield processes.address


def _invoke(*args: str) -> tuple[int, BaseException | None, str]:
    from cli.app import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.exception, result.output


def _rows(home: Path, table: sa.Table) -> int:
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _one_line_fix(outcome: tuple[int, BaseException | None, str], home: Path) -> None:
    code, error, output = outcome
    assert code != 0 and isinstance(error, ConfigError), output
    message = str(error)
    assert message.startswith("a worker could not read ") and "\n" not in message
    assert FIX in message and str(home.parent) in message


def test_each_stage_stops_with_one_line_on_a_worker_without_the_store(
    blind_cluster: str, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation.dedup import aligned

    photos = _draw(shared / "photos", per_label=6)
    home = shared / "home"
    cluster = ["--home", str(home), "--cluster", blind_cluster]
    # import reads the folder on the worker: it stops before storing anything.
    _one_line_fix(_invoke(*cluster, "import", str(photos)), photos / "x")
    assert _rows(home, t.images) == 0
    assert _invoke("--home", str(home), "import", str(photos))[0] == 0
    # dedup hashes the new photos on the worker.
    _one_line_fix(_invoke(*cluster, "dedup"), home / "store")
    assert _rows(home, t.image_hashes) == _rows(home, t.failures) == 0
    # split's units check candidate pairs on the worker (hashed here first).
    assert _invoke("--home", str(home), "dedup", "--dry-run")[0] == 0
    monkeypatch.setattr(aligned, "_VERDICTS", OrderedDict())  # forget dedup's verdicts
    _one_line_fix(_invoke(*cluster, "split", "--fractions", "0.5,0.25,0.25"), home / "store")
    assert _rows(home, t.split_assignments) == 0
    # score reads the photos into features on the worker.
    _one_line_fix(_invoke(*cluster, "score", "--features", "handmade"), home / "store")
    assert _rows(home, t.label_scores) == 0
