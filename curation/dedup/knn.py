"""Each photo's nearest hashes: the exact k-nearest-neighbour search of the ``align`` decision.

A radius search returns every pair within a distance, which on drawn cars of one model (or a
studio's stock shots) grows with the square of the catalog; a crop or a rotation, though, moves
a real photo's pHash up to ~20 bits while leaving its original its *nearest* hash
(``benchmarks/dedup_real.py``). So the ``align`` decision asks for each query's ``k`` nearest
hashes within a wide radius: bounded work per photo, exact (faiss's flat binary index compares
every pair, no approximate index), and the photos it returns are the ones worth verifying.
"""

from __future__ import annotations

import numpy as np

from curation.dedup.near_duplicates import colour_distance


def _codes(hashes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(hashes, dtype=np.uint64)).view(np.uint8).reshape(-1, 8)


def nearest_within(
    queries: np.ndarray, base: np.ndarray, k: int, radius: int, same_set: bool = False
) -> np.ndarray:
    """Return rows ``(query i, base j, distance)`` for each query's ``k`` nearest base hashes
    within ``radius`` bits (``int64``, ``(m, 3)``).

    ``same_set``: ``queries`` and ``base`` are the same hashes, so a query does not find
    itself (it asks for one more neighbour instead). Ties at the k-th distance are broken by
    faiss (by position).
    """
    import faiss

    if len(queries) == 0 or len(base) == 0 or k <= 0:
        return np.zeros((0, 3), dtype=np.int64)
    index = faiss.IndexBinaryFlat(64)
    index.add(_codes(base))
    wanted = min(len(base), k + (1 if same_set else 0))
    distances, found = index.search(_codes(queries), wanted)
    rows = np.repeat(np.arange(len(queries)), wanted)
    out = np.column_stack([rows, found.ravel(), distances.ravel()]).astype(np.int64)
    keep = (out[:, 1] >= 0) & (out[:, 2] <= radius)
    if same_set:
        keep &= out[:, 0] != out[:, 1]
    return out[keep]


def nearest_colours(
    queries: tuple[np.ndarray, np.ndarray],
    base: tuple[np.ndarray, np.ndarray],
    k: int,
    radius: int,
    same_set: bool = False,
) -> np.ndarray:
    """Return rows ``(query i, base j, colour distance)`` for each query's ``k`` nearest colour
    layouts within ``radius`` (the L1 distance of :func:`colour_distance`), ``int64 (m, 3)``.

    ``queries`` and ``base`` are ``(levels, present)`` from :func:`colour_levels`; photos
    without a signature take no part. The layout of a photo's colours survives a crop of 10% a
    side or a rotation of 5 degrees that moves its pHash 16-26 bits: the original is then the
    copy's nearest layout while a dozen other photos' pHashes lie nearer
    (``benchmarks/dedup_real.py``). Ranked exactly by L2 (faiss's flat index), kept by L1.
    """
    import faiss

    (levels_q, present_q), (levels_b, present_b) = queries, base
    rows_q, rows_b = np.flatnonzero(present_q), np.flatnonzero(present_b)
    if len(rows_q) == 0 or len(rows_b) == 0 or k <= 0:
        return np.zeros((0, 3), dtype=np.int64)
    index = faiss.IndexFlatL2(levels_b.shape[1])
    index.add(np.ascontiguousarray(levels_b[rows_b], dtype=np.float32))
    wanted = min(len(rows_b), k + (1 if same_set else 0))
    _, found = index.search(np.ascontiguousarray(levels_q[rows_q], dtype=np.float32), wanted)
    i = np.repeat(rows_q, wanted)
    j = rows_b[np.maximum(found.ravel(), 0)]
    keep = found.ravel() >= 0
    if same_set:
        keep &= i != j
    i, j = i[keep], j[keep]
    distance = colour_distance(levels_q[i], levels_b[j]).astype(np.int64)
    near = distance <= radius
    return np.column_stack([i[near], j[near], distance[near]]).astype(np.int64).reshape(-1, 3)
