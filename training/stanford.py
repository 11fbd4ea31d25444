"""Stanford Cars (196 classes, 8144 train / 8041 test photos) in either of its two layouts.

* Original: ``cars_train/``, ``cars_test/``, ``devkit/cars_meta.mat`` (``class_names``),
  ``devkit/cars_train_annos.mat`` and the test annotations (in the root or in ``devkit/``),
  struct fields ``bbox_x1 bbox_y1 bbox_x2 bbox_y2 class fname``, classes from 1. Test labels are
  read from whichever test file has a ``class`` field (``cars_test_annos_withlabels.mat``, or
  a labelled file saved under the devkit's own name ``cars_test_annos.mat``).
* Class folders: ``car_data/train/<class>/00001.jpg`` and ``car_data/test/…`` (possibly nested
  as ``car_data/car_data``) with ``names.csv`` (a header line or a UTF-8 BOM is allowed),
  ``anno_train.csv`` and ``anno_test.csv`` (``fname,x1,y1,x2,y2,class``). Folder names sort
  alphabetically while ``names.csv`` is the official order, and ``/`` in a class name is ``-``
  in its folder name. Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``) are
  ignored.

Boxes are 1-based and inclusive in both layouts (MATLAB's convention); they are turned into
0-based boxes with exclusive right/bottom edges, so a box ``1,1,4,4`` is 4×4 pixels. Class
indices always follow the official order, so both layouts give the same labels. Stanford has no
validation split: one is carved from train, stratified and seeded.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io import loadmat

from pipeline.errors import CarscoutError
from training.labelled import IMAGE_SUFFIXES, BBox, LabelledFiles, Sample, carve

ANNOTATION_FIELDS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")


def _unwrap(value: Any) -> Any:
    """Return the Python scalar inside MATLAB's nested one-element arrays."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"expected one value, got shape {value.shape}")
        value = value.reshape(-1)[0]
    return value.item() if isinstance(value, np.generic) else value


def _load_mat(path: Path, key: str) -> np.ndarray:
    try:
        data = loadmat(str(path))
    except (OSError, ValueError) as exc:
        raise CarscoutError(f"cannot read {path} ({exc}); download the devkit again") from exc
    if key not in data:
        raise CarscoutError(f"{path} has no {key!r} variable; is it the Stanford Cars devkit?")
    return np.asarray(data[key]).reshape(-1)


def read_class_names_mat(path: Path) -> list[str]:
    """Return the official class names from ``cars_meta.mat``, in order (index 0 = class 1)."""
    return [str(_unwrap(name)) for name in _load_mat(path, "class_names")]


def read_annotations_mat(path: Path) -> list[dict[str, Any]]:
    """Return one dict per photo of a ``cars_*_annos*.mat`` file.

    Example: ``{'fname': '00001.jpg', 'bbox': (38, 115, 569, 375), 'class': 14}`` for the
    devkit's box 39,116,569,375 (see :func:`matlab_box`); ``class`` is 1-based and None in the
    unlabelled test file.
    """
    records = _load_mat(path, "annotations")
    names = records.dtype.names or ()
    if "fname" not in names:
        raise CarscoutError(f"{path} annotations lack 'fname'; expected fields {ANNOTATION_FIELDS}")
    result = []
    for record in records:
        bbox = None
        if "bbox_x1" in names:
            bbox = matlab_box(
                *(int(_unwrap(record[f"bbox_{c}"])) for c in ("x1", "y1", "x2", "y2"))
            )
        result.append(
            {
                "fname": str(_unwrap(record["fname"])),
                "bbox": bbox,
                "class": int(_unwrap(record["class"])) if "class" in names else None,
            }
        )
    return result


def matlab_box(x1: int, y1: int, x2: int, y2: int) -> BBox:
    """Return the 0-based, right/bottom-exclusive box of a 1-based inclusive MATLAB box.

    ``matlab_box(1, 1, 4, 4)`` is ``(0, 0, 4, 4)``: the 4×4 pixels the devkit means.
    """
    return (x1 - 1, y1 - 1, x2, y2)


def _first_existing(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.exists()), None)


def detect_layout(root: Path) -> str:
    """Return ``'original'`` or ``'folders'`` for a Stanford Cars root, or raise a clear error."""
    meta = root / "devkit" / "cars_meta.mat"
    missing_meta = CarscoutError(
        f"{meta} is missing (the class names of the original layout); unpack the devkit "
        f"(car_devkit.tgz) into {root / 'devkit'}"
    )
    if (root / "cars_train").is_dir():
        if meta.is_file():
            return "original"
        raise missing_meta
    if _folders_root(root) is not None:
        return "folders"
    if (root / "devkit").is_dir():
        raise missing_meta
    raise CarscoutError(
        f"{root} is not Stanford Cars: expected cars_train/ + devkit/cars_meta.mat, or "
        "car_data/train/<class>/ with names.csv"
    )


def _folders_root(root: Path) -> Path | None:
    for candidate in (root, root / "car_data", root / "car_data" / "car_data"):
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    return None


def _split(
    class_names: list[str],
    train: list[Sample],
    test: list[Sample],
    *,
    root: Path,
    layout: str,
    crop: bool,
    validation_fraction: float,
    seed: int,
    warnings: list[str] | None = None,
    absent: dict[str, str] | None = None,
    notes: list[str] | None = None,
) -> LabelledFiles:
    kept, validation = carve(train, validation_fraction, seed)
    if not crop:
        strip = lambda samples: [s._replace(bbox=None) for s in samples]  # noqa: E731
        kept, validation, test = strip(kept), strip(validation), strip(test)
    return LabelledFiles(
        class_names,
        {"train": kept, "validation": validation, "test": test},
        source=f"stanford:{root}" + (" (cropped)" if crop else ""),
        notes=[
            f"layout {layout}; validation carved from train "
            f"({validation_fraction:.0%}, seed {seed})",
            *(notes or []),
        ],
        warnings=list(warnings or []),
        absent=dict(absent or {}),
    )


def _original(root: Path, crop: bool, validation_fraction: float, seed: int) -> LabelledFiles:
    class_names = read_class_names_mat(root / "devkit" / "cars_meta.mat")

    def samples(annos: Path, folder: Path) -> list[Sample]:
        result = []
        for record in read_annotations_mat(annos):
            if record["class"] is None:
                return []
            if not 1 <= record["class"] <= len(class_names):
                raise CarscoutError(
                    f"{annos}: class {record['class']} outside 1..{len(class_names)}"
                )
            result.append(Sample(folder / record["fname"], record["class"] - 1, record["bbox"]))
        return result

    train_annos = _first_existing(
        root / "devkit" / "cars_train_annos.mat", root / "cars_train_annos.mat"
    )
    if train_annos is None:
        raise CarscoutError(
            f"{root}/devkit/cars_train_annos.mat is missing; unpack the devkit there"
        )
    train = samples(train_annos, root / "cars_train")
    test: list[Sample] = []
    warnings: list[str] = []
    absent: dict[str, str] = {}
    candidates = [
        folder / name
        for name in ("cars_test_annos_withlabels.mat", "cars_test_annos.mat")
        for folder in (root / "devkit", root)
        if (folder / name).is_file()
    ]
    for candidate in candidates:
        test = samples(candidate, root / "cars_test")
        if test:
            break
    if not test:
        if candidates:
            absent["test"] = (
                f"the test annotations ({', '.join(str(c) for c in candidates)}) have no class "
                "labels, so Stanford's test set cannot be scored; put the labelled file "
                f"cars_test_annos_withlabels.mat in {root / 'devkit'}"
            )
        else:
            absent["test"] = (
                f"no test annotations in {root / 'devkit'}; put the labelled file "
                "cars_test_annos_withlabels.mat there to evaluate on Stanford's test set"
            )
        warnings.append(absent["test"])
    return _split(
        class_names,
        train,
        test,
        root=root,
        layout="original",
        crop=crop,
        validation_fraction=validation_fraction,
        seed=seed,
        warnings=warnings,
        absent=absent,
    )


def _read_csv(path: Path) -> list[list[str]]:
    # utf-8-sig: a names.csv saved by a spreadsheet starts with a byte-order mark.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]


def _visible(folder: Path) -> list[Path]:
    """Return the entries of ``folder`` that are not hidden (``.DS_Store``, ``.ipynb_…``)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


_HEADER_WORDS = {"name", "names", "class", "classes", "class_name", "class_names", "label"}


def read_names_csv(path: Path, folders: set[str]) -> list[str]:
    """Return the class names of ``names.csv`` in order, without a header line.

    The first row is a header when it is a word like ``class_name``, or when it matches no class
    folder while every other row does (``folders`` are the folder names of ``train/``).
    """
    names = [row[0].strip() for row in _read_csv(path)]
    if names:
        first = names[0]
        rest_match = all(folder_name(n) in folders for n in names[1:]) and len(names) > 1
        if first.lower() in _HEADER_WORDS or (folder_name(first) not in folders and rest_match):
            names = names[1:]
    return names


def folder_name(class_name: str) -> str:
    """Return the folder a class lives in (``Ram C/V Cargo Van Minivan 2012`` → ``…C-V…``)."""
    return class_name.replace("/", "-")


def _order_from_annotations(train_dir: Path, anno_csv: Path | None) -> list[str] | None:
    """Return the folder names in official order as ``anno_train.csv`` numbers them, or None
    when it is missing or does not give each folder exactly one class of 1..N."""
    if anno_csv is None:
        return None
    classes: dict[str, int] = {}
    for row in _read_csv(anno_csv):
        if len(row) >= 6 and row[5].strip().isdigit():
            classes[row[0]] = int(row[5])
    numbers: dict[int, str] = {}
    for class_dir in (p for p in _visible(train_dir) if p.is_dir()):
        found = {classes[f.name] for f in _visible(class_dir) if f.name in classes}
        if len(found) != 1 or next(iter(found)) in numbers:
            return None
        numbers[found.pop()] = class_dir.name
    if sorted(numbers) != list(range(1, len(numbers) + 1)):
        return None
    return [numbers[n] for n in sorted(numbers)]


def _folders(root: Path, crop: bool, validation_fraction: float, seed: int) -> LabelledFiles:
    data_root = _folders_root(root)
    assert data_root is not None  # detect_layout checked it
    names_csv = _first_existing(
        root / "names.csv", data_root / "names.csv", root / "car_data" / "names.csv"
    )
    folders = {p.name for p in _visible(data_root / "train") if p.is_dir()}
    anno_files = {
        subset: _first_existing(root / f"anno_{subset}.csv", data_root / f"anno_{subset}.csv")
        for subset in ("train", "test")
    }
    warnings: list[str] = []
    notes: list[str] = []
    if names_csv is not None:
        class_names = read_names_csv(names_csv, folders)
    else:
        from_annotations = _order_from_annotations(data_root / "train", anno_files["train"])
        if from_annotations is not None:
            class_names = from_annotations
            warnings.append(
                f"no names.csv in {root}: class order taken from anno_train.csv, class names "
                "from the folder names ('/' appears as '-')"
            )
        else:  # the official order is unknown: fall back to folder order
            class_names = sorted(folders)
            warnings.append(
                f"no names.csv in {root}: classes are numbered in folder (alphabetical) order, "
                "not Stanford's official order, so class indices differ from other Stanford "
                "Cars runs"
            )
        notes.append(f"class order: {warnings[-1]}")
    index = {folder_name(name): i for i, name in enumerate(class_names)}
    if crop:
        missing = [f"anno_{subset}.csv" for subset, path in anno_files.items() if path is None]
        if missing:
            raise CarscoutError(
                f"--crop needs the bounding boxes, but {' and '.join(missing)} is not in {root}; "
                "put it beside names.csv or train without --crop"
            )

    def samples(subset: str) -> list[Sample]:
        anno_csv = anno_files[subset]
        annos = {}
        if anno_csv is not None:
            for row in _read_csv(anno_csv):
                try:
                    box = matlab_box(*(int(v) for v in row[1:5]))
                    annos[row[0]] = (box, int(row[5]))
                except (ValueError, IndexError, TypeError):
                    if not annos:  # a header line
                        continue
                    raise CarscoutError(
                        f"{anno_csv}: bad row {row!r}; expected fname,x1,y1,x2,y2,class"
                    ) from None
        result = []
        for class_dir in (p for p in _visible(data_root / subset) if p.is_dir()):
            if class_dir.name not in index:
                raise CarscoutError(
                    f"folder {class_dir} matches no class in {names_csv}; check the download"
                )
            label = index[class_dir.name]
            for file in _visible(class_dir):
                if not file.is_file() or file.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                bbox, anno_class = annos.get(file.name, (None, None))
                if anno_class is not None and anno_class - 1 != label:
                    raise CarscoutError(
                        f"{file} is in folder {class_dir.name!r} but {anno_csv} says class "
                        f"{anno_class}; the download is inconsistent"
                    )
                result.append(Sample(file, label, bbox))
        return result

    return _split(
        class_names,
        samples("train"),
        samples("test"),
        root=root,
        layout="folders",
        crop=crop,
        validation_fraction=validation_fraction,
        seed=seed,
        warnings=warnings,
        notes=notes,
    )


def from_stanford(
    root: Path, *, crop: bool = False, validation_fraction: float = 0.2, seed: int = 1337
) -> LabelledFiles:
    """Read Stanford Cars from ``root`` in either layout (auto-detected).

    With ``crop`` each sample keeps its bounding box and the input pipeline crops to it (the
    class-folder layout then needs its ``anno_*.csv`` files). Returns train (minus a carved
    validation), validation and test; test is empty when no test labels exist, and then
    ``absent["test"]`` and ``warnings`` say why.
    """
    root = Path(root)
    if detect_layout(root) == "original":
        return _original(root, crop, validation_fraction, seed)
    return _folders(root, crop, validation_fraction, seed)
