"""Connected components of a link graph: the one grouping mechanism of dedup and split units.

Both stages join items that are linked directly or through others (near-duplicate pairs, a
shared listing, an earlier duplicate group). The graph goes to scipy's
``connected_components``; components are numbered in order of their smallest node, so the
numbering depends only on the links, never on the order they were found in.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def component_labels(n: int, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Return the component number of each of the nodes ``0..n-1``, an ``int64`` array.

    ``sources[k]`` and ``targets[k]`` are the two ends of edge ``k``. Components are numbered
    in order of their smallest node: nodes 0..3 with the edge (0, 2) give ``[0, 1, 0, 2]``.
    """
    sources = np.asarray(sources, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    graph = coo_matrix((np.ones(len(sources), dtype=np.int8), (sources, targets)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first_seen = np.unique(labels, return_index=True)
    order = np.argsort(first_seen)
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[labels].astype(np.int64)


def connected_groups(edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Return the groups of ids joined by ``edges``, directly or through other ids.

    Each group is sorted and the groups come in order of their smallest id; an id that is in
    no edge is in no group. E.g. ``[(5, 1), (7, 9), (9, 2)] -> [[1, 5], [2, 7, 9]]``.
    """
    pairs = np.array(list(edges), dtype=np.int64).reshape(-1, 2)
    ids, positions = np.unique(pairs, return_inverse=True)
    positions = positions.reshape(-1, 2)
    labels = component_labels(len(ids), positions[:, 0], positions[:, 1])
    groups: list[list[int]] = [[] for _ in range(int(labels.max(initial=-1)) + 1)]
    for image_id, label in zip(ids.tolist(), labels.tolist(), strict=True):
        groups[label].append(image_id)
    return groups
