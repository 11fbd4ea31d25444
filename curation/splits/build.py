"""Building and growing a split version: leakage-free, reproducible, stored in the catalog.

:func:`build_split` assigns whole leakage units (see :mod:`curation.splits.units`: a listing's
photos, a duplicate group, near-duplicate pairs) to ``train`` / ``validation`` / ``test``,
stratified by label and shuffled with a seed (:mod:`curation.splits.plan`), and stores them as
version N of a named split. Whether a request creates a version, grows the latest or is refused
is decided by :func:`curation.splits.policy.decide_split`; this module carries it out.

Run again on a grown catalog it keeps every assignment and places only the new images:

* a new image linked to an image already in ``train`` or ``validation`` joins it there;
* a new image linked to the **test** set (or to two different subsets) is *withheld*: it is
  placed nowhere, because adding it to test would change the test set and putting it elsewhere
  would leak. It is reported on every run and takes part again after ``reshuffle``;
* the other new images go to ``train`` and ``validation`` in the version's train:validation
  proportion per label. The test set never changes, so models trained months apart are scored
  on the same photos; ``reshuffle=True`` builds version N+1 from scratch and keeps version N.

Each version stores its test set's fingerprint and photo count when it is built
(:func:`curation.splits.stored.fingerprint_of`); evaluation scores exactly those photos.

Images that stop being usable after they were assigned (rejected, marked duplicate, sent to
review) keep their assignment rows, so the history stays intact, but they are reported as
*stale* and left out of :func:`curation.splits.stored.load_split` (by default) and of the
export — except for evaluation, which reads the whole fixed test set
(:func:`curation.splits.stored.read_test_set`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from curation.splits.plan import SUBSETS, Counts, allocate_units, place_new_units, plan_targets
from curation.splits.policy import SplitDecision, SplitRequest, decide_split
from curation.splits.stored import fingerprint_of, usable_labels
from curation.splits.units import DEFAULT_PHASH_THRESHOLD, find_units, unit_decision
from pipeline import schema as t
from pipeline.catalog import finish_run, start_run
from pipeline.errors import ConfigError
from pipeline.shards import ShardMap
from pipeline.store import ImageStore
from pipeline.workspace import Workspace


@dataclass(frozen=True)
class SplitResult:
    """What :func:`build_split` did.

    ``counts`` and ``targets`` map subset → label → images, e.g.
    ``{"train": {"swift": 1200, "wagonr": 1200}, "validation": {...}, "test": {...}}``;
    ``counts`` holds the usable images assigned now, ``targets`` what the version aimed for when
    it was created. ``newly_placed`` counts images assigned by this call; ``withheld`` lists new
    images left out because they are linked to the test set; ``stale`` lists assigned images that
    are no longer usable; ``surplus`` counts usable images the requested sizes did not need.
    """

    split_id: int
    name: str
    version: int
    seed: int
    created: bool
    counts: Counts
    targets: Counts
    newly_placed: int
    withheld: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    surplus: int = 0
    unhashed: int = 0
    test_fingerprint: str | None = None
    test_count: int | None = None
    note: str | None = None  # how a new version's sizes were fitted to the collected photos

    def total(self, subset: str) -> int:
        """Return the number of usable images assigned to ``subset``."""
        return sum(self.counts.get(subset, {}).values())

    def summary(self) -> dict[str, Any]:
        """Return the result as plain data, for a run record or a flow's return value.

        E.g. ``{"split_id": 3, "name": "default", "version": 1, "created": True, "counts": {…},
        "newly_placed": 4000, "withheld": 0, "stale": 0, "surplus": 12}``: the lists
        (withheld, stale) become their lengths.
        """
        return {
            "split_id": self.split_id,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "counts": self.counts,
            "newly_placed": self.newly_placed,
            "withheld": len(self.withheld),
            "stale": len(self.stale),
            "surplus": self.surplus,
            "test_fingerprint": self.test_fingerprint,
            "test_count": self.test_count,
        }


def _counts_of(assigned: Iterable[tuple[str, str]]) -> Counts:
    counts: Counts = {subset: {} for subset in SUBSETS}
    for subset, label in assigned:
        counts[subset][label] = counts[subset].get(label, 0) + 1
    return counts


def build_split(
    workspace: Workspace,
    request: SplitRequest | None = None,
    *,
    map_shards: ShardMap | None = None,
    **options: Any,
) -> SplitResult:
    """Create or grow the split ``request.name`` as :func:`decide_split` decides; return a
    :class:`SplitResult`.

    ``request`` is a :class:`SplitRequest`; without one, ``options`` are its fields (e.g.
    ``build_split(ws, sizes=(24, 8, 8), seed=1)``). A new version (the first, or
    ``reshuffle``) is built from the usable images: ``sizes`` totals per subset (train,
    validation, test) or ``fractions`` of each label (default 0.6/0.2/0.2), seeded by ``seed``
    (default 0). Later calls keep the latest version's settings and assignments and place only
    new images (see the module docstring); a setting that differs from the stored one raises
    :class:`ConfigError`. ``phash_threshold`` (default 8) is the pHash Hamming distance that
    ties two images together; -1 turns it off. ``verify`` ("align", "colour" or "orb", see
    :mod:`curation.dedup.decision`) is how a match is confirmed; the decision's parameters are
    stored in the split's ``near_duplicates`` param. ``map_shards`` sends ``align``'s pair
    checks to a cluster (:func:`find_units`).
    """
    if request is None:
        request = SplitRequest(**options)
    with workspace.catalog.atomic() as conn:
        decision = decide_split(conn, request)
        if decision.action == "refuse":
            raise ConfigError(decision.reason)
        if decision.action == "grow":
            return _grow(conn, decision.latest, workspace.store, map_shards)
        return _build_fresh(conn, decision, workspace.store, map_shards)


def _build_fresh(
    conn: Connection,
    decided: SplitDecision,
    store: ImageStore,
    map_shards: ShardMap | None = None,
) -> SplitResult:
    name, version, seed = decided.name, decided.version, decided.seed
    sizes, fractions = decided.sizes, decided.fractions
    include_pending, phash_threshold = decided.include_pending, decided.phash_threshold
    decision = unit_decision(phash_threshold, decided.verify)
    usable = usable_labels(conn, include_pending)
    available = Counter(usable.values())
    targets = plan_targets(dict(available), sizes=sizes, fractions=fractions)
    graph = find_units(
        conn, list(usable), phash_threshold, decision=decision, store=store, map_shards=map_shards
    )
    members = graph.members()
    units = [Counter(usable[image_id] for image_id in unit) for unit in members]
    placed = allocate_units(units, targets, np.random.default_rng(seed), select=sizes is not None)
    rows = [
        {"image_id": image_id, "subset": subset, "label": usable[image_id]}
        for unit, subset in zip(members, placed, strict=True)
        if subset is not None
        for image_id in unit
    ]
    surplus = sorted(
        image_id
        for unit, subset in zip(members, placed, strict=True)
        if subset is None
        for image_id in unit
    )
    params = {
        "mode": "sizes" if sizes is not None else "fractions",
        "sizes": list(sizes) if sizes is not None else None,
        "fractions": list(fractions) if fractions is not None else None,
        "include_pending": include_pending,
        "phash_threshold": phash_threshold,
        # The whole near-duplicate decision (colour threshold or ORB test), so a grow or a
        # reader of the split knows what tied its units together.
        "near_duplicates": decision.params() if phash_threshold >= 0 else None,
        "targets": targets,
        # Usable images the sizes did not need: a later grow must not mistake them for new.
        "surplus": surplus,
    }
    run_id = start_run(conn, "split", {"name": name, "version": version, "seed": seed, **params})
    split_id = int(
        conn.execute(
            sa.insert(t.splits).values(name=name, version=version, seed=seed, params=params)
        ).inserted_primary_key[0]
    )
    if rows:
        conn.execute(sa.insert(t.split_assignments), [{"split_id": split_id, **r} for r in rows])
    fingerprint, test_count = _store_test_fingerprint(conn, split_id)
    counts = _counts_of((r["subset"], r["label"]) for r in rows)
    result = SplitResult(
        split_id=split_id,
        name=name,
        version=version,
        seed=seed,
        created=True,
        counts=counts,
        targets=targets,
        newly_placed=len(rows),
        surplus=len(surplus),
        unhashed=len(usable) - graph.hashed,
        test_fingerprint=fingerprint,
        test_count=test_count,
        note=decided.note,
    )
    finish_run(conn, run_id, result.summary())
    return result


def _store_test_fingerprint(conn: Connection, split_id: int) -> tuple[str, int]:
    """Compute the fingerprint of a new version's test assignments, store it with the version
    and return ``(fingerprint, photo count)``."""
    members = conn.execute(
        sa.select(t.images.c.sha256, t.split_assignments.c.label)
        .join(t.images, t.images.c.id == t.split_assignments.c.image_id)
        .where(t.split_assignments.c.split_id == split_id, t.split_assignments.c.subset == "test")
    ).all()
    fingerprint = fingerprint_of((row.sha256, row.label) for row in members)
    conn.execute(
        sa.update(t.splits)
        .where(t.splits.c.id == split_id)
        .values(test_fingerprint=fingerprint, test_count=len(members))
    )
    return fingerprint, len(members)


def _grow(
    conn: Connection, split: Any, store: ImageStore, map_shards: ShardMap | None = None
) -> SplitResult:
    params = dict(split.params)
    include_pending = bool(params.get("include_pending", False))
    targets: Counts = params.get("targets") or {subset: {} for subset in SUBSETS}
    usable = usable_labels(conn, include_pending)
    existing = {
        int(row.image_id): row.subset
        for row in conn.execute(
            sa.select(t.split_assignments.c.image_id, t.split_assignments.c.subset).where(
                t.split_assignments.c.split_id == split.id
            )
        )
    }
    surplus = set(params.get("surplus") or [])
    candidates = set(usable) - set(existing) - surplus
    stale = sorted(image_id for image_id in existing if image_id not in usable)
    counts = _counts_of(
        (subset, usable[image_id]) for image_id, subset in existing.items() if image_id in usable
    )
    phash_threshold = int(params.get("phash_threshold", DEFAULT_PHASH_THRESHOLD))
    graph = find_units(
        conn,
        list(set(usable) | set(existing)),
        phash_threshold,
        decision=unit_decision(phash_threshold, stored=params.get("near_duplicates")),
        store=store,
        map_shards=map_shards,
    )
    joined: dict[int, str] = {}
    withheld: list[int] = []
    free: list[list[int]] = []
    for unit in graph.members():
        new = [image_id for image_id in unit if image_id in candidates]
        if not new:
            continue
        linked = {existing[image_id] for image_id in unit if image_id in existing}
        if not linked:
            free.append(new)
        elif len(linked) == 1 and "test" not in linked:
            joined.update({image_id: next(iter(linked)) for image_id in new})
        else:
            withheld.extend(new)
    for image_id, subset in joined.items():
        counts[subset][usable[image_id]] = counts[subset].get(usable[image_id], 0) + 1
    free_units = [Counter(usable[image_id] for image_id in unit) for unit in free]
    rng = np.random.default_rng([split.seed, split.version, len(existing)])
    for unit, subset in zip(free, place_new_units(free_units, counts, targets, rng), strict=True):
        joined.update({image_id: subset for image_id in unit})
    run_id = start_run(conn, "split", {"name": split.name, "version": split.version, "grow": True})
    if joined:
        conn.execute(
            sa.insert(t.split_assignments),
            [
                {"split_id": split.id, "image_id": i, "subset": s, "label": usable[i]}
                for i, s in sorted(joined.items())
            ],
        )
        conn.execute(
            sa.update(t.splits).where(t.splits.c.id == split.id).values(updated_at=t.utcnow())
        )
    result = SplitResult(
        split_id=int(split.id),
        name=split.name,
        version=int(split.version),
        seed=int(split.seed),
        created=False,
        counts=counts,
        targets=targets,
        newly_placed=len(joined),
        withheld=sorted(withheld),
        stale=stale,
        surplus=len(surplus & set(usable)),
        unhashed=len(graph.image_ids) - graph.hashed,
        test_fingerprint=split.test_fingerprint,
        test_count=split.test_count,
    )
    finish_run(conn, run_id, result.summary())
    return result
