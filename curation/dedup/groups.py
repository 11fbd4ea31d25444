"""Duplicate groups: the catalog's hash index, the confirmed pairs, and the copy each group keeps.

:func:`load_index` reads the hashed images; :func:`find_pairs` searches the new ones against
each other and against the rest (:mod:`curation.dedup.search`, exact) and keeps the pairs the
near-duplicate decision confirms (:mod:`curation.dedup.near_duplicates`); :func:`build_groups`
joins pairs and the earlier groups they touch into connected groups
(:mod:`curation.dedup.components`) and puts the best copy first: largest resolution, then
larger file, then first seen. :func:`groups_contact_sheet` draws the groups for a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from curation.dedup.anchored import anchored_groups
from curation.dedup.components import connected_groups
from curation.dedup.decision import NearDuplicateDecision, PhotoSet
from curation.dedup.hashing import MIRROR_KIND, stored_hashes
from curation.dedup.near_duplicates import COLOUR_KIND, colour_levels
from curation.dedup.search import hamming
from curation.review.contact_sheet import contact_sheet
from pipeline import schema as t
from pipeline.shards import ShardMap
from pipeline.store import ImageStore


@dataclass
class Member:
    """One image of a group with what decides which copy is kept."""

    image_id: int
    label: str
    status: str
    width: int
    height: int
    bytes: int
    store_path: str
    hash: int
    colour: str | None = None
    distance: int = 0  # to the kept copy
    mirrored: str | None = None  # pHash of the mirror image (hex)

    @property
    def quality(self) -> tuple[int, int, int]:
        """Sort key, larger is better: resolution, then file size, then first seen."""
        return (self.width * self.height, self.bytes, -self.image_id)


@dataclass
class Group:
    """A connected set of near-duplicate images, kept copy first."""

    members: list[Member]
    conflict: bool
    group_id: int | None = None

    @property
    def kept(self) -> Member:
        """The copy that stays active."""
        return self.members[0]

    @property
    def labels(self) -> list[str]:
        """The distinct labels in the group, sorted."""
        return sorted({m.label for m in self.members})


def load_index(conn: Connection, kind: str) -> dict[int, Member]:
    """Return ``{image_id: Member}`` of the active and duplicate images with a ``kind`` hash.

    Each member carries its hash as an integer, its colour signature and the pHash of its
    mirror image (None when missing).
    """
    colours = stored_hashes(conn, COLOUR_KIND)
    mirrored = stored_hashes(conn, MIRROR_KIND)
    rows = conn.execute(
        sa.select(
            t.images.c.id,
            t.images.c.label,
            t.images.c.status,
            t.images.c.width,
            t.images.c.height,
            t.images.c.bytes,
            t.images.c.store_path,
            t.image_hashes.c.value,
        )
        .join(t.image_hashes, t.image_hashes.c.image_id == t.images.c.id)
        .where(t.image_hashes.c.kind == kind, t.images.c.status.in_(("active", "duplicate")))
        .order_by(t.images.c.id)
    ).all()
    return {
        int(r.id): Member(
            int(r.id),
            r.label,
            r.status,
            r.width,
            r.height,
            r.bytes,
            r.store_path,
            int(r.value, 16),
            colours.get(r.id),
            mirrored=mirrored.get(r.id),
        )
        for r in rows
    }


def photo_set(
    index: dict[int, Member], ids: Sequence[int], store: ImageStore | None = None
) -> PhotoSet:
    """Return the :class:`PhotoSet` of ``ids`` (paths only when ``store`` is given)."""
    members = [index[i] for i in ids]
    mirrored = [m.mirrored for m in members]
    return PhotoSet(
        np.array([m.hash for m in members], dtype=np.uint64),
        colour_levels([m.colour for m in members]),
        (
            np.array([int(v, 16) if v else 0 for v in mirrored], dtype=np.uint64),
            np.array([bool(v) for v in mirrored], dtype=bool),
        ),
        [store.path(m.store_path) if store is not None else None for m in members],
    )


def find_pairs(
    index: dict[int, Member],
    new: set[int],
    decision: NearDuplicateDecision,
    method: str = "auto",
    workers: int | None = None,
    store: ImageStore | None = None,
    map_shards: ShardMap | None = None,
) -> list[tuple[int, int, int]]:
    """Return ``[(image_id_a, image_id_b, hash distance)]`` for new×new and new×old pairs.

    Only the candidate pairs ``decision`` confirms are returned; its ``align`` and ``orb``
    verifications read the photos from ``store``, ``align``'s on a cluster when ``map_shards``
    is given.
    """
    new_ids = sorted(new)
    old_ids = sorted(set(index) - new)
    new_set = photo_set(index, new_ids, store)
    old_set = photo_set(index, old_ids, store)
    pairs = []
    for i, j, d in decision.pairs_within(new_set, method, workers, map_shards).tolist():
        pairs.append((new_ids[i], new_ids[j], d))
    found = decision.cross_pairs(new_set, old_set, method, workers, map_shards)
    for i, j, d in found.tolist():
        pairs.append((new_ids[i], old_ids[j], d))
    return pairs


def build_groups(
    index: dict[int, Member],
    pairs: Sequence[tuple[int, int, int]],
    existing: dict[int, list[int]],
    anchored: bool = False,
) -> list[Group]:
    """Join the pairs and the existing groups they touch; return the touched groups.

    ``anchored`` (the ``align`` decision): a photo joins a group only through its kept copy
    or most of its members (:mod:`curation.dedup.anchored`), never through a chain of pairs;
    otherwise pairs are closed into connected components.

    Groups come largest first; each lists its best copy first, and ``distance`` is each
    member's hash distance to it.
    """
    edges = [(a, b) for a, b, _ in pairs]
    edges += [(members[0], other) for members in existing.values() for other in members[1:]]
    if anchored:
        # A member that has left the index (rejected) ranks last: it anchors nothing new.
        def quality(i: int) -> tuple[int, ...]:
            return (1, *index[i].quality) if i in index else (0, 0, 0, -i)

        found = anchored_groups(edges, quality)
    else:
        found = connected_groups(edges)
    # An earlier group's member that has left the index (rejected) still links the others.
    components = [[i for i in ids if i in index] for ids in found]
    groups = []
    for ids in components:
        if len(ids) < 2:
            continue
        members = sorted((index[i] for i in ids), key=lambda m: m.quality, reverse=True)
        for m in members:
            m.distance = int(hamming(m.hash, members[0].hash))
        labels = {m.label for m in members}
        groups.append(Group(members=members, conflict=len(labels) > 1))
    groups.sort(key=lambda g: (-len(g.members), g.kept.image_id))
    return groups


def groups_contact_sheet(
    groups: Sequence[Group],
    store: ImageStore,
    out_png: Path,
    max_groups: int = 12,
    columns: int = 6,
    thumb_size: int = 140,
) -> Path:
    """Draw the ``max_groups`` largest groups, one row each (kept copy first); return the PNG.

    A group larger than ``columns`` shows its first ``columns`` members.
    """
    cells: list[tuple[Path | None, str]] = []
    for group in groups[:max_groups]:
        row: list[tuple[Path | None, str]] = []
        for n, m in enumerate(group.members[:columns]):
            tag = ("CONFLICT " if group.conflict else "KEPT ") if n == 0 else f"d={m.distance} "
            row.append(
                (store.path(m.store_path), f"{tag}#{m.image_id} {m.label} {m.width}x{m.height}")
            )
        cells += row + [(None, "")] * (columns - len(row))
    title = f"{len(groups)} duplicate groups; the {min(len(groups), max_groups)} largest"
    return contact_sheet(cells, out_png, columns=columns, thumb_size=thumb_size, title=title)
