"""Split planning, pure and seeded: how many images each subset gets and which unit goes where.

:func:`plan_targets` turns the usable images per label into subset → label → target counts
(``sizes`` totals divided evenly over the labels, or ``fractions`` of each label);
:func:`allocate_units` places whole leakage units against those targets for a new version, and
:func:`place_new_units` places the units of new images when a version grows (train and
validation only: the test set never changes). Nothing here touches the catalog.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from pipeline.errors import CarscoutError, ConfigError

SUBSETS: tuple[str, str, str] = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
# The main job's split on the demo marketplace; :func:`fit_sizes` scales it down to a catalog.
FULL_SIZES = (2400, 800, 800)
GROWING_SUBSETS = ("train", "validation")

# subset -> label -> number of images
Counts = dict[str, dict[str, int]]


def _three_numbers(text: str, number: type[int] | type[float]) -> tuple | None:
    """Return ``"a,b,c"`` as three non-negative numbers of type ``number``, or None if it isn't."""
    try:
        values = tuple(number(part.strip()) for part in text.split(","))
    except ValueError:
        return None
    return values if len(values) == 3 and min(values) >= 0 else None


def parse_sizes(text: str) -> tuple[int, int, int]:
    """Parse ``"2400,800,800"`` into ``(2400, 800, 800)``; raise :class:`ConfigError` if bad."""
    values = _three_numbers(text, int)
    if values is None or sum(values) == 0:
        raise ConfigError(
            f"bad --sizes {text!r}: give three whole numbers train,validation,test "
            "such as 2400,800,800"
        )
    return values


def parse_fractions(text: str) -> tuple[float, float, float]:
    """Parse ``"0.6,0.2,0.2"`` into floats that sum to 1; raise :class:`ConfigError` if bad."""
    values = _three_numbers(text, float)
    if values is None or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"bad --fractions {text!r}: give three fractions train,validation,test that sum "
            "to 1, such as 0.6,0.2,0.2"
        )
    return values


def parse_split_options(
    sizes: str | None, fractions: str | None
) -> tuple[tuple[int, int, int] | None, tuple[float, float, float] | None]:
    """Parse the ``--sizes`` and ``--fractions`` options of a command (either may be None);
    return ``(sizes, fractions)``. Raises :class:`ConfigError` for a bad value or both given."""
    if sizes is not None and fractions is not None:
        raise ConfigError("give either --sizes or --fractions, not both")
    return (
        parse_sizes(sizes) if sizes is not None else None,
        parse_fractions(fractions) if fractions is not None else None,
    )


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
    minimum = _minimum_per_label(fractions)
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


def _minimum_per_label(fractions: Sequence[float]) -> int:
    """Return the fewest images a label needs for every positive fraction to get one."""
    minimum = 1
    while any(
        f > 0 and c == 0
        for f, c in zip(fractions, _fraction_targets(minimum, fractions), strict=True)
    ):
        minimum += 1
    return minimum


def fit_sizes(available: dict[str, int], full: Sequence[int] = FULL_SIZES) -> tuple[int, int, int]:
    """Return split sizes in the proportions of ``full``, scaled down to fit ``available``.

    Each label gets the same share (as with any ``sizes``): ``full`` divided over the labels,
    or, when the label with the fewest usable images has less than that, all of that label's
    images split in ``full``'s proportions. E.g. ``{"a": 25, "b": 40}`` gives ``(30, 10, 10)``
    (15/5/5 per label); ``{"a": 5000, "b": 9000}`` gives ``full``. Raises
    :class:`CarscoutError` when some label has too few images for every subset to get one.
    """
    labels = sorted(available)
    if not labels:
        plan_targets(available)  # raises the "no usable images" error
    total = sum(full)
    proportions = [size / total for size in full]
    per_label_full = total // len(labels)
    smallest = min(labels, key=lambda label: (available[label], label))
    fewest = available[smallest]
    if fewest >= per_label_full and all(size % len(labels) == 0 for size in full):
        return (int(full[0]), int(full[1]), int(full[2]))
    minimum = _minimum_per_label(proportions)
    if fewest < minimum:
        detail = ", ".join(f"{label} has {available[label]}" for label in labels)
        raise CarscoutError(
            f"too few usable images to split: every label needs at least {minimum} ({detail}); "
            f"add images for {smallest} or pass --include-pending"
        )
    per_label = _fraction_targets(min(fewest, per_label_full), proportions)
    train, validation, test = (count * len(labels) for count in per_label)
    return (train, validation, test)


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
