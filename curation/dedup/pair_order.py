"""An order of candidate pairs in which a process meets the same photos close together.

Verification reads both photos of every candidate pair (decode, scale, ORB: most of its cost),
keeping the most recent ones in memory. Pairs in the order the search found them (by the
first photo) send the second photo anywhere, so each photo was read three to four times over
the chunks of a demo marketplace. Numbering the photos along the candidate graph (reverse
Cuthill-McKee: neighbours get near numbers) and sorting the pairs by those numbers keeps a
photo's pairs together, and cutting that order into one contiguous chunk per process keeps
them in one process.
"""

from __future__ import annotations

import numpy as np


def local_order(candidates: np.ndarray, n_a: int, n_b: int | None = None) -> np.ndarray:
    """Return a permutation of the rows ``(i, j, ...)`` of ``candidates`` (``int64``) that
    sorts them by their photos' places along the candidate graph.

    ``i`` indexes ``n_a`` photos; ``j`` the same ones when ``n_b`` is None, else ``n_b``
    photos of another set.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    if len(candidates) < 2:
        return np.arange(len(candidates), dtype=np.int64)
    offset = 0 if n_b is None else n_a
    size = n_a + (0 if n_b is None else n_b)
    i, j = candidates[:, 0], candidates[:, 1] + offset
    ones = np.ones(len(candidates), dtype=np.int8)
    graph = sp.coo_matrix((ones, (i, j)), shape=(size, size)).tocsr()
    ranks = np.empty(size, dtype=np.int64)
    ranks[reverse_cuthill_mckee(graph + graph.T, symmetric_mode=True)] = np.arange(size)
    first, second = ranks[i], ranks[j]
    low, high = np.minimum(first, second), np.maximum(first, second)
    return np.lexsort((high, low)).astype(np.int64)
