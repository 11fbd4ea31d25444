"""``--cluster`` on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes,
each in its own working folder, and a real PostgreSQL catalog.

``carscout import``, ``dedup`` and ``score`` with ``--cluster`` store the same catalog as
without it, with shards run on both workers; an unreachable scheduler is one line before
anything is written; a worker SIGKILLed in the middle of dedup's hashing loses nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from curation.labels.config import ScoreConfig
from pipeline import schema as t
from pipeline.errors import ConfigError
from pipeline.settings import load_settings
from pipeline.workspace import Workspace
from tests.flows.dask_processes import DaskProcesses, free_port
from tests.postgres import postgres_server  # noqa: F401 - fixture

distributed = pytest.importorskip("distributed", reason="the dask extra: pip install -e '.[dask]'")

SHARD = 6  # photos per shard here, so that every stage has several shards for two workers
VERIFY_TASKS = 1  # dedup's candidate pairs here fit one verification task (2,000)


def _draw(folder: Path, per_label: int = 14) -> Path:
    """Write DIR/<label>/*.jpg: street scenes with one boxy car, two wrong ones per label, and
    a smaller re-encoded repost of every fifth photo (duplicates for dedup to find)."""
    colours = {"swift": (30, 70, 160), "wagonr": (170, 40, 30)}
    for label, car in colours.items():
        (folder / label).mkdir(parents=True)
        for i in range(per_label):
            rng = random.Random(f"{label}-{i}")
            image = Image.new("RGB", (320, 240), tuple(rng.randint(90, 220) for _ in range(3)))
            draw = ImageDraw.Draw(image)
            for _ in range(8):
                x, y = rng.randint(-20, 300), rng.randint(-20, 220)
                box = (x, y, x + rng.randint(10, 90), y + rng.randint(10, 70))
                draw.rectangle(box, fill=tuple(rng.randint(0, 255) for _ in range(3)))
            tall = (label == "wagonr") != (i < 2)
            x = rng.randint(20, 120)
            draw.rectangle((x + 40, 80, x + 120, 190) if tall else (x, 140, x + 180, 190), car)
            image.save(folder / label / f"{i:02d}.jpg", quality=90)
            if i % 5 == 0:
                image.resize((288, 216)).save(folder / label / f"{i:02d}-repost.jpg", quality=70)
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _draw(tmp_path_factory.mktemp("cluster-photos") / "photos")


@pytest.fixture(scope="module")
def plain(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a data home where ``carscout import``, ``dedup`` and ``score --features
    handmade`` ran on ``photos`` with the default runner: what the cluster must reproduce."""
    home = tmp_path_factory.mktemp("plain") / "home"
    for command in (["import", str(photos)], ["dedup"], ["score", "--features", "handmade"]):
        _carscout("--home", str(home), *command)
    return home


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    from curation.dedup import hashing
    from curation.labels import issues
    from pipeline import importer

    monkeypatch.setattr(hashing, "SHARD_SIZE", SHARD)
    monkeypatch.setattr(issues, "SCORE_SHARD_SIZE", SHARD)
    monkeypatch.setattr(importer, "IMPORT_SHARD_SIZE", SHARD)


def _carscout(*args: str) -> None:
    from cli.app import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "120"})
    assert result.exit_code == 0, f"{args}: {result.output}{result.exception!r}"


def _catalog_state(home: Path) -> dict[str, Any]:
    """Return what import, dedup and score stored, without ids of runs or times."""
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        images = sorted(
            conn.execute(
                sa.select(
                    t.images.c.id,
                    t.images.c.sha256,
                    t.images.c.label,
                    t.images.c.status,
                    t.images.c.duplicate_of,
                )
            ).all()
        )
        hashes = sorted(
            conn.execute(
                sa.select(t.image_hashes.c.image_id, t.image_hashes.c.kind, t.image_hashes.c.value)
            ).all()
        )
        members = sorted(
            conn.execute(
                sa.select(t.duplicate_members.c.image_id, t.duplicate_members.c.distance)
            ).all()
        )
        ls = t.label_scores
        scores = sorted(
            conn.execute(
                sa.select(ls.c.image_id, ls.c.suggested_label, ls.c.issue_score, ls.c.outlier_score)
            ).all()
        )
        queue = sorted(
            conn.execute(sa.select(t.review_items.c.image_id, t.review_items.c.reason)).all()
        )
    return {"images": images, "hashes": hashes, "groups": members, "scores": scores, "queue": queue}


def _shards_done(client: Any, stage: str = "", key: str | None = None) -> dict[str, int]:
    """Return how many ``stage`` shard tasks (or tasks whose key starts with ``key``) each live
    worker has finished so far (from its own transition log), by worker name."""
    match = key or f"{stage}-shard-"

    def count(dask_worker: Any) -> int:
        return len(
            {
                entry[0]
                for entry in dask_worker.state.log
                if len(entry) > 1 and entry[1] == "put-in-memory" and match in entry[0]
            }
        )

    done = client.run(count)
    names = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
    return {names[address]: n for address, n in done.items()}


@pytest.mark.usefixtures("small_shards")
def test_import_dedup_score_on_the_cluster_store_what_the_default_runner_does(
    dask_cluster: DaskProcesses,
    photos: Path,
    plain: Path,
    tmp_path: Path,
    postgres_server: Any,  # noqa: F811 - fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spread = tmp_path / "spread"
    monkeypatch.setenv("CARSCOUT_CATALOG_URL", postgres_server.fresh_url())
    address = dask_cluster.address
    for command in (["import", str(photos)], ["dedup"], ["score", "--features", "handmade"]):
        _carscout("--home", str(spread), "--cluster", address, *command)
    assert load_settings(home=spread).catalog_url.startswith("postgresql")
    assert _catalog_state(spread) == _catalog_state(plain)
    with distributed.Client(address, set_as_default=False) as client:
        done = {stage: _shards_done(client, stage) for stage in ("import", "hash", "features")}
        folds = _shards_done(client, "folds")
    state = _catalog_state(plain)
    active = sum(1 for image in state["images"] if image.status == "active")
    # Every file, photo and active photo in shards of SHARD, the near-duplicate candidates'
    # verification (one task: fewer than 2,000 pairs), and each fold of the scoring model, as
    # tasks spread over both workers.
    shards = -(-len(state["images"]) // SHARD) * 2 + -(-active // SHARD) + VERIFY_TASKS
    assert sum(sum(d.values()) for d in done.values()) == shards, done
    assert sum(folds.values()) == ScoreConfig().folds, folds
    per_worker = Counter[str]()
    for counts in (*done.values(), folds):
        per_worker.update(counts)
    assert len(per_worker) == 2 and min(per_worker.values()) > 0, per_worker


def test_an_unreachable_scheduler_is_one_line_before_anything_runs(
    tmp_path: Path, photos: Path
) -> None:
    from cli.app import app
    from flows.cluster import check_cluster

    address = f"tcp://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "h"), "--cluster", address, "import", str(photos)]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert f"no Dask scheduler answers at {address}" in message and "\n" not in message
    assert "dask scheduler --port" in message and "--cluster local" in message
    assert not (tmp_path / "h").exists()  # no catalog, no store: nothing ran
    with pytest.raises(ConfigError, match="not a Dask scheduler address"):
        load_settings(home=tmp_path, cluster="http://127.0.0.1:8786/x")
    with pytest.raises(ConfigError, match="no Dask scheduler answers"):
        check_cluster(address, timeout=2)


@pytest.mark.usefixtures("prefect_harness", "small_shards")
def test_runs_curate_stage_on_the_cluster_stores_what_the_default_runner_does(
    dask_cluster: DaskProcesses, photos: Path, plain: Path, tmp_path: Path
) -> None:
    """What ``carscout run --cluster`` does between scraping and splitting: the curate flow given
    settings with a cluster sends its shards and folds to it as plain Dask tasks (the workers
    start no Prefect server of their own) and stores what dedup and score (the same decision,
    features and budget) store without a cluster."""
    import psutil

    from flows.curate import curate_flow
    from pipeline.importer import import_files, plan_import

    homes = {"plain": plain, "spread": tmp_path / "spread"}
    with Workspace.open(home=homes["spread"]) as ws:
        import_files(ws, plan_import(photos, None))
    settings = load_settings(home=homes["spread"], cluster=dask_cluster.address)
    stages = ("hash", "features", "folds")
    with distributed.Client(dask_cluster.address, set_as_default=False) as client:
        before = {stage: sum(_shards_done(client, stage).values()) for stage in stages}
        curate_flow(settings, features="handmade")
        after = {stage: sum(_shards_done(client, stage).values()) for stage in stages}
        children = client.run(lambda: len(psutil.Process().children()))
    assert _catalog_state(homes["spread"]) == _catalog_state(homes["plain"])
    state = _catalog_state(homes["plain"])
    active = sum(1 for image in state["images"] if image.status == "active")
    done = {stage: after[stage] - before[stage] for stage in stages}
    assert done == {
        "hash": -(-len(state["images"]) // SHARD) + VERIFY_TASKS,
        "features": -(-active // SHARD),
        "folds": ScoreConfig().folds,
    }
    assert set(children.values()) == {0}, children


def test_the_next_stage_reconnects_after_a_postgresql_restart(
    dask_cluster: DaskProcesses,
    photos: Path,
    tmp_path: Path,
    postgres_server: Any,  # noqa: F811 - fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from curation.dedup.run import DedupConfig, run_dedup
    from flows.cluster import cluster_shards
    from pipeline.importer import import_files, plan_import

    monkeypatch.setenv("CARSCOUT_CATALOG_URL", postgres_server.fresh_url())
    settings = load_settings(home=tmp_path / "h", cluster=dask_cluster.address)
    with Workspace.open(settings) as ws:
        with cluster_shards(settings, "import") as shards:
            imported = import_files(ws, plan_import(photos, None), map_shards=shards)
        postgres_server.restart()  # the workspace's pooled connections are now dead
        with cluster_shards(settings, "hash") as shards:
            deduped = run_dedup(ws.catalog, ws.store, DedupConfig(), map_shards=shards)
    assert deduped.hashed == imported.stored > 0


def test_a_worker_killed_during_dedup_loses_nothing(
    dask_cluster: DaskProcesses, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """worker-a is paused, so worker-b takes the hashing shards; worker-b is SIGKILLed while it
    holds some, worker-a resumes and the scheduler gives it the lost ones. The groups equal the
    default runner's and every photo has its hashes once. Runs last: the cluster loses b."""
    from distributed.core import Status

    from curation.dedup import hashing
    from curation.dedup.run import DedupConfig, run_dedup
    from flows.cluster import cluster_shards
    from pipeline.importer import import_files, plan_import

    monkeypatch.setattr(hashing, "SHARD_SIZE", 1)  # many shards: b is killed with most to do
    homes = {name: tmp_path / name for name in ("plain", "killed")}
    for home in homes.values():
        with Workspace.open(home=home) as ws:
            import_files(ws, plan_import(photos, None))
    with Workspace.open(home=homes["plain"]) as ws:
        run_dedup(ws.catalog, ws.store, DedupConfig())
    shards = len(_catalog_state(homes["plain"])["images"])

    def set_status(status: Any) -> Any:
        def change(dask_worker: Any) -> None:
            dask_worker.status = status

        return change

    settings = load_settings(home=homes["killed"], cluster=dask_cluster.address)
    with distributed.Client(dask_cluster.address, set_as_default=False) as client:
        by_name = {w["name"]: a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        client.run(set_status(Status.paused), workers=[by_name["worker-a"]])
        outcome: dict[str, Any] = {}

        def dedup() -> None:
            try:
                with cluster_shards(settings, "hash") as map_shards, Workspace.open(settings) as ws:
                    outcome["summary"] = run_dedup(
                        ws.catalog, ws.store, DedupConfig(), map_shards=map_shards
                    )
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                outcome["error"] = exc

        before = _shards_done(client, "hash")
        thread = threading.Thread(target=dedup)
        thread.start()
        deadline = time.monotonic() + 60
        while (
            finished_before := _shards_done(client, "hash")["worker-b"] - before["worker-b"]
        ) < 2:
            assert time.monotonic() < deadline, "worker-b never finished a shard"
            time.sleep(0.005)
        dask_cluster.kill("worker-b")
        client.run(set_status(Status.running), workers=[by_name["worker-a"]])
        thread.join(120)
        assert "error" not in outcome, outcome.get("error")
        done = _shards_done(client, "hash")["worker-a"] - before["worker-a"]
    assert finished_before < shards
    assert done >= shards - finished_before  # a did what b left, the shards b lost included
    killed, plain = _catalog_state(homes["killed"]), _catalog_state(homes["plain"])
    assert outcome["summary"].hashed == len(killed["images"])
    assert killed == plain
    assert len({(i, k) for i, k, _ in killed["hashes"]}) == len(killed["hashes"])  # once each
