"""Stages that take a shard map: one dedup run hashes on one process pool, however many write
batches it takes, and shards give the same hashes and scoring inputs as the in-process path."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from curation.dedup import hashing
from curation.dedup.run import DedupConfig, run_dedup
from curation.labels.inputs import image_inputs, join_inputs
from curation.labels.issues import ScoreConfig, score_catalog
from pipeline import schema as t
from pipeline.errors import ConfigError
from pipeline.importer import import_files, plan_import
from pipeline.intake import Provenance, intake_image
from pipeline.shards import serial_map
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg

PHOTOS = 90


class CountedPool(ProcessPoolExecutor):
    """A real process pool that counts how many were started."""

    started = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).started += 1
        super().__init__(*args, **kwargs)


def _fill(ws: Workspace) -> None:
    for seed in range(PHOTOS):
        photo = small_jpeg(seed)
        intake_image(ws.catalog, ws.store, photo, Provenance("swift", source_path=f"{seed}"))


def _stored(ws: Workspace) -> list[tuple[int, str, str]]:
    with ws.catalog.reading() as conn:
        hashes = t.image_hashes
        query = sa.select(hashes.c.image_id, hashes.c.kind, hashes.c.value)
        return sorted(conn.execute(query).all())


def test_a_dedup_run_hashes_every_batch_on_one_pool(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(workspace)
    monkeypatch.setattr(hashing, "_WRITE_BATCH", 5)  # writes every 20 photos: 5 batches
    monkeypatch.setattr(hashing, "ProcessPoolExecutor", CountedPool)
    CountedPool.started = 0
    written: list[int] = []
    summary = run_dedup(
        workspace.catalog, workspace.store, DedupConfig(workers=2), progress=written.append
    )
    assert summary.hashed == PHOTOS and summary.hash_failures == 0
    assert CountedPool.started == 1
    assert sum(written) == PHOTOS
    stored = _stored(workspace)
    assert {kind for _, kind, _ in stored} == set(DedupConfig().kinds)
    assert len(stored) == PHOTOS * len(DedupConfig().kinds)


def test_hashing_in_shards_stores_what_the_pool_stores(
    workspace: Workspace, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(workspace)
    with Workspace.open(home=tmp_path / "other") as other:
        _fill(other)
        monkeypatch.setattr(hashing, "SHARD_SIZE", 16)
        shards: list[int] = []

        def counting_map(work: Any, items: Any) -> Any:
            shards.extend(len(shard) for shard in items)
            return serial_map(work, items)

        hashing.hash_catalog(other.catalog, other.store, map_shards=counting_map)
        hashing.hash_catalog(workspace.catalog, workspace.store, workers=2)
        assert shards == [16] * 5 + [10]
        assert _stored(other) == _stored(workspace)


@pytest.mark.parametrize("source", ["offline", "shape", "combined", "handmade"])
def test_scoring_inputs_read_in_shards_equal_those_read_at_once(
    workspace: Workspace, source: str
) -> None:
    _fill(workspace)
    paths = [
        workspace.store.path(p) for _, p in hashing.missing_hashes(workspace.catalog, ["phash"])
    ]
    whole = image_inputs(paths[:20], source, cnn_size=32)
    parts = [image_inputs(paths[i : min(i + 6, 20)], source, cnn_size=32) for i in range(0, 20, 6)]
    joined = join_inputs(parts)
    for name in ("pixels", "shape", "mirrored"):
        expected, got = getattr(whole, name), getattr(joined, name)
        assert (expected is None) == (got is None)
        if expected is not None:
            assert expected.shape[0] == 20
            np.testing.assert_array_equal(got, expected)
    assert (whole.matrix is None) == (source != "handmade")
    if whole.matrix is not None and joined.matrix is not None:
        assert joined.matrix.source == whole.matrix.source
        np.testing.assert_array_equal(joined.matrix.matrix, whole.matrix.matrix)


def _elsewhere(work: Any, shards: Any) -> Any:
    """A shard map whose worker does not see this machine's files (another mount point)."""

    def moved(item: Any) -> Any:
        if isinstance(item, tuple):  # an import's (path, provenance)
            return (moved(item[0]), *item[1:])
        return f"/nonexistent-mount{item}"

    for shard in shards:
        yield work([moved(item) for item in shard])


def test_a_worker_that_cannot_see_the_store_stops_hashing_with_the_fix(
    workspace: Workspace,
) -> None:
    _fill(workspace)
    with pytest.raises(ConfigError, match="mount the store .* at the same path on every worker"):
        hashing.hash_catalog(workspace.catalog, workspace.store, map_shards=_elsewhere)
    assert _stored(workspace) == []  # no photo is recorded as a hash failure either
    with workspace.catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.failures)).scalar() == 0


def test_a_worker_that_cannot_see_the_imported_folder_stops_the_import(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming" / "swift"
    folder.mkdir(parents=True)
    for seed in range(3):
        (folder / f"{seed}.jpg").write_bytes(small_jpeg(seed))
    plan = plan_import(folder.parent)
    with pytest.raises(ConfigError, match="at the same path on every worker"):
        import_files(workspace, plan, map_shards=_elsewhere)
    with workspace.catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.images)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(t.failures)).scalar() == 0
        status = conn.execute(sa.select(t.runs.c.status)).scalar_one()
    assert status == "failed"  # the run row is closed, not left running


def test_a_worker_that_cannot_see_the_store_stops_scoring_with_the_fix(
    workspace: Workspace,
) -> None:
    _fill(workspace)
    with pytest.raises(ConfigError, match="at the same path on every worker"):
        score_catalog(workspace, ScoreConfig(source="handmade"), map_shards=_elsewhere)
    with workspace.catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.label_scores)).scalar() == 0


def test_cnn_scores_from_shards_equal_those_read_at_once_with_pixels_on_a_file(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation.labels import issues, oof_cnn

    _fill(workspace)
    paths = [
        workspace.store.path(p) for _, p in hashing.missing_hashes(workspace.catalog, ["phash"])
    ][:24]
    labels = ["swift", "wagonr"] * 12
    config = ScoreConfig(source="offline", cnn_epochs=1, cnn_size=16, cnn_folds=2)
    whole = issues.score_paths(paths, labels, config)
    # Shards of 5 land in one pixel buffer, here a temporary file (nothing in memory).
    monkeypatch.setattr(issues, "SCORE_SHARD_SIZE", 5)
    monkeypatch.setattr(oof_cnn, "PIXELS_IN_MEMORY_BYTES", 0)
    sharded = issues.score_paths(paths, labels, config, map_shards=serial_map)
    np.testing.assert_allclose(sharded.probabilities, whole.probabilities, atol=1e-5)
    np.testing.assert_allclose(sharded.outlier, whole.outlier, atol=1e-4)
    assert sharded.feature_source == whole.feature_source
