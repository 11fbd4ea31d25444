"""Import, dedup and score photos/s with the default runner, 1 and 2 Dask workers, in one run.

    nice -n 5 .venv/bin/python benchmarks/cluster.py [--photos 400] [--workers 1,2]

The photos are the first ``--photos`` of realcars-dev (``../shared/realcars-dev``, half from
each label), copied into a folder once. Each runner gets a fresh data home and runs what
``carscout import``, ``dedup`` and ``score --features shape`` run, through the same library
calls and :func:`flows.cluster.cluster_shards` as the commands with ``--cluster``: the default
runner on this machine (hashing on one process pool of every core), then a ``dask scheduler``
and N ``dask worker`` processes of one thread each, every one in its own folder, started for
that runner and stopped after it. The catalogs must come out the same (checked).

Also measured: a task's overhead (``--overhead-tasks`` empty tasks through the same map on the
2-worker cluster: wall time per task, and one task's round trip), and each stage's seconds per
photo inside its shard tasks (the scheduler's compute time) and outside them (in the command's
process: catalog writes, the search, the model's own fitting). From those, on paper, a cluster
of ``--machines`` machines of ``--cores`` worker threads for ``--target`` photos.

This machine has 2 cores, shared with the scheduler, the command and the workers: it cannot
show a real speed-up; the table shows the overhead the cluster adds at the same core count.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline import process_env  # noqa: E402

process_env.configure()  # before TensorFlow loads

import sqlalchemy as sa  # noqa: E402

from curation.dedup.hashing import SHARD_SIZE  # noqa: E402
from curation.dedup.run import DedupConfig, run_dedup  # noqa: E402
from curation.labels.fold_tasks import folds_on  # noqa: E402
from curation.labels.issues import SCORE_SHARD_SIZE, ScoreConfig, score_catalog  # noqa: E402
from flows.cluster import cluster_shards  # noqa: E402
from pipeline import schema as t  # noqa: E402
from pipeline.importer import IMPORT_SHARD_SIZE, import_files, plan_import  # noqa: E402
from pipeline.settings import load_settings  # noqa: E402
from pipeline.workspace import Workspace  # noqa: E402

DATA = ROOT.parent / "shared" / "realcars-dev" / "photos"
BIN = Path(sys.executable).parent
STAGES = {"import": IMPORT_SHARD_SIZE, "dedup": SHARD_SIZE, "score": SCORE_SHARD_SIZE}
WARM_MODULES = ("pipeline.importer", "curation.dedup.hashing", "curation.labels.issues")


def copy_photos(folder: Path, photos: int) -> int:
    """Copy the first ``photos`` realcars-dev photos (half per label) to ``folder/<label>/``."""
    labels = sorted(p.name for p in DATA.iterdir() if p.is_dir())
    copied = 0
    for index, label in enumerate(labels):
        share = photos // len(labels) + (index < photos % len(labels))
        (folder / label).mkdir(parents=True)
        for path in sorted((DATA / label).glob("*.jpg"))[:share]:
            shutil.copy(path, folder / label / path.name)
            copied += 1
    return copied


class Cluster:
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes under ``root``."""

    def __init__(self, root: Path, workers: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self._start(root / "scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port))
        for n in range(workers):
            folder = root / f"worker-{n}"
            self._start(folder, "worker", self.address, "--nthreads", "1", "--no-nanny",
                        "--local-directory", str(folder))  # fmt: skip

    def _start(self, folder: Path, *args: str) -> None:
        folder.mkdir(parents=True)
        with (folder / "log").open("wb") as log:
            command = [str(BIN / "dask"), *args, "--no-dashboard"]
            self.processes.append(subprocess.Popen(command, cwd=folder, stdout=log, stderr=log))

    def stop(self) -> None:
        """Stop the workers, then the scheduler."""
        for process in reversed(self.processes):
            process.terminate()
            process.wait(30)


def compute_seconds(address: str) -> dict[str, float]:
    """Return the seconds the workers spent computing each stage's shard tasks so far."""
    from distributed import Client

    def durations(dask_scheduler: Any) -> dict[str, float]:
        return {
            name: float(prefix.all_durations.get("compute", 0.0))
            for name, prefix in dask_scheduler.task_prefixes.items()
        }

    with Client(address, set_as_default=False) as client:
        found = client.run_on_scheduler(durations)
    names = {"import": ("import-shard",), "dedup": ("hash-shard",)}
    names["score"] = ("features-shard", "folds-shard")
    return {stage: sum(found.get(n, 0.0) for n in prefixes) for stage, prefixes in names.items()}


def run_stages(home: Path, photos: Path, cluster: str | None) -> tuple[dict[str, float], Any]:
    """Return the seconds of import, dedup and score in a fresh ``home``, and what they stored."""
    settings = load_settings(home=home, cluster=cluster or "local")
    seconds = {}
    with Workspace.open(settings) as ws:
        started = time.perf_counter()
        with cluster_shards(settings, "import") as shards:
            import_files(ws, plan_import(photos, None), map_shards=shards)
        seconds["import"] = time.perf_counter() - started
        started = time.perf_counter()
        with cluster_shards(settings, "hash") as shards:
            run_dedup(ws.catalog, ws.store, DedupConfig(), map_shards=shards)
        seconds["dedup"] = time.perf_counter() - started
        started = time.perf_counter()
        with cluster_shards(settings, "features", "folds") as (shards, folds), folds_on(folds):
            score_catalog(ws, ScoreConfig(source="shape"), map_shards=shards)
        seconds["score"] = time.perf_counter() - started
        with ws.catalog.reading() as conn:
            images = conn.execute(
                sa.select(t.images.c.sha256, t.images.c.status).order_by(t.images.c.sha256)
            ).all()
            scores = conn.execute(
                sa.select(t.label_scores.c.image_id, t.label_scores.c.issue_score).order_by(
                    t.label_scores.c.image_id
                )
            ).all()
    return seconds, (images, scores)


def task_overhead(address: str, tasks: int) -> tuple[float, float]:
    """Return (seconds per task for ``tasks`` empty tasks through the shard map, seconds of one
    task's round trip) on the cluster at ``address``."""
    settings = load_settings(cluster=address)
    with cluster_shards(settings, "empty") as shards:
        started = time.perf_counter()
        list(shards(len, [[i] for i in range(tasks)]))
        per_task = (time.perf_counter() - started) / tasks
        started = time.perf_counter()
        list(shards(len, [[0]]))
        round_trip = time.perf_counter() - started
    return per_task, round_trip


def main() -> None:
    """Parse the options, time every runner and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--workers", default="1,2", help="worker counts to time, e.g. 1,2")
    parser.add_argument("--overhead-tasks", type=int, default=300)
    parser.add_argument("--machines", type=int, default=10)
    parser.add_argument("--cores", type=int, default=8, help="worker threads per machine")
    parser.add_argument("--target", type=int, default=1_000_000)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    rows: dict[str, dict[str, float]] = {}
    inside: dict[str, float] = {}
    overhead = (0.0, 0.0)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        photos = copy_photos(Path(tmp) / "photos", args.photos)
        rows["default"], reference = run_stages(Path(tmp) / "default", Path(tmp) / "photos", None)
        for n in counts:
            cluster = Cluster(Path(tmp) / f"cluster-{n}", n)
            try:
                from distributed import Client

                with Client(cluster.address, timeout=60, set_as_default=False) as client:
                    client.wait_for_workers(n, timeout=120)
                    # Long-lived workers have carscout imported: not part of a stage's time.
                    for module in WARM_MODULES:
                        client.run(importlib.import_module, module)
                name = f"{n} worker{'s' if n > 1 else ''}"
                rows[name], stored = run_stages(
                    Path(tmp) / f"home-{n}", Path(tmp) / "photos", cluster.address
                )
                if stored != reference:
                    raise SystemExit(f"{name}: the catalog differs from the default runner's")
                if n == 1:
                    inside = compute_seconds(cluster.address)
                if n == max(counts):
                    overhead = task_overhead(cluster.address, args.overhead_tasks)
            finally:
                cluster.stop()
    print_tables(args, photos, rows, inside, overhead)


def print_tables(
    args: argparse.Namespace,
    photos: int,
    rows: dict[str, dict[str, float]],
    inside: dict[str, float],
    overhead: tuple[float, float],
) -> None:
    """Print photos/s per runner and stage, the overhead and the extrapolation."""
    print(f"\n{photos} realcars-dev photos, {os.cpu_count()} cores on this machine")
    print(f"{'runner':<12}" + "".join(f"{stage + ' photos/s':>18}" for stage in STAGES))
    for runner, seconds in rows.items():
        print(f"{runner:<12}" + "".join(f"{photos / seconds[s]:>18.1f}" for s in STAGES))
    per_task, round_trip = overhead
    print(f"\ntask overhead: {per_task * 1000:.1f} ms per task ({args.overhead_tasks} empty "
          f"tasks), {round_trip * 1000:.1f} ms for one task's round trip")  # fmt: skip
    if not inside:
        return
    workers = args.machines * args.cores
    print(f"\non paper: {args.target:,} photos, {args.machines} machines x {args.cores} worker "
          f"threads = {workers} (linear in photos; 1-worker figures)")  # fmt: skip
    print(f"{'stage':<8}{'in shards s/photo':>20}{'outside s/photo':>18}{'tasks':>9}"
          f"{'estimate':>12}")  # fmt: skip
    total = 0.0
    one = rows.get("1 worker", {})
    for stage, size in STAGES.items():
        in_shards = inside[stage] / photos
        outside = max(0.0, one[stage] / photos - in_shards)
        tasks = -(-args.target // size)
        spread = (args.target * in_shards + tasks * per_task) / workers
        estimate = args.target * outside + spread
        total += estimate
        print(f"{stage:<8}{in_shards:>20.5f}{outside:>18.5f}{tasks:>9}{estimate / 3600:>10.2f} h")
    print(f"{'all':<8}{'':>47}{total / 3600:>10.2f} h")
    print(
        "The part outside the shards (catalog writes, the near-duplicate search, the models' "
        "fitting but for the folds) runs in the command's process and does not shrink with "
        "more machines; dedup's pair checks are shard tasks, in the first column. 2 cores "
        "cannot show a real speed-up: the scheduler, the command and the workers share them."
    )


if __name__ == "__main__":
    main()
