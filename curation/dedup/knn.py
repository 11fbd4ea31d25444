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
