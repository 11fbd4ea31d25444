"""Benchmark: how each stage's CPU time and peak memory grow with the catalog, extrapolated to
a million photos.

For every size N of ``--sizes`` (default 2000,8000,32000) it generates N photos (160×120 JPEGs, two
labels told apart by the shape of a drawn body, 2 % exact copies and 2 % resized copies under
other names), then runs each stage of ``--stages`` as its own ``carscout`` process on a fresh
home, in order: ``import``, ``dedup``, ``split``, ``export``, ``status``, ``score-handmade``
(``score --features handmade``) and ``score-cnn`` (``score --features offline``, the default
without backbone weights); and ``copy``, the peer of ``import``: a plain loop that reads each
photo, hashes it (sha256), verifies and decodes it with Pillow, writes it through a temporary
file with an fsync and renames it, on the same disk.

Per stage and size it prints wall seconds, CPU seconds (user + system of the process and every
process below it, pool workers included: this script is their subreaper and sums ``wait4``) and
peak memory (the largest resident set of one of those processes); then per stage the growth
exponent k between consecutive sizes (``cost ∝ N^k``; k = 1 is linear) for CPU and memory, and
the extrapolation to 100k and 1M photos: the last size's cost plus the increment per photo
between the last two sizes (start-up is not scaled), or the power law when k > 1 and larger.
A stage whose CPU or memory k exceeds 1.1, or whose extrapolation to 1M photos exceeds one
hour of CPU or 8 GB, is listed at the end and the script exits with status 1.

Noise: on a shared 2-core machine CPU seconds vary by ~10 % between runs and more for short
stages (a stage of a few seconds is dominated by start-up, which keeps k below 1); compare
sizes measured in one run.

Run: ``nice -n 5 .venv/bin/python benchmarks/scale.py`` (``--stages`` a comma
list, ``--workdir DIR`` to keep the generated photos between runs).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CARSCOUT = [sys.executable, "-c", "from cli.app import main; main()"]
LABELS = ("sedan", "suv")
STAGES = (
    "import",
    "dedup",
    "split",
    "export",
    "status",
    "score-handmade",
    "score-cnn",
    "copy",
)
COMMANDS = {
    "import": lambda d: ["import", str(d / "photos")],
    "dedup": lambda d: ["dedup"],
    "split": lambda d: ["split"],
    "export": lambda d: ["export", str(d / "export"), "--overwrite"],
    "status": lambda d: ["status"],
    "score-handmade": lambda d: ["score", "--features", "handmade"],
    "score-cnn": lambda d: ["score", "--features", "offline"],
}
MAX_K = 1.1
# The goal per stage at 1,000,000 photos on a 2-core, 24 GB machine.
GOAL_CPU_S = 3600.0
GOAL_MEM_MB = 8 * 1024.0
PR_SET_CHILD_SUBREAPER = 36


@dataclass
class Measure:
    """One stage at one size: wall and CPU seconds, peak resident memory in MB."""

    wall: float
    cpu: float
    peak_mb: float


def _photo(rng: np.random.Generator, label: str) -> Image.Image:
    """Return a distinct 160×120 photo: a random colour field and a wide (sedan) or tall (suv)
    body with wheels, at a random place."""
    field = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(field, "RGB").resize((160, 120), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    x, y = int(rng.integers(10, 60)), int(rng.integers(20, 50))
    width, height = (90, 30) if label == "sedan" else (50, 55)
    draw.rectangle((x, y, x + width, y + height), fill=colour)
    for wheel_x in (x + 6, x + width - 18):
        draw.ellipse((wheel_x, y + height - 6, wheel_x + 12, y + height + 6), fill="black")
    noise = rng.integers(-8, 9, (120, 160, 3))
    return Image.fromarray(np.clip(np.asarray(image).astype(int) + noise, 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def generate(folder: Path, count: int, seed: int = 0) -> None:
    """Write ``count`` photos under ``folder/<label>/``: 96 % distinct, 2 % exact copies and
    2 % copies resized to 128×96 (skipped when the folder already holds them)."""
    done = folder / ".complete"
    if done.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    copies = max(1, round(0.02 * count))
    distinct = count - 2 * copies
    originals: list[tuple[str, Image.Image | None, bytes]] = []
    for label in LABELS:
        (folder / label).mkdir(parents=True)
    for i in range(distinct):
        label = LABELS[i % 2]
        image = _photo(rng, label)
        data = _jpeg(image)
        (folder / label / f"{i:07d}.jpg").write_bytes(data)
        # Only the first copies' sources are kept, so memory stays small.
        if i < copies:
            originals.append((label, image, data))
    for j, (label, image, data) in enumerate(originals):
        (folder / label / f"copy-{j:07d}.jpg").write_bytes(data)
        assert image is not None
        resized = image.resize((128, 96), Image.Resampling.BILINEAR)
        (folder / label / f"resized-{j:07d}.jpg").write_bytes(_jpeg(resized))
    done.touch()


def copy_loop(source: Path, target: Path) -> int:
    """The import's peer: read, sha256, Pillow verify + decode, write a temporary file, fsync,
    rename, for every photo under ``source``; return how many."""
    count = 0
    for path in sorted(source.glob("*/*.jpg")):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        folder = target / digest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".tmp-{uuid.uuid4().hex}"
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, folder / f"{digest}.jpg")
        count += 1
    return count


def become_subreaper() -> bool:
    """Make processes orphaned below this one (a ``forkserver`` and the pool workers it
    started, which the stage never waits for) this process's children, so that their CPU time
    is counted; return whether that worked (Linux only)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def measure(command: list[str], env: dict[str, str], log: Path) -> Measure:
    """Run ``command`` and return its wall and CPU seconds and peak memory, over it and every
    process below it (reaped here when orphaned: see :func:`become_subreaper`). Peak memory is
    that of the largest single process. Raises SystemExit with the log's tail when it fails."""
    started = time.perf_counter()
    cpu, peak_kb, status = 0.0, 0, 0
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        while True:
            try:
                pid, code, usage = os.wait4(-1, 0)
            except ChildProcessError:
                break
            # Each rusage covers that process and the descendants it waited for itself.
            cpu += usage.ru_utime + usage.ru_stime
            peak_kb = max(peak_kb, usage.ru_maxrss)
            if pid == process.pid:
                status = code
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(
            f"{' '.join(command[3:])} failed ({process.returncode}):\n" + "\n".join(tail)
        )
    return Measure(wall, cpu, peak_kb / 1024)


def run_size(size: int, stages: list[str], workdir: Path) -> dict[str, Measure]:
    """Generate ``size`` photos (once) and measure every stage on a fresh home."""
    data = workdir / f"n{size}"
    generate(data / "photos", size)
    home = data / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(data / "copy", ignore_errors=True)
    env = {
        **os.environ,
        "CARSCOUT_HOME": str(home),
        "CARSCOUT_WEIGHTS_BASE_URL": "off",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": str(ROOT),
    }
    results: dict[str, Measure] = {}
    for stage in stages:
        if stage == "copy":
            command = [sys.executable, __file__, "--peer", str(data / "photos"), str(data / "copy")]
        else:
            command = [*CARSCOUT, *COMMANDS[stage](data)]
        results[stage] = measure(command, env, data / f"{stage}.log")
        m = results[stage]
        print(
            f"  n={size:>7}  {stage:<15} wall {m.wall:8.1f} s  CPU {m.cpu:8.1f} s  "
            f"peak {m.peak_mb:7.0f} MB  {size / max(m.wall, 1e-9):8.0f} photos/s",
            flush=True,
        )
    return results


def growth(sizes: list[int], cost: list[float]) -> float:
    """Return k of ``cost ∝ N^k`` between the last two sizes."""
    return math.log(max(cost[-1], 1e-9) / max(cost[-2], 1e-9)) / math.log(sizes[-1] / sizes[-2])


def extrapolate(sizes: list[int], cost: list[float], k: float, to: int = 1_000_000) -> float:
    """Return ``cost`` at ``to`` photos: the last size's cost plus its increment per photo
    between the last two sizes (what start-up costs once is not scaled), or the power law
    ``N^k`` when k > 1 and that is larger."""
    per_photo = max(cost[-1] - cost[-2], 0.0) / (sizes[-1] - sizes[-2])
    linear = cost[-1] + per_photo * (to - sizes[-1])
    power = cost[-1] * (to / sizes[-1]) ** k if k > 1 else 0.0
    return max(linear, power)


def report(sizes: list[int], table: dict[int, dict[str, Measure]], stages: list[str]) -> int:
    """Print the growth table; return the number of stages with k > :data:`MAX_K` plus those over
    the goal at 1M photos."""
    print(
        f"\n{'stage':<15} {'k CPU':>6} {'k mem':>6} {'CPU s @100k':>12} {'CPU @1M':>10} "
        f"{'mem @1M':>9}"
    )
    failing, over_goal = [], []
    for stage in stages:
        cpu = [table[n][stage].cpu for n in sizes]
        mem = [table[n][stage].peak_mb for n in sizes]
        ks = [growth(sizes[: i + 2], cpu[: i + 2]) for i in range(len(sizes) - 1)]
        kms = [growth(sizes[: i + 2], mem[: i + 2]) for i in range(len(sizes) - 1)]
        k_cpu, k_mem = ks[-1], kms[-1]

        cpu_100k, cpu_1m = extrapolate(sizes, cpu, k_cpu, 100_000), extrapolate(sizes, cpu, k_cpu)
        mem_1m = extrapolate(sizes, mem, k_mem)
        print(
            f"{stage:<15} {k_cpu:6.2f} {k_mem:6.2f} {cpu_100k:12.0f} "
            f"{cpu_1m / 3600:8.2f} h {mem_1m / 1024:7.1f} GB"
            + (f"   (k per step: {', '.join(f'{k:.2f}' for k in ks)})" if len(ks) > 1 else "")
        )
        # The copy loop is the import's yardstick, not a stage.
        if stage != "copy" and (k_cpu > MAX_K or k_mem > MAX_K):
            failing.append(stage)
        if stage != "copy" and (cpu_1m > GOAL_CPU_S or mem_1m > GOAL_MEM_MB):
            over_goal.append(stage)
    if "import" in stages and "copy" in stages:
        for what in ("wall", "cpu"):
            ours = [getattr(table[n]["import"], what) for n in sizes]
            peer = [getattr(table[n]["copy"], what) for n in sizes]
            ratio = ", ".join(f"{a / max(b, 1e-9):.2f}" for a, b in zip(ours, peer, strict=True))
            # Per photo between the last two sizes: start-up (imports, catalog) left out.
            added = peer[-1] - peer[-2]
            marginal = f"{(ours[-1] - ours[-2]) / added:.2f}" if added > 0 else "n/a"
            print(f"import / copy loop, {what}: {ratio} (per added photo: {marginal})")
    if failing:
        print(f"GROWTH ABOVE k={MAX_K}: {', '.join(failing)}")
    if over_goal:
        print(f"OVER 1 h OF CPU OR 8 GB AT 1M PHOTOS: {', '.join(over_goal)}")
    return len(failing) + len(over_goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,8000,32000", help="photo counts")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma list of stages")
    parser.add_argument("--workdir", type=Path, default=None, help="keep photos and homes here")
    parser.add_argument("--peer", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        copy_loop(*args.peer)
        return
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown or len(sizes) < 2:
        parser.error(
            f"unknown stages {unknown}; use some of {','.join(STAGES)}"
            if unknown
            else "give at least two sizes"
        )
    if not become_subreaper():
        print("cannot reap orphaned workers here: CPU of pool workers may be missing")
    with tempfile.TemporaryDirectory(prefix="carscout-scale-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"{os.cpu_count()} CPUs; stages {', '.join(stages)}; workdir {workdir}")
        table = {size: run_size(size, stages, workdir) for size in sizes}
        failing = report(sizes, table, stages)
    sys.exit(1 if failing else 0)


if __name__ == "__main__":
    main()
