"""Labelled photo sources: carscout's own split, a folder-per-class tree (or Stanford Cars, see
:mod:`training.stanford`), all resolved to one shape, :class:`LabelledFiles`.

Example::

    data = from_folder_tree(Path("export"))
    data.class_names          # ['suzuki swift', 'suzuki wagonr']
    data.subsets["train"][0]  # Sample(path=PosixPath('export/train/suzuki swift/1.jpg'), label=0)
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
SUBSET_NAMES = ("train", "validation", "test")
_SUBSET_ALIASES = {
    "train": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
    "test": "test",
}

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


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def looks_like_stanford(root: Path) -> bool:
    """Return True for a Stanford Cars tree (``cars_train/`` with ``devkit/``, or ``car_data/``
    with ``names.csv``), which a folder-per-class reader would take for three classes."""
    if (root / "cars_train").is_dir() and (root / "devkit").is_dir():
        return True
    return (root / "car_data").is_dir() and any(
        (folder / "names.csv").is_file() for folder in (root, root / "car_data")
    )


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def from_folder_tree(
    root: Path, *, validation_fraction: float = 0.2, test_fraction: float = 0.15, seed: int = 1337
) -> LabelledFiles:
    """Read a folder-per-class tree.

    Either ``root/train/<class>/…`` with optional ``validation/`` (or ``val/``) and ``test/``
    beside it — a missing validation subset is carved from train — or a single
    ``root/<class>/…`` tree from which validation and test are carved. Class indices follow the
    sorted folder names.
    """
    root = Path(root)
    if not root.is_dir():
        raise CarscoutError(f"{root} is not a folder; pass a folder of <class>/ sub-folders")
    if looks_like_stanford(root):
        raise CarscoutError(
            f"{root} is Stanford Cars, not a folder of <class>/ sub-folders; train on it with "
            "--source stanford"
        )
    subset_dirs = {
        _SUBSET_ALIASES[p.name.lower()]: p
        for p in _class_folders(root)
        if p.name.lower() in _SUBSET_ALIASES
    }
    notes: list[str] = []
    if "train" in subset_dirs:
        class_names = [p.name for p in _class_folders(subset_dirs["train"])]
        index = {name: i for i, name in enumerate(class_names)}
        subsets: dict[str, list[Sample]] = {}
        for subset, folder in subset_dirs.items():
            samples = []
            for class_dir in _class_folders(folder):
                if class_dir.name not in index:
                    raise CarscoutError(
                        f"{class_dir} is a class that {subset_dirs['train']} does not have; "
                        "add training photos for it or remove the folder"
                    )
                samples += [Sample(p, index[class_dir.name]) for p in _image_files(class_dir)]
            subsets[subset] = samples
        if "validation" not in subsets:
            subsets["train"], subsets["validation"] = carve(
                subsets["train"], validation_fraction, seed
            )
            notes.append(f"validation carved from train ({validation_fraction:.0%}, seed {seed})")
    else:
        class_dirs = _class_folders(root)
        class_names = [p.name for p in class_dirs]
        everything = [Sample(p, i) for i, d in enumerate(class_dirs) for p in _image_files(d)]
        rest, test = carve(everything, test_fraction, seed)
        train, validation = carve(rest, validation_fraction / (1 - test_fraction), seed + 1)
        subsets = {"train": train, "validation": validation, "test": test}
        notes.append(f"validation and test carved from one tree (seed {seed})")
    if len(class_names) < 2:
        raise CarscoutError(f"{root} has {len(class_names)} class folder(s); a classifier needs 2+")
    if not subsets.get("train"):
        raise CarscoutError(f"{root} holds no photos ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return LabelledFiles(class_names, subsets, source=f"folder:{root}", notes=notes)


def from_catalog_split(workspace: Workspace, split_name: str = "default") -> LabelledFiles:
    """Read the newest version of the catalog split ``split_name``.

    Uses the split stage's own reader, so training sees what ``carscout export`` writes: only
    images still usable (active, not pending review), each under its current label (review may
    have corrected it). The test subset is the version's fixed test set instead, as built
    (:func:`curation.splits.stored.read_test_set`). Class indices follow the sorted training
    labels.
    """
    from curation.splits.stored import read_split, read_test_set, split_versions

    if not split_versions(workspace, split_name):
        named = "" if split_name == "default" else f" --name {split_name}"
        raise CarscoutError(
            f"the catalog has no split {split_name!r} yet; make one with `carscout split{named} "
            "--sizes 2400,800,800` (or --fractions 0.6,0.2,0.2), or train on files with "
            "--source folder|stanford --data PATH"
        )
    split = read_split(workspace, split_name)
    test = read_test_set(workspace, split.info.split_id).members
    assignments = [a for a in split.assignments if a.subset != "test"]
    class_names = sorted({a.label for a in assignments if a.subset == "train"})
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(({a.label for a in assignments} | {m.label for m in test}) - set(index))
    if unknown:
        raise CarscoutError(
            f"split {split_name!r} has validation/test labels with no training photos "
            f"({', '.join(unknown[:3])}); rebuild the split"
        )
    if len(class_names) < 2:
        raise CarscoutError(
            f"split {split_name!r} has {len(class_names)} training class(es); need 2 or more"
        )
    subsets: dict[str, list[Sample]] = {name: [] for name in SUBSET_NAMES}
    for a in assignments:
        subsets[a.subset].append(Sample(a.path, index[a.label], None, a.image_id))
    subsets["test"] = [Sample(m.path, index[m.label], None, m.image_id) for m in test]
    return LabelledFiles(
        class_names,
        subsets,
        source=f"catalog:{split_name} v{split.info.version}",
        split_id=split.info.split_id,
    )
