"""Exact Hamming-distance search over 64-bit perceptual hashes.

Every function here returns *exactly* the pairs a full comparison would: no approximate index
that silently loses pairs. Three engines do the work and agree with each other (a test checks
them against brute force):

``mih``
    Multi-index hashing. The 64 bits are cut into ``m`` chunks; two hashes within distance
    ``r`` must agree to within ``r // m`` bits on at least one chunk (pigeonhole), so each
    chunk's value is looked up in a dense bucket table under every flip mask of at most
    ``r // m`` bits and only those candidates are compared. Vectorised with numpy; runs in
    threads because numpy releases the GIL.
``faiss``
    ``faiss.IndexBinaryFlat.range_search``: exhaustive, in C++ with OpenMP.
``numpy``
    Blocked vectorised popcount (``np.bitwise_count``): the fallback that needs nothing.

``auto`` picks the cheapest by a small cost model (MIH for large sets at small radii).

Pairs come back as an ``int64`` array of shape ``(k, 3)``: ``(i, j, distance)``, sorted by
``(i, j)``; for a self-search ``i < j``. Example::

    >>> pairs_within(np.array([0b1011, 0b1001, 0xFFFF], dtype=np.uint64), 1)
    array([[0, 1, 1]])
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

Method = Literal["auto", "mih", "faiss", "numpy"]
METHODS: tuple[str, ...] = ("auto", "mih", "faiss", "numpy")
BITS = 64
# Rough costs in nanoseconds, measured on the project's 2-core machine; only their ratios
# matter, to choose between the engines.
_NS_PER_PROBE = 10.0  # one item looked up under one flip mask
_NS_PER_CANDIDATE = 14.0  # one MIH candidate expanded and compared
_NS_PER_PAIR_FAISS = 1.2
_NS_PER_PAIR_NUMPY = 4.0
_CANDIDATES_PER_STEP = 262_144
_MAX_TABLE_BITS = 22


def hex_to_uint64(values: Iterable[str]) -> np.ndarray:
    """Return 16-character hex hashes as a ``uint64`` array, e.g. ``['00ff…'] -> [255…]``."""
    return np.array([int(value, 16) for value in values], dtype=np.uint64)


def uint64_to_hex(value: int | np.integer) -> str:
    """Return one 64-bit hash as the catalog's 16-character lower-case hex string."""
    return f"{int(value):016x}"


def hamming(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Return the element-wise Hamming distance of two ``uint64`` arrays (or scalars)."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64)))


def _check(hashes: np.ndarray, name: str) -> np.ndarray:
    array = np.ascontiguousarray(hashes)
    if array.ndim != 1 or array.dtype != np.uint64:
        raise ValueError(f"{name} must be a 1-d uint64 array; convert hex with hex_to_uint64()")
    return array


def _check_threshold(threshold: int) -> int:
    if not 0 <= int(threshold) <= BITS:
        raise ValueError(f"threshold {threshold} is outside 0..{BITS}; pick a Hamming distance")
    return int(threshold)


def _empty() -> np.ndarray:
    return np.empty((0, 3), dtype=np.int64)


def _finish(parts: Sequence[np.ndarray], n_base: int) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    pairs = np.concatenate(parts)
    # MIH can find one pair through several chunks: keep one row per (i, j).
    keys = pairs[:, 0] * max(n_base, 1) + pairs[:, 1]
    _, first = np.unique(keys, return_index=True)
    return pairs[first]


# --- brute force engines ------------------------------------------------------------------


def _numpy_search(queries: np.ndarray, base: np.ndarray, r: int, self_join: bool) -> np.ndarray:
    block = max(1, 2_000_000 // max(len(base), 1))
    parts = []
    for start in range(0, len(queries), block):
        stop = min(start + block, len(queries))
        lo = start + 1 if self_join else 0  # upper triangle only: j > i
        target = base[lo:]
        if not len(target):
            continue
        dist = np.bitwise_count(queries[start:stop, None] ^ target[None, :])
        if self_join:
            rows = np.arange(start, stop)[:, None]
            dist = np.where(np.arange(lo, len(base))[None, :] > rows, dist, BITS + 1)
        qi, bj = np.nonzero(dist <= r)
        parts.append(np.stack([qi + start, bj + lo, dist[qi, bj].astype(np.int64)], axis=1))
    return _finish(parts, len(base))


def _faiss_search(queries: np.ndarray, base: np.ndarray, r: int, self_join: bool) -> np.ndarray:
    import faiss

    index = faiss.IndexBinaryFlat(BITS)
    index.add(base.view(np.uint8).reshape(-1, 8))
    parts = []
    for start in range(0, len(queries), 200_000):
        chunk = queries[start : start + 200_000]
        # faiss returns distances strictly below the radius.
        lims, dist, ids = index.range_search(chunk.view(np.uint8).reshape(-1, 8), r + 1)
        qi = np.repeat(np.arange(start, start + len(chunk)), np.diff(lims).astype(np.int64))
        pairs = np.stack([qi, ids.astype(np.int64), dist.astype(np.int64)], axis=1)
        if self_join:
            pairs = pairs[pairs[:, 1] > pairs[:, 0]]
        parts.append(pairs)
    return _finish(parts, len(base))


# --- multi-index hashing ------------------------------------------------------------------


def _chunk_layout(m: int) -> list[tuple[int, int]]:
    """Return ``(shift, width)`` for ``m`` chunks covering 64 bits, widest first."""
    layout, shift = [], 0
    for c in range(m):
        width = BITS // m + (1 if c < BITS % m else 0)
        layout.append((shift, width))
        shift += width
    return layout


def _masks(width: int, radius: int) -> np.ndarray:
    masks = [0]
    for k in range(1, radius + 1):
        for bits in itertools.combinations(range(width), k):
            masks.append(sum(1 << b for b in bits))
    return np.array(masks, dtype=np.int64)


def _mih_cost(m: int, r: int, n_q: int, n_b: int, self_join: bool) -> float:
    radius = r // m
    cost = 0.0
    for _, width in _chunk_layout(m):
        n_masks = sum(math.comb(width, k) for k in range(radius + 1))
        candidates = n_masks * n_q * n_b / 2.0**width * (0.5 if self_join else 1.0)
        cost += n_masks * n_q * _NS_PER_PROBE + candidates * _NS_PER_CANDIDATE
    return cost


def _best_mih_chunks(r: int, n_q: int, n_b: int, self_join: bool) -> tuple[int, float]:
    best = (0, math.inf)
    for m in range(3, 17):
        if math.ceil(BITS / m) > _MAX_TABLE_BITS:
            continue
        cost = _mih_cost(m, r, n_q, n_b, self_join)
        if cost < best[1]:
            best = (m, cost)
    return best


def _expand(
    q_idx: np.ndarray, starts: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (query index, sorted-base position) for every candidate in the given ranges."""
    total = int(counts.sum())
    offsets = np.cumsum(counts) - counts
    positions = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, counts)
    return np.repeat(q_idx, counts), positions


def _probe(
    sorted_queries: np.ndarray,
    q_keys: np.ndarray,
    q_order: np.ndarray,
    sorted_base: np.ndarray,
    b_order: np.ndarray,
    bucket_start: np.ndarray,
    bucket_count: np.ndarray,
    masks: np.ndarray,
    r: int,
    self_join: bool,
) -> list[np.ndarray]:
    """Compare every query with the base items in its chunk-bucket under each flip mask.

    Queries and base are both sorted by the chunk key, so a run of queries reads a run of
    neighbouring buckets: the gathers stay in cache. Indices are mapped back at the end.
    """
    parts = []
    all_q = np.arange(len(sorted_queries), dtype=np.int64)
    for mask in masks.tolist():
        if self_join and mask == 0:
            # Same bucket: only the items sorted after this one, so each pair comes once.
            q_idx = all_q
            starts = all_q + 1
            counts = bucket_start[q_keys] + bucket_count[q_keys] - starts
        else:
            partner = q_keys ^ mask
            q_idx = all_q
            if self_join:
                # The pair of buckets (k, k^mask) is visited once, from the smaller key.
                keep = q_keys < partner
                q_idx, partner = all_q[keep], partner[keep]
            counts = bucket_count[partner]
            starts = bucket_start[partner]
        hit = counts > 0
        q_idx, starts, counts = q_idx[hit], starts[hit], counts[hit]
        if not len(q_idx):
            continue
        # Expand a few hundred thousand candidates at a time, so the arrays stay in cache.
        ends = np.cumsum(counts)
        cuts = np.searchsorted(
            ends, np.arange(_CANDIDATES_PER_STEP, int(ends[-1]), _CANDIDATES_PER_STEP)
        )
        for lo, hi in itertools.pairwise([0, *cuts.tolist(), len(q_idx)]):
            if hi <= lo:
                continue
            qi, pos = _expand(q_idx[lo:hi], starts[lo:hi], counts[lo:hi])
            dist = np.bitwise_count(sorted_queries[qi] ^ sorted_base[pos])
            ok = dist <= r
            if ok.any():
                a, b = q_order[qi[ok]], b_order[pos[ok]]
                if self_join:
                    a, b = np.minimum(a, b), np.maximum(a, b)
                parts.append(np.stack([a, b, dist[ok].astype(np.int64)], axis=1))
    return parts


def _mih_search(
    queries: np.ndarray,
    base: np.ndarray,
    r: int,
    self_join: bool,
    chunks: int | None = None,
    workers: int | None = None,
) -> np.ndarray:
    m = chunks or _best_mih_chunks(r, len(queries), len(base), self_join)[0] or 4
    workers = workers or min(4, os.cpu_count() or 1)
    tasks = []
    for shift, width in _chunk_layout(m):
        key_mask = np.uint64((1 << width) - 1)
        b_keys = ((base >> np.uint64(shift)) & key_mask).astype(np.int64)
        b_order = np.argsort(b_keys, kind="stable")
        bucket_count = np.bincount(b_keys, minlength=1 << width)
        bucket_start = np.cumsum(bucket_count) - bucket_count
        if self_join:
            q_order, q_keys = b_order, b_keys[b_order]
        else:
            keys = ((queries >> np.uint64(shift)) & key_mask).astype(np.int64)
            q_order = np.argsort(keys, kind="stable")
            q_keys = keys[q_order]
        table = (
            queries[q_order],
            q_keys,
            q_order,
            base[b_order],
            b_order,
            bucket_start,
            bucket_count,
        )
        masks = _masks(width, r // m)
        for batch in np.array_split(masks, max(1, min(len(masks), workers * 2))):
            tasks.append((table, batch))

    def run(task: tuple[tuple, np.ndarray]) -> list[np.ndarray]:
        table, batch = task
        return _probe(*table, batch, r, self_join)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = [p for result in pool.map(run, tasks) for p in result]
    return _finish(parts, len(base))


# --- public API ---------------------------------------------------------------------------


def choose_method(n_queries: int, n_base: int, threshold: int, self_join: bool) -> str:
    """Return the engine ``auto`` would use for a search of this size."""
    pairs = n_queries * n_base * (0.5 if self_join else 1.0)
    try:
        import faiss  # noqa: F401

        brute = ("faiss", pairs * _NS_PER_PAIR_FAISS)
    except ImportError:
        brute = ("numpy", pairs * _NS_PER_PAIR_NUMPY)
    m, cost = _best_mih_chunks(threshold, n_queries, n_base, self_join)
    if m and cost < brute[1] and n_base >= 4096:
        return "mih"
    return brute[0]


def _search(
    queries: np.ndarray,
    base: np.ndarray,
    threshold: int,
    method: str,
    self_join: bool,
    workers: int | None,
) -> np.ndarray:
    r = _check_threshold(threshold)
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r}; use one of {', '.join(METHODS)}")
    if not len(queries) or not len(base):
        return _empty()
    if method == "auto":
        method = choose_method(len(queries), len(base), r, self_join)
    if method == "mih":
        return _mih_search(queries, base, r, self_join, workers=workers)
    if method == "faiss":
        return _faiss_search(queries, base, r, self_join)
    return _numpy_search(queries, base, r, self_join)


def pairs_within(
    hashes: np.ndarray, threshold: int, method: Method = "auto", workers: int | None = None
) -> np.ndarray:
    """Return every pair of ``hashes`` within Hamming distance ``threshold`` (inclusive).

    ``hashes`` is a ``uint64`` array of length n; the result is an ``int64`` array of shape
    ``(k, 3)`` with rows ``(i, j, distance)``, ``i < j``, sorted by ``(i, j)``.
    """
    hashes = _check(hashes, "hashes")
    return _search(hashes, hashes, threshold, method, True, workers)


def cross_pairs(
    queries: np.ndarray,
    base: np.ndarray,
    threshold: int,
    method: Method = "auto",
    workers: int | None = None,
) -> np.ndarray:
    """Return every (query, base) pair within Hamming distance ``threshold`` (inclusive).

    Rows are ``(query index, base index, distance)``, sorted; shape ``(k, 3)``, ``int64``.
    """
    return _search(
        _check(queries, "queries"), _check(base, "base"), threshold, method, False, workers
    )


def brute_force_pairs(queries: np.ndarray, base: np.ndarray | None, threshold: int) -> np.ndarray:
    """Reference answer by the full distance matrix (small inputs only; used by tests).

    With ``base=None`` it is a self-search (``i < j``), otherwise a cross search.
    """
    q = _check(queries, "queries")
    b = q if base is None else _check(base, "base")
    dist = np.bitwise_count(q[:, None] ^ b[None, :]).astype(np.int64)
    ok = dist <= threshold
    if base is None:
        ok &= np.triu(np.ones_like(ok), k=1)
    i, j = np.nonzero(ok)
    return np.stack([i, j, dist[i, j]], axis=1) if len(i) else _empty()
