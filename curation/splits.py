"""Leakage-free, reproducible, versioned train/validation/test splits stored in the catalog.

:func:`build_split` assigns whole leakage units (see :mod:`curation.split_units`: a listing's
photos, a duplicate group, near pHash pairs) to ``train`` / ``validation`` / ``test``, stratified
by label and shuffled with a seed, and stores them as version N of a named split.

Run again on a grown catalog it keeps every assignment and places only the new images:

* a new image linked to an image already in ``train`` or ``validation`` joins it there;
* a new image linked to the **test** set (or to two different subsets) is *withheld*: it is
  placed nowhere, because adding it to test would change the test set and putting it elsewhere
  would leak. It is reported on every run and takes part again after ``reshuffle``;
* the other new images go to ``train`` and ``validation`` in the version's train:validation
  proportion per label. The test set never changes, so models trained months apart are scored
  on the same photos; ``reshuffle=True`` builds version N+1 from scratch and keeps version N.

Images that stop being usable after they were assigned (rejected, marked duplicate, sent to
review) keep their assignment rows, so the history stays intact, but they are reported as
*stale* and left out of :func:`load_split` (by default) and of the export.

Usable images: ``status == 'active'`` and no ``pending`` review item (unless the version was
built with ``include_pending``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from curation.split_units import DEFAULT_PHASH_THRESHOLD, find_units
from pipeline import schema as t
from pipeline.catalog import finish_run, start_run
from pipeline.errors import CarscoutError, ConfigError
from pipeline.workspace import Workspace

SUBSETS: tuple[str, str, str] = ("train", "validation", "test")
DEFAULT_NAME = "default"
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
GROWING_SUBSETS = ("train", "validation")

# subset -> label -> number of images
Counts = dict[str, dict[str, int]]


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

    def total(self, subset: str) -> int:
        """Return the number of usable images assigned to ``subset``."""
        return sum(self.counts.get(subset, {}).values())


@dataclass(frozen=True)
class Assignment:
    """One image's place in a split.

    ``label`` is the image's current label (review may have corrected it since);
    ``assigned_label`` the label it had when it was placed. ``path`` is the file in the store.
    """

    image_id: int
    subset: str
    label: str
    assigned_label: str
    sha256: str
    path: Path
    listing_id: int | None
    usable: bool


# --- sizes and targets ------------------------------------------------------------------------


def parse_sizes(text: str) -> tuple[int, int, int]:
    """Parse ``"2400,800,800"`` into ``(2400, 800, 800)``; raise :class:`ConfigError` if bad."""
    parts = [part.strip() for part in text.split(",")]
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0 or sum(values) == 0:
        raise ConfigError(
            f"bad --sizes {text!r}: give three whole numbers train,validation,test "
            "such as 2400,800,800"
        )
    return values  # type: ignore[return-value]


def parse_fractions(text: str) -> tuple[float, float, float]:
    """Parse ``"0.6,0.2,0.2"`` into floats that sum to 1; raise :class:`ConfigError` if bad."""
    parts = [part.strip() for part in text.split(",")]
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0 or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"bad --fractions {text!r}: give three fractions train,validation,test that sum "
            "to 1, such as 0.6,0.2,0.2"
        )
    return values  # type: ignore[return-value]


def _fraction_targets(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` by ``fractions`` with largest-remainder rounding (sums to exactly ``n``)."""
    raw = [fraction * n for fraction in fractions]
    counts = [math.floor(value) for value in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def plan_targets(
    available: dict[str, int],
    sizes: Sequence[int] | None = None,
    fractions: Sequence[float] | None = None,
) -> Counts:
    """Return subset → label → target count for the usable images per label in ``available``.

    ``sizes`` are totals per subset, divided evenly over the labels (a remainder goes to the
    labels with the most images): ``(2400, 800, 800)`` over two labels gives 1200/400/400 each.
    ``fractions`` split each label's own images. Raises :class:`CarscoutError` naming every
    label's count and need when there are too few images.
    """
    labels = sorted(available)
    if not labels:
        raise CarscoutError(
            "no usable images to split; import or scrape photos first (or pass "
            "--include-pending to use images waiting in review)"
        )
    targets: Counts = {subset: {} for subset in SUBSETS}
    if sizes is not None:
        by_size = sorted(labels, key=lambda label: (-available[label], label))
        for subset, total in zip(SUBSETS, sizes, strict=True):
            base, extra = divmod(int(total), len(labels))
            for rank, label in enumerate(by_size):
                targets[subset][label] = base + (1 if rank < extra else 0)
        needs = {label: sum(targets[s][label] for s in SUBSETS) for label in labels}
        short = [label for label in labels if available[label] < needs[label]]
        if short:
            detail = ", ".join(
                f"{label} has {available[label]} of {needs[label]} needed" for label in labels
            )
            raise CarscoutError(
                f"too few usable images for sizes {','.join(map(str, sizes))}: {detail}; add "
                "images, pass --include-pending, or ask for smaller --sizes"
            )
        return targets
    fractions = tuple(fractions or DEFAULT_FRACTIONS)
    minimum = 1
    while any(
        f > 0 and c == 0
        for f, c in zip(fractions, _fraction_targets(minimum, fractions), strict=True)
    ):
        minimum += 1
    short = [label for label in labels if available[label] < minimum]
    if short:
        detail = ", ".join(f"{label} has {available[label]}" for label in labels)
        raise CarscoutError(
            f"too few usable images for fractions {','.join(map(str, fractions))}: every label "
            f"needs at least {minimum} ({detail}); add images for "
            f"{', '.join(short)} or pass --include-pending"
        )
    for label in labels:
        for subset, count in zip(
            SUBSETS, _fraction_targets(available[label], fractions), strict=True
        ):
            targets[subset][label] = count
    return targets


# --- assigning units --------------------------------------------------------------------------


def _majority(unit: Counter[str]) -> str:
    return min(unit, key=lambda label: (-unit[label], label))


def allocate_units(
    units: Sequence[Counter[str]],
    targets: Counts,
    rng: np.random.Generator,
    *,
    select: bool,
) -> list[str | None]:
    """Return a subset (or None for surplus) for each unit, given per-unit label counts.

    Units are shuffled with ``rng``. With ``select`` (sizes mode) units are first picked in that
    order until each label's total is reached, skipping units that would overshoot; the picked
    units are then packed largest first (shuffled order among equal sizes) into the subset whose
    target for the unit's majority label is least filled, among those it fits in whole. A unit
    that fits nowhere goes to the subset with most room left, so counts stay within one unit of
    the targets.
    """
    order = [int(i) for i in rng.permutation(len(units))]
    if select:
        need = {
            label: sum(targets[s].get(label, 0) for s in SUBSETS) for label in targets[SUBSETS[0]]
        }
        chosen = []
        for i in order:
            if all(count <= need.get(label, 0) for label, count in units[i].items()):
                chosen.append(i)
                for label, count in units[i].items():
                    need[label] -= count
        order = chosen
    order.sort(key=lambda i: -sum(units[i].values()))
    remaining = {s: dict(targets[s]) for s in SUBSETS}
    placed: list[str | None] = [None] * len(units)
    for i in order:
        unit = units[i]
        major = _majority(unit)
        fits = [
            s
            for s in SUBSETS
            if all(count <= remaining[s].get(label, 0) for label, count in unit.items())
        ]
        if fits:
            subset = max(fits, key=lambda s: remaining[s][major] / max(targets[s].get(major, 0), 1))
        else:
            open_subsets = [s for s in SUBSETS if targets[s].get(major, 0) > 0] or list(SUBSETS)
            subset = max(open_subsets, key=lambda s: remaining[s].get(major, 0))
        placed[i] = subset
        for label, count in unit.items():
            remaining[subset][label] = remaining[subset].get(label, 0) - count
    return placed


def _grow_weights(targets: Counts, label: str) -> dict[str, float]:
    """Return train/validation shares for new images of ``label`` (from the version's targets)."""
    weights = {s: float(targets.get(s, {}).get(label, 0)) for s in GROWING_SUBSETS}
    if sum(weights.values()) == 0:  # a label the version did not know: use the overall shares
        weights = {s: float(sum(targets.get(s, {}).values())) for s in GROWING_SUBSETS}
    if sum(weights.values()) == 0:
        weights = {"train": 1.0, "validation": 0.0}
    total = sum(weights.values())
    return {s: w / total for s, w in weights.items()}


def place_new_units(
    units: Sequence[Counter[str]],
    counts: Counts,
    targets: Counts,
    rng: np.random.Generator,
) -> list[str]:
    """Return ``train`` or ``validation`` for each new unit, keeping each label's proportion.

    ``counts`` (subset → label → images already there) is updated in place. Each unit, in
    shuffled order, goes where its majority label is furthest below its share.
    """
    placed: list[str] = [""] * len(units)
    for i in (int(i) for i in rng.permutation(len(units))):
        unit = units[i]
        major = _majority(unit)
        size = sum(unit.values())
        shares = _grow_weights(targets, major)
        total = sum(counts[s].get(major, 0) for s in GROWING_SUBSETS) + size
        subset = max(GROWING_SUBSETS, key=lambda s: shares[s] * total - counts[s].get(major, 0))
        placed[i] = subset
        for label, count in unit.items():
            counts[subset][label] = counts[subset].get(label, 0) + count
    return placed


# --- catalog access ---------------------------------------------------------------------------


def usable_condition(include_pending: bool) -> sa.ColumnElement[bool]:
    """Return the SQL condition on ``images`` that makes an image usable for a split."""
    condition = t.images.c.status == "active"
    if not include_pending:
        pending = (
            sa.select(t.review_items.c.id)
            .where(t.review_items.c.image_id == t.images.c.id, t.review_items.c.state == "pending")
            .exists()
        )
        condition = sa.and_(condition, ~pending)
    return condition


def _usable_labels(conn: Connection, include_pending: bool) -> dict[int, str]:
    rows = conn.execute(
        sa.select(t.images.c.id, t.images.c.label).where(usable_condition(include_pending))
    )
    return {int(row.id): row.label for row in rows}


def _latest_split(conn: Connection, name: str) -> Any | None:
    return conn.execute(
        sa.select(t.splits).where(t.splits.c.name == name).order_by(t.splits.c.version.desc())
    ).first()


def _find_split(conn: Connection, name: str, version: int | None) -> Any:
    if version is None:
        row = _latest_split(conn, name)
    else:
        row = conn.execute(
            sa.select(t.splits).where(t.splits.c.name == name, t.splits.c.version == version)
        ).first()
    if row is None:
        which = f"split {name!r}" + (f" version {version}" if version is not None else "")
        raise CarscoutError(
            f"{which} does not exist; run `carscout split --name {name} --sizes 2400,800,800` "
            "first (or check `--version`)"
        )
    return row


def _counts_of(assigned: Iterable[tuple[str, str]]) -> Counts:
    counts: Counts = {subset: {} for subset in SUBSETS}
    for subset, label in assigned:
        counts[subset][label] = counts[subset].get(label, 0) + 1
    return counts


def _check_same(existing: Any, option: str, stored: Any, given: Any) -> None:
    if given is not None and given != stored:
        raise ConfigError(
            f"split {existing.name!r} version {existing.version} was built with {option} "
            f"{stored}, not {given}; drop the option to grow it, or pass --reshuffle to build "
            "a new version with the new setting"
        )


# --- public API ---------------------------------------------------------------------------------


def build_split(
    workspace: Workspace,
    name: str = DEFAULT_NAME,
    sizes: Sequence[int] | None = None,
    fractions: Sequence[float] | None = None,
    seed: int | None = None,
    reshuffle: bool = False,
    include_pending: bool | None = None,
    phash_threshold: int | None = None,
) -> SplitResult:
    """Create or grow the split ``name`` and return a :class:`SplitResult`.

    The first call (or ``reshuffle=True``) builds a new version from the usable images:
    ``sizes`` totals per subset (train, validation, test) or ``fractions`` of each label
    (default 0.6/0.2/0.2), seeded by ``seed`` (default 0). Later calls keep the latest version's
    settings and assignments and place only new images (see the module docstring); passing a
    setting that differs from the stored one raises :class:`ConfigError`. ``phash_threshold``
    (default 8) is the pHash Hamming distance that ties two images together; -1 turns it off.
    """
    if sizes is not None and fractions is not None:
        raise ConfigError("give either --sizes or --fractions, not both")
    if sizes is not None:
        sizes = tuple(int(size) for size in sizes)
        parse_sizes(",".join(map(str, sizes)))
    if fractions is not None:
        fractions = tuple(float(fraction) for fraction in fractions)
        parse_fractions(",".join(map(str, fractions)))
    with workspace.catalog.atomic() as conn:
        latest = _latest_split(conn, name)
        if latest is None or reshuffle:
            previous = dict(latest.params) if latest is not None else {}
            if sizes is None and fractions is None:
                sizes = previous.get("sizes")
                fractions = previous.get("fractions")
            return _build_fresh(
                conn,
                name=name,
                version=(latest.version + 1) if latest is not None else 1,
                sizes=sizes,
                fractions=fractions,
                seed=seed if seed is not None else (latest.seed if latest is not None else 0),
                include_pending=bool(
                    include_pending
                    if include_pending is not None
                    else previous.get("include_pending", False)
                ),
                phash_threshold=phash_threshold
                if phash_threshold is not None
                else previous.get("phash_threshold", DEFAULT_PHASH_THRESHOLD),
            )
        params = dict(latest.params)
        _check_same(latest, "--sizes", _tuple(params.get("sizes")), _tuple(sizes))
        _check_same(latest, "--fractions", _tuple(params.get("fractions")), _tuple(fractions))
        _check_same(latest, "--seed", latest.seed, seed)
        _check_same(latest, "--include-pending", params.get("include_pending"), include_pending)
        _check_same(latest, "--phash-threshold", params.get("phash_threshold"), phash_threshold)
        return _grow(conn, latest)


def _tuple(values: Sequence[Any] | None) -> tuple[Any, ...] | None:
    return tuple(values) if values is not None else None


def _build_fresh(
    conn: Connection,
    *,
    name: str,
    version: int,
    sizes: Sequence[int] | None,
    fractions: Sequence[float] | None,
    seed: int,
    include_pending: bool,
    phash_threshold: int,
) -> SplitResult:
    usable = _usable_labels(conn, include_pending)
    available = Counter(usable.values())
    targets = plan_targets(dict(available), sizes=sizes, fractions=fractions)
    if sizes is None:
        fractions = tuple(fractions or DEFAULT_FRACTIONS)
    graph = find_units(conn, list(usable), phash_threshold)
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
    )
    finish_run(conn, run_id, _summary(result))
    return result


def _grow(conn: Connection, split: Any) -> SplitResult:
    params = dict(split.params)
    include_pending = bool(params.get("include_pending", False))
    targets: Counts = params.get("targets") or {subset: {} for subset in SUBSETS}
    usable = _usable_labels(conn, include_pending)
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
    graph = find_units(
        conn,
        list(set(usable) | set(existing)),
        int(params.get("phash_threshold", DEFAULT_PHASH_THRESHOLD)),
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
    )
    finish_run(conn, run_id, _summary(result))
    return result


def _summary(result: SplitResult) -> dict[str, Any]:
    return {
        "split_id": result.split_id,
        "version": result.version,
        "created": result.created,
        "counts": result.counts,
        "newly_placed": result.newly_placed,
        "withheld": len(result.withheld),
        "stale": len(result.stale),
        "surplus": result.surplus,
    }


def load_split(
    workspace: Workspace,
    name: str = DEFAULT_NAME,
    version: int | None = None,
    include_unusable: bool = False,
) -> list[Assignment]:
    """Return the assignments of split ``name`` (latest version unless ``version`` is given).

    Sorted by subset (train, validation, test), then label, then image id. Images that are no
    longer usable are left out unless ``include_unusable`` (their ``usable`` is then False).
    Raises :class:`CarscoutError` when the split does not exist.
    """
    with workspace.catalog.reading() as conn:
        split = _find_split(conn, name, version)
        include_pending = bool(dict(split.params).get("include_pending", False))
        usable = usable_condition(include_pending).label("usable")
        rows = conn.execute(
            sa.select(
                t.split_assignments.c.image_id,
                t.split_assignments.c.subset,
                t.split_assignments.c.label.label("assigned_label"),
                t.images.c.label,
                t.images.c.sha256,
                t.images.c.store_path,
                t.images.c.listing_id,
                usable,
            )
            .join(t.images, t.images.c.id == t.split_assignments.c.image_id)
            .where(t.split_assignments.c.split_id == split.id)
        ).all()
    assignments = [
        Assignment(
            image_id=int(row.image_id),
            subset=row.subset,
            label=row.label,
            assigned_label=row.assigned_label,
            sha256=row.sha256,
            path=workspace.store.path(row.store_path),
            listing_id=row.listing_id,
            usable=bool(row.usable),
        )
        for row in rows
        if include_unusable or row.usable
    ]
    assignments.sort(key=lambda a: (SUBSETS.index(a.subset), a.label, a.image_id))
    return assignments


@dataclass(frozen=True)
class SplitInfo:
    """One stored split version: its row in ``splits`` (``params`` holds sizes, targets, …)."""

    split_id: int
    name: str
    version: int
    seed: int
    params: dict[str, Any]
    created_at: Any
    updated_at: Any


def get_split(
    workspace: Workspace, name: str = DEFAULT_NAME, version: int | None = None
) -> SplitInfo:
    """Return split ``name`` at ``version`` (default: the latest); raise if it does not exist."""
    with workspace.catalog.reading() as conn:
        row = _find_split(conn, name, version)
    return SplitInfo(
        split_id=int(row.id),
        name=row.name,
        version=int(row.version),
        seed=int(row.seed),
        params=dict(row.params),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def split_versions(workspace: Workspace, name: str = DEFAULT_NAME) -> list[int]:
    """Return the stored versions of split ``name``, oldest first (empty when there is none)."""
    with workspace.catalog.reading() as conn:
        return [
            int(version)
            for version in conn.execute(
                sa.select(t.splits.c.version)
                .where(t.splits.c.name == name)
                .order_by(t.splits.c.version)
            ).scalars()
        ]
