"""The near-duplicate methods the dedup benchmarks compare, and how their pairs become groups.

Each method takes the photo paths and a worker count and returns the pairs it links, rows
``(i, j, ...)``; :func:`group_pairs` closes links into connected components and
:func:`anchored_pairs` groups the default decision's links as ``carscout dedup`` does. Used by
``benchmarks/dedup_real.py`` and ``benchmarks/dedup_demo.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from curation.dedup.components import connected_groups
from curation.dedup.decision import NearDuplicateDecision, PhotoSet
from curation.dedup.hashing import MIRROR_KIND, hash_files
from curation.dedup.near_duplicates import (
    COLOUR_KIND,
    DEFAULT_COLOUR_THRESHOLD,
    DEFAULT_PHASH_THRESHOLD,
    NearDuplicateRule,
    colour_levels,
)
from curation.dedup.search import hex_to_uint64, pairs_within

BASELINE_THRESHOLD = 10  # imagededup PHash's default max_distance_threshold


def group_pairs(links: np.ndarray, names: list[str]) -> set[tuple[str, str]]:
    """Pairs of names inside the groups (connected components) the accepted links form."""
    groups = connected_groups((int(i), int(j)) for i, j in links[:, :2].tolist())
    return {tuple(sorted((names[a], names[b]))) for g in groups for a, b in combinations(g, 2)}


def anchored_pairs(links: np.ndarray, names: list[str], paths: list[Path]) -> set[tuple[str, str]]:
    """Pairs inside the groups ``carscout dedup`` forms from the default decision's links:
    a photo joins through the group's kept copy (largest resolution, then file size)."""
    from curation.dedup.anchored import anchored_groups

    def quality(k: int) -> tuple[int, int, int]:
        with Image.open(paths[k]) as im:
            w, h = im.size
        return (w * h, paths[k].stat().st_size, -k)

    groups = anchored_groups(((int(i), int(j)) for i, j in links[:, :2].tolist()), quality)
    return {tuple(sorted((names[a], names[b]))) for g in groups for a, b in combinations(g, 2)}


def current_method(paths: list[Path], workers: int) -> np.ndarray:
    """carscout's present default: drafted pHash <= 8 candidates confirmed by colour <= 40."""
    results = hash_files(paths, ("phash", COLOUR_KIND), workers=workers)
    hashes = hex_to_uint64(r.hashes["phash"] for r in results)  # type: ignore[index]
    colours = colour_levels([r.hashes[COLOUR_KIND] for r in results])  # type: ignore[index]
    rule = NearDuplicateRule(DEFAULT_PHASH_THRESHOLD, DEFAULT_COLOUR_THRESHOLD)
    return rule.pairs_within(hashes, colours)


def _plain_phash(path: str) -> str:
    with Image.open(path) as im:
        return str(imagehash.phash(im.convert("L")))


def baseline_method(paths: list[Path], workers: int) -> np.ndarray:
    """imagededup's default: full-resolution pHash within 10 bits, nothing else."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        values = list(pool.map(_plain_phash, [str(p) for p in paths], chunksize=32))
    return pairs_within(hex_to_uint64(values), BASELINE_THRESHOLD)


def same_work_method(paths: list[Path], workers: int) -> np.ndarray:
    """carscout's hashing at the baseline's work (full-resolution decode, pHash only) and the
    baseline's rule (pHash within 10 bits, nothing else)."""
    results = hash_files(paths, ("phash",), workers=workers, draft_size=None)
    hashes = hex_to_uint64(r.hashes["phash"] for r in results)  # type: ignore[index]
    return pairs_within(hashes, BASELINE_THRESHOLD)


GEOMETRIC = NearDuplicateDecision("orb")


def _orb_photos(paths: list[Path], workers: int) -> PhotoSet:
    results = hash_files(paths, ("phash", MIRROR_KIND, COLOUR_KIND), workers=workers)
    return PhotoSet.of(
        [r.hashes["phash"] for r in results],  # type: ignore[index]
        [r.hashes[COLOUR_KIND] for r in results],  # type: ignore[index]
        [r.hashes[MIRROR_KIND] for r in results],  # type: ignore[index]
        paths,
    )


def geometric_method(paths: list[Path], workers: int) -> np.ndarray:
    """``carscout dedup --verify orb``: pHash and mirrored-pHash candidates verified by ORB +
    RANSAC (curation.dedup.decision), hashed as dedup hashes (drafted)."""
    return GEOMETRIC.pairs_within(_orb_photos(paths, workers), workers=workers)


ALIGNED = NearDuplicateDecision("align")


def aligned_method(paths: list[Path], workers: int) -> np.ndarray:
    """``carscout dedup`` (the default decision, ``--verify align``)."""
    return ALIGNED.pairs_within(_orb_photos(paths, workers), workers=workers)


PEER = f"imagehash pHash<={BASELINE_THRESHOLD} (peer: imagededup's default rule)"
METHODS: dict[str, Callable[[list[Path], int], np.ndarray]] = {
    PEER: baseline_method,
    f"carscout, peer's work and rule (full decode, pHash<={BASELINE_THRESHOLD})": same_work_method,
    f"--verify colour: pHash<={DEFAULT_PHASH_THRESHOLD} + colour<={DEFAULT_COLOUR_THRESHOLD}": (
        current_method
    ),
    "--verify orb (ORB+RANSAC)": geometric_method,
    "default: align (nearest pHash + ORB + aligned cells)": aligned_method,
}


def fastdup_methods(
    paths: list[Path], names: list[str], truth: set[tuple[str, str]]
) -> dict[str, tuple[set[tuple[str, str]], float]]:
    """fastdup 2.54 (its own pretrained model, in .venv-fastdup) on the same files: its
    connected components at its default threshold 0.96, and its similarity pairs (10 nearest
    each) at the threshold with its best F1 against this truth, closed into groups as
    carscout's are. Both come from one timed run (the sweep is free)."""
    import tempfile

    from fastdup_peer import ensure_fastdup, run_fastdup

    if ensure_fastdup() is None:
        print("fastdup is not available: its columns are left out", file=sys.stderr)
        return {}
    with tempfile.TemporaryDirectory() as work:
        result = run_fastdup(paths, Path(work), threads=2, k=10)
    default = {
        tuple(sorted((names[a], names[b]))) for g in result.groups() for a, b in combinations(g, 2)
    }
    from curation.dedup.components import component_labels

    index = {name: k for k, name in enumerate(names)}
    true_ends = np.array([(index[a], index[b]) for a, b in truth], dtype=np.int64).reshape(-1, 2)
    best = (-1.0, 0.96)
    # Counted, not listed: at low similarities the drawn demo cars form one giant group.
    for threshold in np.arange(0.80, 0.995, 0.005):
        keep = result.pairs[result.pairs[:, 2] >= threshold][:, :2].astype(np.int64)
        labels = component_labels(len(names), keep[:, 0], keep[:, 1])
        sizes = np.bincount(labels)
        found = int((sizes * (sizes - 1) // 2).sum())
        hits = int((labels[true_ends[:, 0]] == labels[true_ends[:, 1]]).sum())
        f1 = 2 * hits / (found + len(truth)) if found or truth else 1.0
        if f1 > best[0]:
            best = (f1, float(threshold))
    keep = result.pairs[result.pairs[:, 2] >= best[1]]
    return {
        f"peer: fastdup {result.version} (default cc 0.96)": (default, result.seconds),
        f"peer: fastdup at its best-F1 similarity {best[1]:.3f}": (
            group_pairs(keep[:, :2].astype(np.int64), names),
            result.seconds,
        ),
    }
