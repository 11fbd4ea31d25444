"""Labelled photos, whatever their source: :class:`Sample`, :class:`LabelledFiles`, and the
seeded, stratified cuts of a subset (:func:`carve`, :func:`subsample`).

Every reader (:mod:`training.data_sources`, :mod:`training.stanford`) returns a
:class:`LabelledFiles`; training, evaluation and the reports only ever see that shape.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pipeline.errors import CarscoutError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}

BBox = tuple[int, int, int, int]


class Sample(NamedTuple):
    """One labelled photo: its file, class index, optional box and catalog image id.

    ``bbox`` is ``(x1, y1, x2, y2)`` in pixels, 0-based, right and bottom exclusive (what
    ``PIL.Image.crop`` takes); ``image_id`` is set for photos read from the catalog.
    """

    path: Path
    label: int
    bbox: BBox | None = None
    image_id: int | None = None


@dataclass
class LabelledFiles:
    """Class names plus the photos of each subset (``train``, ``validation``, ``test``).

    ``source`` says where the data came from (for the run record); ``split_id`` is the catalog
    split the data belongs to, if any. A subset may be missing (e.g. no test labels): ``absent``
    then says why, and what to do. ``notes`` go into the model card; ``warnings`` are what a
    person should hear when the data is loaded (also recorded in the run's ``data.json``).
    """

    class_names: list[str]
    subsets: dict[str, list[Sample]]
    source: str = ""
    split_id: int | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Return how many classes there are."""
        return len(self.class_names)

    def subset(self, name: str) -> list[Sample]:
        """Return the samples of one subset, or raise a clear error when it is absent or empty."""
        samples = self.subsets.get(name) or []
        if not samples and name in self.absent:
            raise CarscoutError(self.absent[name])
        if not samples:
            raise CarscoutError(
                f"the data source {self.source or '(unnamed)'} has no {name} photos; "
                f"add a {name}/ folder or pick a source with a {name} subset"
            )
        return samples

    def counts(self) -> dict[str, int]:
        """Return the number of photos per subset, e.g. ``{'train': 2400, ...}``."""
        return {name: len(samples) for name, samples in self.subsets.items()}

    def check_files_exist(self, subsets: Iterable[str]) -> None:
        """Raise :class:`CarscoutError` naming the first missing files of these subsets."""
        missing = [
            s.path for name in subsets for s in self.subsets.get(name, []) if not s.path.is_file()
        ]
        if missing:
            shown = ", ".join(str(p) for p in missing[:3])
            raise CarscoutError(
                f"{len(missing)} photo file(s) are missing (e.g. {shown}); "
                "restore them or rebuild the data source"
            )


def carve(
    samples: Sequence[Sample], fraction: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Split ``samples`` into ``(kept, carved)``, stratified by class and seeded.

    Each class gives ``round(fraction * n)`` photos to the carved part, at least one when it has
    two or more, and always keeps at least one. The result does not depend on input order.
    """
    if not 0 < fraction < 1:
        raise CarscoutError(f"fraction {fraction} must be between 0 and 1, e.g. 0.2")
    by_class: dict[int, list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: (s.label, str(s.path))):
        by_class[sample.label].append(sample)
    rng = random.Random(seed)
    kept: list[Sample] = []
    carved: list[Sample] = []
    for label in sorted(by_class):
        group = by_class[label]
        rng.shuffle(group)
        n_carved = min(
            len(group) - 1, max(1 if len(group) >= 2 else 0, round(fraction * len(group)))
        )
        carved.extend(group[:n_carved])
        kept.extend(group[n_carved:])
    return kept, carved


def subsample(samples: Sequence[Sample], fraction: float, seed: int) -> list[Sample]:
    """Return a stratified, seeded ``fraction`` of ``samples`` (all of them for 1.0).

    Smaller fractions with the same seed are subsets of larger ones, so a learning curve
    compares nested training sets.
    """
    if fraction >= 1:
        return list(samples)
    by_class: dict[int, list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: (s.label, str(s.path))):
        by_class[sample.label].append(sample)
    rng = random.Random(seed)
    chosen: list[Sample] = []
    for label in sorted(by_class):
        group = by_class[label]
        rng.shuffle(group)
        chosen.extend(group[: max(1, round(fraction * len(group)))])
    return chosen
