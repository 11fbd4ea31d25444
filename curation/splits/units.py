"""Leakage units: groups of images that must land in the same split subset.

Two images belong to one unit when they are linked, directly or through other images, by

* the same listing (``images.listing_id`` or any ``image_sources.listing_id``: a photo reposted
  in a second listing ties both listings together),
* the same duplicate group (``duplicate_members``), or
* being near-duplicates by the decision dedup uses (:mod:`curation.dedup.decision`): stored
  pHashes (``image_hashes`` with ``kind='phash'``) within a Hamming threshold, confirmed by the
  stored colour layouts (``kind='colour'``), or with ``verify="orb"`` or ``"align"`` (the
  default) pHash and mirrored-pHash candidates confirmed on the stored photos. A pair that
  cannot be checked (no colour signature, unreadable photo) is linked on the pHash alone, so it
  can only merge units, never leak. ``align``'s pair checks go to a cluster when
  :func:`find_units` is given its shard map (:mod:`pipeline.shards`), with the same verdicts.

Units are the connected components of that graph (:func:`find_units`, through
:mod:`curation.dedup.components`, as dedup's groups). The pHash comparison never loops over
pairs in Python: it runs in the exact search of :mod:`curation.dedup.search` (multi-index
hashing, faiss or numpy blocks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from curation.dedup.components import component_labels
from curation.dedup.decision import (
    DEFAULT_VERIFY,
    PIXEL_DECISIONS,
    VERIFY_METHODS,
    NearDuplicateDecision,
    PhotoSet,
)
from curation.dedup.hashing import MIRROR_KIND, stored_hashes
from curation.dedup.near_duplicates import (
    COLOUR_KIND,
    DEFAULT_COLOUR_THRESHOLD,
    DEFAULT_PHASH_THRESHOLD,
)
from pipeline import schema as t
from pipeline.errors import ConfigError
from pipeline.shards import ShardMap
from pipeline.store import ImageStore


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


def unit_decision(
    phash_threshold: int,
    verify: str = DEFAULT_VERIFY,
    stored: Mapping[str, Any] | None = None,
) -> NearDuplicateDecision:
    """Return the near-duplicate decision of a split's units (unverified pairs kept).

    ``stored`` is a split's stored ``near_duplicates`` params (a grown split keeps its
    decision); without it, the ``verify`` decision at ``phash_threshold`` with the default
    colour threshold, as splits used before the decision was stored.
    """
    if stored:
        return NearDuplicateDecision.from_params(stored, unverified="keep")
    if verify not in VERIFY_METHODS:
        raise ConfigError(f"--verify {verify!r}: use one of {', '.join(VERIFY_METHODS)}")
    if phash_threshold > 32:
        raise ConfigError(f"--phash-threshold {phash_threshold} is outside -1..32")
    return NearDuplicateDecision(
        verify, max(phash_threshold, 0), DEFAULT_COLOUR_THRESHOLD, unverified="keep"
    )


def find_units(
    conn: Connection,
    image_ids: Sequence[int],
    phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
    colour_threshold: int | None = DEFAULT_COLOUR_THRESHOLD,
    decision: NearDuplicateDecision | None = None,
    store: ImageStore | None = None,
    map_shards: ShardMap | None = None,
) -> UnitGraph:
    """Return the leakage units of ``image_ids`` (links to images outside the set are ignored).

    ``phash_threshold`` < 0 switches the near-duplicate links off. Otherwise the links are
    ``decision``'s (its ``unverified`` is taken as "keep"), by default the colour decision at
    ``phash_threshold`` and ``colour_threshold`` (None: the pHash alone). An ``orb`` or
    ``align`` decision reads the photos, so it needs ``store``; ``map_shards`` sends
    ``align``'s pair checks there as shards (the store must be at the same path; same units).
    """
    if decision is None:
        decision = NearDuplicateDecision(
            "colour", max(phash_threshold, 0), colour_threshold, unverified="keep"
        )
    elif decision.unverified != "keep":
        decision = NearDuplicateDecision.from_params(decision.params(), unverified="keep")
    if decision.verify in PIXEL_DECISIONS and store is None:
        raise ValueError(f"an {decision.verify} decision reads the photos: pass the image store")
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
        (index[image_id], value)
        for image_id, value in stored_hashes(conn, "phash").items()
        if image_id in index
    ]
    hashed = len(hash_rows)
    if hash_rows and phash_threshold >= 0:
        positions = np.array([position for position, _ in hash_rows], dtype=np.int64)
        members = [int(ids[p]) for p in positions.tolist()]
        colours = stored_hashes(conn, COLOUR_KIND) if COLOUR_KIND in decision.kinds() else {}
        reads_pixels = decision.verify in PIXEL_DECISIONS
        mirrored = stored_hashes(conn, MIRROR_KIND) if reads_pixels else {}
        paths: list[str | None] = [None] * len(members)
        if store is not None and reads_pixels:
            where = dict(conn.execute(sa.select(t.images.c.id, t.images.c.store_path)).all())
            paths = [str(store.path(where[i])) if where.get(i) else None for i in members]
        photos = PhotoSet.of(
            [value for _, value in hash_rows],
            [colours.get(i) for i in members],
            [mirrored.get(i) for i in members],
            paths,
        )
        pairs = decision.pairs_within(photos, map_shards=map_shards)
        rows, cols = pairs[:, 0], pairs[:, 1]
        edges += list(zip(positions[rows].tolist(), positions[cols].tolist(), strict=True))

    edge_array = np.array(edges, dtype=np.int64).reshape(-1, 2)
    return UnitGraph(ids, component_labels(n, edge_array[:, 0], edge_array[:, 1]), hashed)
