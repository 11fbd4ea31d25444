"""The curate flow and a sharded import on a real ``distributed.LocalCluster`` (2 worker
processes) give the same catalog as Prefect's default runner on a copy of the same data."""

from __future__ import annotations

import io
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw

from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.settings import load_settings
from pipeline.workspace import Workspace

distributed = pytest.importorskip("distributed", reason="the dask extra: pip install -e '.[dask]'")
prefect_dask = pytest.importorskip("prefect_dask", reason="the dask extra")

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

LABELS = {"swift": (30, 70, 160), "wagonr": (170, 40, 30)}
PER_LABEL = 14
SHARD = 8  # photos per shard here, so that each stage has several shards for 2 workers


def _scene(seed: int, car: tuple[int, int, int], tall: bool) -> Image.Image:
    """Return a 320x240 street with clutter and one boxy car (long and low, or short and tall)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (320, 240), tuple(rng.randint(90, 220) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 140, 320, 240), fill=tuple(rng.randint(30, 120) for _ in range(3)))
    for _ in range(8):
        x, y = rng.randint(-20, 300), rng.randint(-20, 220)
        box = (x, y, x + rng.randint(10, 90), y + rng.randint(10, 70))
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    x = rng.randint(20, 120)
    body = (x + 40, 80, x + 120, 190) if tall else (x, 140, x + 180, 190)
    draw.rectangle(body, fill=car)
    for wheel in (body[0] + 15, body[2] - 15):
        draw.ellipse((wheel - 14, 176, wheel + 14, 204), fill=(15, 15, 15))
    return image


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _populate(ws: Workspace) -> None:
    """Store PER_LABEL photos per label, a few wrong ones and re-encoded reposts."""
    seed = 0
    for label, colour in LABELS.items():
        tall = label == "wagonr"
        for i in range(PER_LABEL):
            seed += 1
            scene = _scene(seed, colour, tall if i >= 2 else not tall)  # 2 wrong per label
            photo = _jpeg(scene)
            intake_image(ws.catalog, ws.store, photo, Provenance(label, source_path=f"{seed}"))
            if i % 5 == 0:  # a repost: the same scene re-encoded and a little smaller
                repost = _jpeg(scene.resize((288, 216)), quality=70)
                source = f"{seed}-repost"
                intake_image(ws.catalog, ws.store, repost, Provenance(label, source_path=source))


@pytest.fixture(scope="module")
def workspace_copies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return two data homes holding the same catalog and store (one per runner)."""
    base = tmp_path_factory.mktemp("dask-runner")
    with Workspace.open(home=base / "default") as ws:
        _populate(ws)
    shutil.copytree(base / "default", base / "dask")
    return base / "default", base / "dask"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes with one thread each, on 127.0.0.1."""
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local


def _catalog_state(home: Path) -> dict[str, Any]:
    """Return what curation wrote: hashes, image statuses, groups, scores and the queue."""
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        hashes = sorted(
            conn.execute(
                sa.select(t.image_hashes.c.image_id, t.image_hashes.c.kind, t.image_hashes.c.value)
            ).all()
        )
        images = sorted(
            conn.execute(sa.select(t.images.c.id, t.images.c.status, t.images.c.duplicate_of)).all()
        )
        members: dict[int, list[tuple[int, int]]] = {}
        for gid, image_id, distance in conn.execute(
            sa.select(
                t.duplicate_members.c.group_id,
                t.duplicate_members.c.image_id,
                t.duplicate_members.c.distance,
            )
        ):
            members.setdefault(int(gid), []).append((int(image_id), int(distance)))
        groups = sorted(
            (int(g.kept_image_id), g.state, tuple(sorted(members[int(g.id)])))
            for g in conn.execute(sa.select(t.duplicate_groups)).all()
        )
        ls = t.label_scores
        scores = sorted(
            conn.execute(
                sa.select(
                    ls.c.image_id,
                    ls.c.feature_source,
                    ls.c.model,
                    ls.c.label,
                    ls.c.suggested_label,
                    ls.c.issue_score,
                    ls.c.outlier_score,
                    ls.c.probabilities,
                )
            ).all()
        )
        ri = t.review_items
        queue = sorted(
            conn.execute(
                sa.select(ri.c.image_id, ri.c.reason, ri.c.suggested_label, ri.c.score, ri.c.state)
            ).all()
        )
    return {"hashes": hashes, "images": images, "groups": groups, "scores": scores, "queue": queue}


def test_curate_on_a_local_cluster_matches_the_default_runner(
    workspace_copies: tuple[Path, Path], cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client, get_task_stream
    from prefect_dask import DaskTaskRunner

    from curation.dedup import hashing
    from curation.labels import issues
    from flows.curate import curate_flow

    monkeypatch.setattr(hashing, "SHARD_SIZE", SHARD)
    monkeypatch.setattr(issues, "SCORE_SHARD_SIZE", SHARD)
    default_home, dask_home = workspace_copies

    plain = curate_flow(load_settings(home=default_home), features="handmade")
    on_dask = curate_flow.with_options(
        task_runner=DaskTaskRunner(address=cluster.scheduler_address)
    )
    with Client(cluster) as client, get_task_stream(client) as stream:
        spread = on_dask(load_settings(home=dask_home), features="handmade")

    photos = len(LABELS) * PER_LABEL + len(LABELS) * len(range(0, PER_LABEL, 5))
    shards = -(-photos // SHARD)
    assert plain["dedup"]["hashed"] == spread["dedup"]["hashed"] == photos
    active = photos - plain["dedup"]["marked_duplicate"]
    assert plain["dedup"]["groups"] >= 2  # the reposts were found
    # Every hash shard, the candidates' verification (one task: fewer than 2,000 pairs),
    # every feature shard and every fold of the scoring model ran on the cluster, on both
    # workers.
    verify = 1
    assert len(stream.data) == shards + verify + -(-active // SHARD) + issues.ScoreConfig().folds
    assert len({task["worker"] for task in stream.data}) == 2

    default_state, dask_state = _catalog_state(default_home), _catalog_state(dask_home)
    assert dask_state["hashes"] == default_state["hashes"]
    assert dask_state["images"] == default_state["images"]
    assert dask_state["groups"] == default_state["groups"]
    # The hand-made features are computed the same way on a worker (tests/curation/test_shards.py
    # checks every source's shards against one read), and the model is fit here on
    # the same matrix: the scores are equal, not just close.
    assert len(default_state["scores"]) == active
    assert dask_state["scores"] == default_state["scores"]
    assert dask_state["queue"] == default_state["queue"]
    assert spread["review"] == plain["review"]


def _import_folder(root: Path) -> Path:
    """Write DIR/<label>/ with photos and every kind of file an import must account for."""
    folder = root / "to-import"
    for n, (label, colour) in enumerate(LABELS.items()):
        (folder / label).mkdir(parents=True)
        for i in range(10):
            scene = _scene(100 + 20 * n + i, colour, label == "wagonr")
            (folder / label / f"{i:02}.jpg").write_bytes(_jpeg(scene))
        transparent = _scene(300 + n, colour, False).convert("RGBA")
        transparent.putalpha(200)
        transparent.save(folder / label / "alpha.png")  # flattened onto white
        _scene(310 + n, colour, True).save(folder / label / "old.gif")  # re-encoded as PNG
    shared = (folder / "swift" / "00.jpg").read_bytes()
    (folder / "wagonr" / "same-bytes.jpg").write_bytes(shared)  # known: a second source row
    (folder / "swift" / "notes.jpg").write_text("not a photo")
    (folder / "swift" / "cut.jpg").write_bytes(shared[: len(shared) // 2])
    Image.new("RGB", (12, 12)).save(folder / "wagonr" / "tiny.png")
    (folder / "wagonr" / ".hidden.jpg").write_bytes(shared)
    return folder


def _import_state(home: Path) -> dict[str, Any]:
    """Return the rows and files an import writes (image ids, but no other row ids or times)."""
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        im, src, fail, runs = t.images, t.image_sources, t.failures, t.runs
        state = {
            "images": conn.execute(
                sa.select(
                    im.c.id,
                    im.c.sha256,
                    im.c.store_path,
                    im.c.width,
                    im.c.height,
                    im.c.format,
                    im.c.bytes,
                    im.c.label,
                    im.c.status,
                    im.c.normalized,
                ).order_by(im.c.id)
            ).all(),
            # Sorted: a batch of intake writes its known photos' source rows before its new ones,
            # so the rows' own ids follow the batch boundaries, which differ.
            "sources": sorted(
                conn.execute(
                    sa.select(src.c.image_id, src.c.source_path, src.c.label, src.c.run_id)
                ).all()
            ),
            "failures": conn.execute(
                sa.select(
                    fail.c.stage, fail.c.target, fail.c.reason, fail.c.detail, fail.c.run_id
                ).order_by(fail.c.id)
            ).all(),
            "runs": conn.execute(
                sa.select(runs.c.kind, runs.c.status, runs.c.params, runs.c.summary)
            ).all(),
            "files": sorted(
                (str(p.relative_to(ws.store.root)), p.read_bytes())
                for p in ws.store.root.rglob("*")
                if p.is_file()
            ),
        }
    return state


def test_a_sharded_import_on_a_local_cluster_writes_the_same_rows_as_a_plain_one(
    tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client, get_task_stream
    from prefect_dask import DaskTaskRunner

    from flows.importing import import_flow
    from pipeline import importer

    monkeypatch.setattr(importer, "IMPORT_SHARD_SIZE", 5)
    folder = _import_folder(tmp_path)
    with Workspace.open(home=tmp_path / "plain") as ws:
        plain = importer.import_folder(ws, folder)

    on_dask = import_flow.with_options(
        task_runner=DaskTaskRunner(address=cluster.scheduler_address)
    )
    with Client(cluster) as client, get_task_stream(client) as stream:
        spread = on_dask(load_settings(home=tmp_path / "dask"), folder)

    planned = len(importer.plan_import(folder).files)
    assert len(stream.data) == -(-planned // 5)  # every file was read on the cluster
    assert spread == {
        "run_id": plain.run_id,
        "stored": plain.stored,
        "known": plain.known,
        "rejected": dict(plain.rejected),
        "skipped": dict(plain.skipped),
    }
    assert plain.stored == 24 and plain.known == 1
    assert dict(plain.rejected) == {"not_an_image": 1, "truncated_or_corrupt": 1, "too_small": 1}
    plain_state = _import_state(tmp_path / "plain")
    assert _import_state(tmp_path / "dask") == plain_state
    assert {row.normalized for row in plain_state["images"]} >= {
        None,
        "flattened RGBA transparency onto white",
    }


def test_the_default_runner_keeps_each_stage_in_process() -> None:
    from prefect import flow
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.sharding import shard_map

    @flow
    def probe() -> bool:
        return shard_map("hash") is None

    assert probe()  # Prefect's default runner: the stages keep their own process pool
    assert probe.with_options(task_runner=ThreadPoolTaskRunner(max_workers=4))()
    assert shard_map("hash") is None  # outside a flow run
