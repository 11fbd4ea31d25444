"""fastdup as a benchmark peer, run in its own virtualenv and process.

fastdup (2.54: a pretrained 576-d embedding model shipped inside its wheel, nearest neighbours,
connected components) is the tool a user would pick beside carscout for near-duplicates and
wrong labels. It pins numpy<2, Pillow 10.3 and scikit-learn 1.5 and its licence is
non-commercial, so it is never a carscout dependency: ``ensure_fastdup()`` installs it into
``.venv-fastdup`` (ignored by git) and ``run_fastdup()`` runs it there through
``_fastdup_worker.py`` on a fresh work folder, with Sentry reporting switched off.

    from benchmarks.fastdup_peer import ensure_fastdup, run_fastdup
    if ensure_fastdup() is not None:
        result = run_fastdup(files, work_dir)
        result.embeddings  # (n, 576) float32, rows in the order of ``files``
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FASTDUP_VENV = ROOT / ".venv-fastdup"
FASTDUP_PY = FASTDUP_VENV / "bin" / "python"
FASTDUP_SPEC = "fastdup==2.54"
WORKER = Path(__file__).resolve().parent / "_fastdup_worker.py"
ENV = {"SENTRY_OPT_OUT": "1", "CUDA_VISIBLE_DEVICES": ""}


@dataclass
class FastdupResult:
    """One fastdup run on a list of photos, everything in the order of ``files``.

    ``embeddings``: (n, 576) float32 from fastdup's own model (a NaN row where it could not
    read the photo). ``pairs``: (m, 3) float64 rows ``(i, j, similarity)`` from fastdup's
    similarity file (each photo's ``k`` nearest neighbours above the run's threshold, both
    directions). ``components``: fastdup's connected component id per photo at
    ``cc_threshold``, -1 for a photo in none. ``seconds``: wall time of the whole subprocess
    (interpreter start, model load, features, neighbours, components); ``fastdup_seconds``:
    the part inside fastdup's ``create`` + ``run`` + reading its outputs. ``stdout``: what
    fastdup printed (progress bars).
    """

    files: list[Path]
    embeddings: np.ndarray
    pairs: np.ndarray
    components: np.ndarray
    cc_threshold: float
    seconds: float
    fastdup_seconds: float
    version: str
    unread: list[str] = field(default_factory=list)
    stdout: str = ""

    def groups(self) -> list[list[int]]:
        """Return fastdup's connected components as lists of photo indices (two or more each)."""
        found: dict[int, list[int]] = {}
        for i, component in enumerate(self.components.tolist()):
            if component >= 0:
                found.setdefault(component, []).append(i)
        return [members for members in found.values() if len(members) > 1]


def _works() -> bool:
    check = [str(FASTDUP_PY), "-c", "import fastdup"]
    env = {**os.environ, **ENV}
    return (
        FASTDUP_PY.exists() and subprocess.run(check, capture_output=True, env=env).returncode == 0
    )


def ensure_fastdup(timeout: int = 900) -> Path | None:
    """Create ``.venv-fastdup`` with fastdup if it is missing; return its python, or None.

    None comes with a printed reason (no package registry, an unsupported platform): the
    benchmark then reports fastdup as not measured instead of failing.
    """
    if _works():
        return FASTDUP_PY
    try:
        if not FASTDUP_PY.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(FASTDUP_VENV)], check=True, timeout=120
            )
        subprocess.run(
            [str(FASTDUP_PY), "-m", "pip", "install", "-q", FASTDUP_SPEC],
            check=True,
            timeout=timeout,
            capture_output=True,
            env={**os.environ, **ENV},
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        print(f"fastdup not measured: pip install {FASTDUP_SPEC} failed: {' '.join(tail)}")
        return None
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"fastdup not measured: could not create {FASTDUP_VENV.name}: {exc}")
        return None
    if not _works():
        print(f"fastdup not measured: {FASTDUP_SPEC} installed but does not import")
        return None
    return FASTDUP_PY


def run_fastdup(
    files: list[Path],
    work_dir: Path,
    threads: int = 2,
    k: int = 10,
    threshold: float = -1.0,
    cc_threshold: float = 0.96,
    timeout: int = 1800,
) -> FastdupResult:
    """Run fastdup once on ``files`` in a fresh ``work_dir/fastdup``; return what it computed.

    ``k`` nearest neighbours per photo (fastdup's default is 2); ``threshold`` is fastdup's
    lowest similarity kept in its similarity file (-1 keeps all k neighbours; fastdup's
    default is 0.9); ``cc_threshold`` its connected-component threshold (its default 0.96).
    Nothing is reused from an earlier run, so ``seconds`` is a cold run's time.
    Raises ``RuntimeError`` with fastdup's last output lines when the run fails or times out.
    """
    if not files:
        raise ValueError("run_fastdup needs at least one photo")
    python = ensure_fastdup()
    if python is None:
        raise RuntimeError(f"fastdup is not available in {FASTDUP_VENV}")
    work_dir = Path(work_dir)
    shutil.rmtree(work_dir / "fastdup", ignore_errors=True)
    shutil.rmtree(work_dir / "result", ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(f).resolve() for f in files]
    list_file = work_dir / "files.txt"
    list_file.write_text("".join(f"{p}\n" for p in paths))
    command = [str(python), str(WORKER), str(list_file), str(work_dir)]
    command += [str(threads), str(k), str(threshold), str(cc_threshold)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **ENV},
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise RuntimeError(f"fastdup ran past {timeout} s: {output[-500:]}") from None
    seconds = time.perf_counter() - started
    result = work_dir / "result"
    if proc.returncode != 0 or not (result / "meta.json").exists():
        raise RuntimeError(f"fastdup failed (exit {proc.returncode}): {output[-1500:]}")
    meta = json.loads((result / "meta.json").read_text())
    return FastdupResult(
        files=[Path(f) for f in files],
        embeddings=np.load(result / "embeddings.npy"),
        pairs=np.load(result / "pairs.npy"),
        components=np.load(result / "components.npy"),
        cc_threshold=cc_threshold,
        seconds=seconds,
        fastdup_seconds=float(meta["seconds"]),
        version=str(meta["version"]),
        unread=list(meta["unread"]),
        stdout=output,
    )


def knn_from_pairs(pairs: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return each photo's up to ``k`` nearest neighbours from fastdup's pairs, best first.

    (n, k) int64 indices (-1 where fastdup listed fewer) and (n, k) float similarities (NaN there).
    """
    neighbours = np.full((n, k), -1, dtype=np.int64)
    similarity = np.full((n, k), np.nan)
    if len(pairs):
        order = np.lexsort((-pairs[:, 2], pairs[:, 0]))
        filled = np.zeros(n, dtype=np.int64)
        for i, j, s in pairs[order]:
            a, b = int(i), int(j)
            if a != b and filled[a] < k:
                neighbours[a, filled[a]] = b
                similarity[a, filled[a]] = s
                filled[a] += 1
    return neighbours, similarity


def main() -> None:
    """Hand check: ``python benchmarks/fastdup_peer.py PHOTO_DIR [N]`` runs fastdup on N photos."""
    folder = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    files = sorted(folder.rglob("*.jpg"))[:n]
    with tempfile.TemporaryDirectory() as work:
        result = run_fastdup(files, Path(work))
    print(
        f"fastdup {result.version}: {len(files)} photos in {result.seconds:.1f} s "
        f"({result.fastdup_seconds:.1f} s in fastdup), embeddings {result.embeddings.shape}, "
        f"{len(result.pairs)} pairs, {len(result.groups())} components at {result.cc_threshold}, "
        f"{len(result.unread)} unread"
    )


if __name__ == "__main__":
    main()
