"""Leakage units: groups of images that must land in the same split subset.

Two images belong to one unit when they are linked, directly or through other images, by

* the same listing (``images.listing_id`` or any ``image_sources.listing_id``: a photo reposted
  in a second listing ties both listings together),
* the same duplicate group (``duplicate_members``), or
* being near-duplicates by the decision dedup uses (:mod:`curation.near_duplicates`): stored
  pHashes (``image_hashes`` with ``kind='phash'``) within a Hamming threshold, confirmed by the
  stored colour layouts (``kind='colour'``). A pair where either image has no colour signature
  is linked on the pHash alone, so a missing signature can only merge units, never leak.

Units are the connected components of that graph (:func:`find_units`). The pHash comparison
never loops over pairs in Python: it runs in the exact search of :mod:`curation.hamming`
(multi-index hashing, faiss or numpy blocks); :func:`near_pairs` is the plain faiss/numpy one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy.engine import Connection

from curation.near_duplicates import (
    COLOUR_KIND,
    DEFAULT_COLOUR_THRESHOLD,
    DEFAULT_PHASH_THRESHOLD,
    NearDuplicateRule,
    colour_levels,
)
from pipeline import schema as t

# Bound the temporary XOR matrix of one block to about 32 MB (4M uint64 cells).
_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class UnitGraph:
    """The units of a set of images.

    ``image_ids`` is sorted; ``unit_of[i]`` is the unit number of ``image_ids[i]`` (units are
    numbered in order of their smallest image id, so the numbering depends only on the catalog).
    ``hashed`` counts the images that had a stored pHash.

    Example: images 1..4 where 1 and 3 share a listing → ``unit_of == [0, 1, 0, 2]``.
    """

    image_ids: np.ndarray
    unit_of: np.ndarray
    hashed: int

    def members(self) -> list[list[int]]:
        """Return the image ids of every unit, indexed by unit number."""
        groups: list[list[int]] = [[] for _ in range(int(self.unit_of.max(initial=-1)) + 1)]
        for image_id, unit in zip(self.image_ids.tolist(), self.unit_of.tolist(), strict=True):
            groups[unit].append(image_id)
        return groups


def phash_to_uint64(values: Sequence[str]) -> np.ndarray:
    """Return 16-character hex pHashes as an array of unsigned 64-bit integers."""
    return np.array([int(value, 16) for value in values], dtype=np.uint64)


def near_pairs(
    hashes: np.ndarray, threshold: int, method: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Return index pairs ``(rows, cols)`` with ``rows < cols`` and Hamming distance ≤ threshold.

    ``hashes`` is a 1-D ``uint64`` array; the pairs come back sorted, e.g. hashes
    ``[0b0, 0b11, 0xFF…]`` with threshold 2 give ``(array([0]), array([1]))``. ``method``:
    ``faiss`` (exact binary index, SIMD popcounts), ``numpy`` (blocks of rows, popcount in
    numpy) or ``auto`` (faiss when it imports). Both are exact and O(n²); see
    ``benchmarks/split_units.py``.
    """
    n = int(hashes.shape[0])
    if n < 2 or threshold < 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if method in ("auto", "faiss"):
        try:
            rows, cols = _faiss_pairs(hashes, threshold)
        except ImportError:
            if method == "faiss":
                raise
        else:
            order = np.lexsort((cols, rows))
            return rows[order], cols[order]
    return _numpy_pairs(hashes, threshold)


def _faiss_pairs(hashes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    codes = np.ascontiguousarray(hashes.astype("<u8")).view(np.uint8).reshape(-1, 8)
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    # faiss keeps distances strictly below the radius.
    lims, _, ids = index.range_search(codes, threshold + 1)
    rows = np.repeat(np.arange(len(codes), dtype=np.int64), np.diff(lims).astype(np.int64))
    cols = ids.astype(np.int64)
    keep = rows < cols
    return rows[keep], cols[keep]


def _numpy_pairs(hashes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    n = int(hashes.shape[0])
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        # Compare this block of rows with every column from ``start`` on (upper triangle).
        distances = np.bitwise_count(hashes[start:stop, None] ^ hashes[None, start:])
        r, c = np.nonzero(distances <= threshold)
        r = r + start
        c = c + start
        keep = r < c
        rows.append(r[keep])
        cols.append(c[keep])
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)


def _link_by_key(
    index: dict[int, int], pairs: Sequence[tuple[int, object]]
) -> list[tuple[int, int]]:
    """Return edges chaining together the images that share a key (listing, group)."""
    first: dict[object, int] = {}
    edges: list[tuple[int, int]] = []
    for image_id, key in pairs:
        position = index.get(image_id)
        if position is None or key is None:
            continue
        anchor = first.setdefault(key, position)
        if anchor != position:
            edges.append((anchor, position))
    return edges


def find_units(
    conn: Connection,
    image_ids: Sequence[int],
    phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
    colour_threshold: int | None = DEFAULT_COLOUR_THRESHOLD,
) -> UnitGraph:
    """Return the leakage units of ``image_ids`` (links to images outside the set are ignored).

    ``phash_threshold`` < 0 switches the near-duplicate links off; ``colour_threshold=None``
    links on the pHash alone.
    """
    ids = np.array(sorted(set(image_ids)), dtype=np.int64)
    index = {int(image_id): position for position, image_id in enumerate(ids.tolist())}
    n = len(ids)
    if n == 0:
        return UnitGraph(ids, np.empty(0, dtype=np.int64), 0)

    listing_pairs = [
        (row.id, ("listing", row.listing_id))
        for row in conn.execute(
            sa.select(t.images.c.id, t.images.c.listing_id).where(
                t.images.c.listing_id.is_not(None)
            )
        )
    ]
    listing_pairs += [
        (row.image_id, ("listing", row.listing_id))
        for row in conn.execute(
            sa.select(t.image_sources.c.image_id, t.image_sources.c.listing_id).where(
                t.image_sources.c.listing_id.is_not(None)
            )
        )
    ]
    group_pairs = [
        (row.image_id, ("group", row.group_id))
        for row in conn.execute(
            sa.select(t.duplicate_members.c.image_id, t.duplicate_members.c.group_id)
        )
    ]
    edges = _link_by_key(index, listing_pairs) + _link_by_key(index, group_pairs)

    hash_rows = [
        (index[row.image_id], row.value)
        for row in conn.execute(
            sa.select(t.image_hashes.c.image_id, t.image_hashes.c.value).where(
                t.image_hashes.c.kind == "phash"
            )
        )
        if row.image_id in index
    ]
    hashed = len(hash_rows)
    if hash_rows and phash_threshold >= 0:
        colours = dict(
            conn.execute(
                sa.select(t.image_hashes.c.image_id, t.image_hashes.c.value).where(
                    t.image_hashes.c.kind == COLOUR_KIND
                )
            ).all()
        )
        rule = NearDuplicateRule(phash_threshold, colour_threshold, unverified="keep")
        positions = np.array([position for position, _ in hash_rows], dtype=np.int64)
        levels = colour_levels([colours.get(int(ids[p])) for p in positions.tolist()])
        pairs = rule.pairs_within(phash_to_uint64([value for _, value in hash_rows]), levels)
        rows, cols = pairs[:, 0], pairs[:, 1]
        edges += list(zip(positions[rows].tolist(), positions[cols].tolist(), strict=True))

    if edges:
        edge_array = np.array(edges, dtype=np.int64)
        sources, targets = edge_array[:, 0], edge_array[:, 1]
    else:
        sources = targets = np.empty(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(sources), dtype=np.int8), (sources, targets)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # Renumber units by their first (smallest) image id so numbering is catalog-determined.
    _, first_seen = np.unique(labels, return_index=True)
    order = np.argsort(first_seen)
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return UnitGraph(ids, renumber[labels].astype(np.int64), hashed)
