"""Hashing and scoring photos/s with Prefect's default runner and with a Dask LocalCluster.

    nice -n 5 .venv/bin/python benchmarks/dask_runner.py [--photos 400] [--rounds 2]

The photos are the first ``--photos`` of realcars-dev (``../shared/realcars-dev``, half from
each label), taken into a fresh catalog once. Each timed run starts from a copy of that
catalog and runs, inside one Prefect flow, what ``carscout curate`` runs for these stages:
:func:`curation.dedup.hashing.hash_catalog` (pHash, dHash and colour of every photo, stored)
and :func:`curation.labels.issues.score_catalog` with the ``shape`` source (photos read into
shape features, the out-of-fold model fit and the scores stored; ``features`` is its first
part, until the last photo was read). The two runners alternate
(default first in odd rounds, the cluster first in even ones) against the same cluster,
started before the first run: ``--workers`` worker processes of one thread, on this machine.
Under the default runner the hashing uses one process pool of every core and the scoring
reads the photos in the flow's process; on the cluster both read the photos in shards on the
workers, and the model is fit in the flow's process either way. Needs the ``dask`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline import process_env  # noqa: E402

process_env.configure()  # before Prefect and TensorFlow load

from prefect import flow  # noqa: E402

from curation.dedup.hashing import hash_catalog  # noqa: E402
from curation.labels.issues import ScoreConfig, score_catalog  # noqa: E402
from flows.sharding import shard_map  # noqa: E402
from pipeline.intake import Provenance, intake_file  # noqa: E402
from pipeline.settings import Settings, load_settings  # noqa: E402
from pipeline.workspace import Workspace  # noqa: E402

DATA = ROOT.parent / "shared" / "realcars-dev"


@flow(name="bench-dask-runner")
def timed_stages(settings: Settings) -> dict[str, float]:
    """Return the seconds the hashing, the scoring and the scoring's reading of the photos into
    features (part of ``scoring``) took in this flow."""
    with Workspace.open(settings) as ws:
        started = time.perf_counter()
        hashed = hash_catalog(ws.catalog, ws.store, map_shards=shard_map("hash"))
        hashing = time.perf_counter() - started
        started = time.perf_counter()
        read_at: list[float] = []

        def progress(done: int, total: int) -> None:
            if done == total:
                read_at.append(time.perf_counter())

        scored = score_catalog(
            ws, ScoreConfig(source="shape"), progress=progress, map_shards=shard_map("features")
        )
        scoring = time.perf_counter() - started
    assert hashed.failed == 0 and sum(scored.images.values()) > 0
    # The last progress call comes when every photo has been read into features.
    return {"hashing": hashing, "features": read_at[0] - started, "scoring": scoring}


def build_catalog(home: Path, photos: int) -> int:
    """Take the first ``photos`` realcars-dev photos (half per label) into ``home``; return
    how many were stored."""
    labels = sorted(p.name for p in (DATA / "photos").iterdir() if p.is_dir())
    stored = 0
    with Workspace.open(home=home) as ws:
        for index, label in enumerate(labels):
            share = photos // len(labels) + (index < photos % len(labels))
            for path in sorted((DATA / "photos" / label).glob("*.jpg"))[:share]:
                result = intake_file(
                    ws.catalog, ws.store, str(path), Provenance(label, source_path=str(path))
                )
                stored += result.outcome == "stored"
    return stored


def main() -> None:
    """Parse the options, run the rounds and print photos/s per runner and stage."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()

    from distributed import LocalCluster
    from prefect.testing.utilities import prefect_test_harness
    from prefect_dask import DaskTaskRunner

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        base = Path(tmp) / "base"
        stored = build_catalog(base, args.photos)
        with (
            prefect_test_harness(server_startup_timeout=180),
            LocalCluster(
                n_workers=args.workers,
                processes=True,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
        ):
            runners = {
                "default": timed_stages,
                f"LocalCluster({args.workers})": timed_stages.with_options(
                    task_runner=DaskTaskRunner(address=cluster.scheduler_address)
                ),
            }
            for round_no in range(args.rounds):
                order = list(runners) if round_no % 2 == 0 else list(reversed(runners))
                for name in order:
                    home = Path(tmp) / f"{name}-{round_no}"
                    shutil.copytree(base, home)
                    seconds = runners[name](load_settings(home=home))
                    shutil.rmtree(home)
                    for stage, spent in seconds.items():
                        rows.append(
                            {
                                "round": round_no + 1,
                                "runner": name,
                                "stage": stage,
                                "photos": stored,
                                "seconds": round(spent, 2),
                                "photos_per_s": round(stored / spent, 1),
                            }
                        )
                        print(
                            f"round {round_no + 1}  {name:<16} {stage:<8} {stored} photos "
                            f"{spent:7.2f} s  {stored / spent:8.1f} photos/s",
                            flush=True,
                        )
    print(f"cpu cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
