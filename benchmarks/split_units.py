"""Time the near-duplicate links that keep a split leak-free, against two baselines.

Run: ``.venv/bin/python benchmarks/split_units.py`` (under a minute on 2 cores).

Compares, on the same random 64-bit hashes with planted near pairs, the engines of the exact
search :func:`curation.dedup.search.pairs_within` that ``carscout split`` (and dedup) runs,

* ``faiss`` — faiss' exact binary index,
* ``numpy blocks`` — popcounts over blocks of rows, the fallback that needs nothing,
* ``mih`` — multi-index hashing, which ``auto`` picks for large sets,
* ``python pairs`` — the named baseline: a plain Python loop over every pair (only for the
  smaller sizes, it is quadratic in the interpreter),

and checks that all of them find the same pairs.
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.dedup.search import pairs_within  # noqa: E402

BASELINE_NAME = "python pairs"
THRESHOLD = 8


def planted_hashes(n: int, seed: int = 0) -> np.ndarray:
    """Return ``n`` random hashes where every tenth one is a 3-bit variant of its predecessor."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    hashes[1::10] = hashes[0::10][: len(hashes[1::10])] ^ np.uint64(0b1011)
    return hashes


def python_pairs(hashes: np.ndarray) -> set[tuple[int, int]]:
    """The baseline: every pair, one popcount at a time."""
    values = [int(h) for h in hashes]
    return {
        (i, j)
        for (i, a), (j, b) in combinations(enumerate(values), 2)
        if (a ^ b).bit_count() <= THRESHOLD
    }


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def _pairs(hashes: np.ndarray, method: str) -> set[tuple[int, int]]:
    pairs = pairs_within(hashes, THRESHOLD, method=method)  # type: ignore[arg-type]
    return {(i, j) for i, j, _ in pairs.tolist()}


def main() -> int:
    """Print the timing table; return 1 if the methods disagree."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000,30000", help="image counts to time")
    parser.add_argument(
        "--baseline-max", type=int, default=3000, help="largest size to run the Python loop on"
    )
    args = parser.parse_args()
    _pairs(planted_hashes(10), "faiss")  # import faiss outside the timings
    print(
        f"{'images':>8} {'faiss s':>9} {'numpy blocks s':>15} {'mih s':>7}"
        f" {BASELINE_NAME + ' s':>15}"
        f" {'faiss vs baseline':>18} {'faiss vs numpy':>15} {'pairs':>6}"
    )
    ok = True
    for n in (int(size) for size in args.sizes.split(",")):
        hashes = planted_hashes(n)
        found, faiss_s = _timed(_pairs, hashes, "faiss")
        blocks, numpy_s = _timed(_pairs, hashes, "numpy")
        mih, mih_s = _timed(_pairs, hashes, "mih")
        ok &= blocks == found and mih == found
        base_text, speed_text = "-", "-"
        if n <= args.baseline_max:
            base, base_s = _timed(python_pairs, hashes)
            ok &= base == found
            base_text, speed_text = f"{base_s:.3f}", f"{base_s / faiss_s:.0f}x"
        print(
            f"{n:>8} {faiss_s:>9.3f} {numpy_s:>15.3f} {mih_s:>7.3f} {base_text:>15}"
            f" {speed_text:>18}"
            f" {numpy_s / faiss_s:>14.1f}x {len(found):>6}"
        )
    print("all methods agree" if ok else "METHODS DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
