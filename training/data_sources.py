"""Where labelled photos come from: carscout's own split, a folder-per-class tree, or Stanford
Cars (:mod:`training.stanford`); :func:`resolve_data` opens the one a
:class:`~training.config.DataSpec` names. Each gives a :class:`~training.labelled.LabelledFiles`.

Example::

    data = from_folder_tree(Path("export"))
    data.class_names          # ['suzuki swift', 'suzuki wagonr']
    data.subsets["train"][0]  # Sample(path=PosixPath('export/train/suzuki swift/1.jpg'), label=0)

A catalog split gives train and validation only: its fixed test set is read by
:func:`training.evaluation.evaluate` alone, from the split version a run was trained on.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import CarscoutError, ConfigError
from pipeline.workspace import Workspace
from training.config import DataSpec
from training.labelled import IMAGE_SUFFIXES, LabelledFiles, Sample, carve
from training.stanford import from_stanford

_SUBSET_ALIASES = {
    "train": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
    "test": "test",
}


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
    """Read the train and validation photos of the newest version of the catalog split
    ``split_name``.

    Uses the split stage's own reader, so training sees what ``carscout export`` writes: only
    images still usable (active, not pending review), each under its current label (review may
    have corrected it). The test subset is left out (``absent`` says so): training never holds
    a test photo, and :func:`training.evaluation.evaluate` reads the fixed test set of the
    version a run was trained on. Class indices follow the sorted training labels.
    """
    from curation.splits.stored import read_split, split_versions

    if not split_versions(workspace, split_name):
        named = "" if split_name == "default" else f" --name {split_name}"
        raise CarscoutError(
            f"the catalog has no split {split_name!r} yet; make one with `carscout split{named} "
            "--sizes 2400,800,800` (or --fractions 0.6,0.2,0.2), or train on files with "
            "--source folder|stanford --data PATH"
        )
    split = read_split(workspace, split_name)
    assignments = [a for a in split.assignments if a.subset != "test"]
    class_names = sorted({a.label for a in assignments if a.subset == "train"})
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({a.label for a in assignments} - set(index))
    if unknown:
        raise CarscoutError(
            f"split {split_name!r} has validation labels with no training photos "
            f"({', '.join(unknown[:3])}); rebuild the split"
        )
    if len(class_names) < 2:
        raise CarscoutError(
            f"split {split_name!r} has {len(class_names)} training class(es); need 2 or more"
        )
    subsets: dict[str, list[Sample]] = {"train": [], "validation": []}
    for a in assignments:
        subsets[a.subset].append(Sample(a.path, index[a.label], None, a.image_id))
    return LabelledFiles(
        class_names,
        subsets,
        source=f"catalog:{split_name} v{split.info.version}",
        split_id=split.info.split_id,
        absent={
            "test": f"the test set of split {split_name!r} is read by `carscout evaluate RUN` "
            "alone, from the split version the run was trained on"
        },
    )


def resolve_data(spec: DataSpec, workspace: Workspace | None = None) -> LabelledFiles:
    """Return the labelled files a data spec names.

    ``catalog`` needs a ``workspace``; ``folder`` and ``stanford`` need ``spec.path``.
    """
    if spec.kind == "catalog":
        if workspace is None:
            raise ConfigError("a catalog data source needs a workspace (pass --home)")
        return from_catalog_split(workspace, spec.split_name)
    if not spec.path:
        raise ConfigError(f"--data PATH is required for a {spec.kind} data source")
    if spec.kind == "folder":
        return from_folder_tree(
            Path(spec.path),
            validation_fraction=spec.validation_fraction,
            test_fraction=spec.test_fraction,
            seed=spec.seed,
        )
    if spec.kind == "stanford":
        return from_stanford(
            Path(spec.path),
            crop=spec.crop,
            validation_fraction=spec.validation_fraction,
            seed=spec.seed,
        )
    raise ConfigError(f"unknown data source {spec.kind!r}; use catalog, folder or stanford")
