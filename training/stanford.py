"""Stanford Cars (196 classes, 8144 train / 8041 test photos) in either of its two layouts.

* Original: ``cars_train/``, ``cars_test/``, ``devkit/cars_meta.mat`` (``class_names``),
  ``devkit/cars_train_annos.mat`` and ``cars_test_annos_withlabels.mat`` (in the root or in
  ``devkit/``), struct fields ``bbox_x1 bbox_y1 bbox_x2 bbox_y2 class fname``, classes from 1.
* Class folders: ``car_data/train/<class>/00001.jpg`` and ``car_data/test/…`` (possibly nested
  as ``car_data/car_data``) with header-less ``names.csv``, ``anno_train.csv`` and
  ``anno_test.csv`` (``fname,x1,y1,x2,y2,class``). Folder names sort alphabetically while
  ``names.csv`` is the official order, and ``/`` in a class name is ``-`` in its folder name.

Class indices always follow the official order, so both layouts give the same labels. Stanford
has no validation split: one is carved from train, stratified and seeded.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io import loadmat

from pipeline.errors import CarscoutError
from training.data_sources import LabelledFiles, Sample, carve

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

    Example: ``{'fname': '00001.jpg', 'bbox': (39, 116, 569, 375), 'class': 14}``; ``class`` is
    1-based and None in the unlabelled test file.
    """
    records = _load_mat(path, "annotations")
    names = records.dtype.names or ()
    if "fname" not in names:
        raise CarscoutError(f"{path} annotations lack 'fname'; expected fields {ANNOTATION_FIELDS}")
    result = []
    for record in records:
        bbox = None
        if "bbox_x1" in names:
            bbox = tuple(int(_unwrap(record[f"bbox_{c}"])) for c in ("x1", "y1", "x2", "y2"))
        result.append(
            {
                "fname": str(_unwrap(record["fname"])),
                "bbox": bbox,
                "class": int(_unwrap(record["class"])) if "class" in names else None,
            }
        )
    return result


def _first_existing(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.exists()), None)


def detect_layout(root: Path) -> str:
    """Return ``'original'`` or ``'folders'`` for a Stanford Cars root, or raise a clear error."""
    if (root / "cars_train").is_dir() and (root / "devkit" / "cars_meta.mat").is_file():
        return "original"
    if _folders_root(root) is not None:
        return "folders"
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
            f"({validation_fraction:.0%}, seed {seed})"
        ],
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
    test_annos = _first_existing(
        root / "devkit" / "cars_test_annos_withlabels.mat", root / "cars_test_annos_withlabels.mat"
    )
    train = samples(train_annos, root / "cars_train")
    test = samples(test_annos, root / "cars_test") if test_annos else []
    return _split(
        class_names,
        train,
        test,
        root=root,
        layout="original",
        crop=crop,
        validation_fraction=validation_fraction,
        seed=seed,
    )


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.reader(handle) if row]


def folder_name(class_name: str) -> str:
    """Return the folder a class lives in (``Ram C/V Cargo Van Minivan 2012`` → ``…C-V…``)."""
    return class_name.replace("/", "-")


def _folders(root: Path, crop: bool, validation_fraction: float, seed: int) -> LabelledFiles:
    data_root = _folders_root(root)
    assert data_root is not None  # detect_layout checked it
    names_csv = _first_existing(
        root / "names.csv", data_root / "names.csv", root / "car_data" / "names.csv"
    )
    if names_csv is not None:
        class_names = [row[0] for row in _read_csv(names_csv)]
    else:  # without names.csv the official order is unknown: fall back to folder order
        class_names = sorted(p.name for p in (data_root / "train").iterdir() if p.is_dir())
    index = {folder_name(name): i for i, name in enumerate(class_names)}

    def samples(subset: str) -> list[Sample]:
        anno_csv = _first_existing(root / f"anno_{subset}.csv", data_root / f"anno_{subset}.csv")
        annos = {}
        if anno_csv is not None:
            for row in _read_csv(anno_csv):
                annos[row[0]] = (tuple(int(v) for v in row[1:5]), int(row[5]))
        result = []
        for class_dir in sorted(p for p in (data_root / subset).iterdir() if p.is_dir()):
            if class_dir.name not in index:
                raise CarscoutError(
                    f"folder {class_dir} matches no class in {names_csv}; check the download"
                )
            label = index[class_dir.name]
            for file in sorted(class_dir.iterdir()):
                bbox, anno_class = annos.get(file.name, (None, None))
                if anno_class is not None and anno_class - 1 != label:
                    raise CarscoutError(
                        f"{file} is in folder {class_dir.name!r} but {anno_csv} says class "
                        f"{anno_class}; the download is inconsistent"
                    )
                result.append(Sample(file, label, bbox))  # type: ignore[arg-type]
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
    )


def from_stanford(
    root: Path, *, crop: bool = False, validation_fraction: float = 0.2, seed: int = 1337
) -> LabelledFiles:
    """Read Stanford Cars from ``root`` in either layout (auto-detected).

    With ``crop`` each sample keeps its bounding box and the input pipeline crops to it.
    Returns train (minus a carved validation), validation and test (empty when the test labels
    file is absent).
    """
    root = Path(root)
    if detect_layout(root) == "original":
        return _original(root, crop, validation_fraction, seed)
    return _folders(root, crop, validation_fraction, seed)
