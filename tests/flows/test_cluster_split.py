"""``carscout split`` and ``check-leaks`` with ``--cluster`` on a real Dask cluster (a ``dask
scheduler`` and two ``dask worker`` processes in folders of their own): the near-duplicate pair
checks of their units run as tasks on the workers, and the split and the leaks found equal
the default runner's; the same for the split flow (``run``'s split stage) given a cluster."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageOps
from typer.testing import CliRunner

from curation.splits.units import find_units, unit_decision
from pipeline import schema as t
from pipeline.workspace import Workspace
from tests.flows.dask_processes import DaskProcesses
from tests.flows.test_cluster_cli import _draw, _shards_done

distributed = pytest.importorskip("distributed", reason="the dask extra: pip install -e '.[dask]'")


def _carscout(*args: str) -> str:
    from cli.app import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == 0, f"{args}: {result.output}{result.exception!r}"
    return result.output


def _outside(photos: Path, folder: Path) -> Path:
    """Write a folder to check for leaks: a mirrored and a cropped copy of two catalog photos
    and two photos the catalog does not hold."""
    folder.mkdir()
    mirrored = ImageOps.mirror(Image.open(photos / "swift" / "08.jpg"))
    mirrored.save(folder / "mirrored.jpg", quality=90)
    cropped = Image.open(photos / "wagonr" / "12.jpg").crop((12, 9, 308, 231))
    cropped.save(folder / "crop.jpg", quality=90)
    for k in range(2):
        rng = random.Random(f"outside-{k}")
        image = Image.new("RGB", (320, 240), (rng.randint(0, 80),) * 3)
        draw = ImageDraw.Draw(image)
        for _ in range(30):
            x, y = rng.randint(0, 300), rng.randint(0, 220)
            draw.ellipse((x, y, x + 40, y + 30), fill=tuple(rng.randint(0, 255) for _ in range(3)))
        image.save(folder / f"unrelated-{k}.jpg")
    return folder


def _assignments(home: Path) -> list[tuple[int, str]]:
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        rows = conn.execute(
            sa.select(t.split_assignments.c.image_id, t.split_assignments.c.subset)
        ).all()
    return sorted((int(image_id), subset) for image_id, subset in rows)


@pytest.fixture(scope="module")
def hashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return ``(photos, home)``: the photos imported and hashed but not deduplicated (``dedup
    --dry-run``), so a split's units must tie each repost to its original through the align
    decision's pair checks."""
    root = tmp_path_factory.mktemp("hashed")
    photos, home = _draw(root / "photos"), root / "home"
    _carscout("--home", str(home), "import", str(photos))
    _carscout("--home", str(home), "dedup", "--dry-run")
    return photos, home


def _copies(home: Path, folder: Path) -> tuple[Path, Path]:
    """Return two copies of ``home``: the same catalog, its store files at other paths (so no
    verdict this process remembers applies to them)."""
    return shutil.copytree(home, folder / "plain"), shutil.copytree(home, folder / "spread")


def test_split_and_check_leaks_on_the_cluster_give_what_the_default_runner_gives(
    dask_cluster: DaskProcesses, hashed: tuple[Path, Path], tmp_path: Path
) -> None:
    photos = hashed[0]
    plain, spread = _copies(hashed[1], tmp_path)
    outside = _outside(photos, tmp_path / "outside")
    address = dask_cluster.address
    split = ["split", "--fractions", "0.5,0.25,0.25", "--seed", "3"]
    leaks = ["check-leaks", str(outside)]
    with distributed.Client(address, set_as_default=False) as client:
        before = sum(_shards_done(client, "pairs").values())
        _carscout("--home", str(spread), "--cluster", address, *split)
        after_split = sum(_shards_done(client, "pairs").values())
        spread_leaks = _carscout("--home", str(spread), "--cluster", address, *leaks)
        after_leaks = sum(_shards_done(client, "pairs").values())
    _carscout("--home", str(plain), *split)
    plain_leaks = _carscout("--home", str(plain), *leaks)

    # Each command's candidate pairs (fewer than 2,000) were checked as one task on a worker.
    assert (after_split - before, after_leaks - after_split) == (1, 1)
    assigned = _assignments(spread)
    assert assigned == _assignments(plain) and assigned
    with Workspace.open(home=plain) as ws, ws.catalog.reading() as conn:
        ids = [image_id for image_id, _ in assigned]
        graph = find_units(conn, ids, decision=unit_decision(8), store=ws.store)
    tied = [unit for unit in graph.members() if len(unit) > 1]
    subset = dict(assigned)
    # Reposts the pair checks confirmed (not every one: these drawings have few keypoints).
    assert len(tied) >= 2 and all(len({subset[i] for i in unit}) == 1 for unit in tied)
    assert spread_leaks == plain_leaks
    assert "2 of 4 files have a copy" in plain_leaks
    assert "mirrored.jpg" in plain_leaks and "crop.jpg" in plain_leaks


@pytest.mark.usefixtures("prefect_harness")
def test_runs_split_stage_on_the_cluster_sends_its_pair_checks_there(
    dask_cluster: DaskProcesses, hashed: tuple[Path, Path], tmp_path: Path
) -> None:
    """The split flow (``carscout run``'s and ``schedule retrain``'s split stage) given settings
    with a cluster checks its candidate pairs there and assigns what ``carscout split`` does."""
    from curation.splits.policy import SplitRequest
    from flows.split import split_flow
    from pipeline.settings import load_settings

    plain, spread = _copies(hashed[1], tmp_path)
    settings = load_settings(home=spread, cluster=dask_cluster.address)
    with distributed.Client(dask_cluster.address, set_as_default=False) as client:
        before = sum(_shards_done(client, "pairs").values())
        split_flow(settings, SplitRequest(fractions=(0.5, 0.25, 0.25), seed=3))
        done = sum(_shards_done(client, "pairs").values()) - before
    _carscout("--home", str(plain), "split", "--fractions", "0.5,0.25,0.25", "--seed", "3")
    assert done == 1
    assert _assignments(spread) == _assignments(plain) != []
