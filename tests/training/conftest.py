"""Tiny generated photo sets for the training tests: a folder tree and both Stanford layouts."""

from __future__ import annotations

import csv
import random
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy.io import savemat

# Each class is a shape in a colour, so a small CNN can tell them apart in one or two epochs.
STYLES = [
    ((220, 40, 40), "ellipse"),
    ((40, 80, 220), "rectangle"),
    ((40, 180, 60), "triangle"),
    ((230, 200, 40), "cross"),
]

STANFORD_CLASSES = [
    "AM General Hummer SUV 2000",
    "Ram C/V Cargo Van Minivan 2012",
    "Acura RL Sedan 2012",
]


def _seed(*parts: object) -> int:
    """Return a seed that is the same in every process (``hash`` of a str is not)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def paint(path: Path, style: int, seed: int, size: tuple[int, int] = (48, 40)) -> Path:
    """Write a small JPEG of class ``style`` (a coloured shape on a noisy grey background)."""
    rng = random.Random(seed)
    width, height = size
    background = np.full((height, width, 3), 120, dtype=np.int16)
    background += np.random.default_rng(seed).integers(-25, 25, background.shape, dtype=np.int16)
    image = Image.fromarray(background.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    colour, shape = STYLES[style % len(STYLES)]
    x, y = rng.randint(2, width // 3), rng.randint(2, height // 3)
    w, h = rng.randint(width // 2, width - x - 1), rng.randint(height // 2, height - y - 1)
    box = (x, y, x + w, y + h)
    if shape == "ellipse":
        draw.ellipse(box, fill=colour)
    elif shape == "rectangle":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(x, y + h), (x + w // 2, y), (x + w, y + h)], fill=colour)
    else:
        draw.line((x, y, x + w, y + h), fill=colour, width=5)
        draw.line((x, y + h, x + w, y), fill=colour, width=5)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=90)
    return path


@pytest.fixture
def folder_tree(tmp_path: Path) -> Path:
    """Return ``tree/{train,validation,test}/{red_ellipse,blue_box}/*.jpg`` (12/4/4 per class)."""
    root = tmp_path / "tree"
    counts = {"train": 12, "validation": 4, "test": 4}
    for subset, count in counts.items():
        for style, name in enumerate(("red_ellipse", "blue_box")):
            for i in range(count):
                paint(root / subset / name / f"{i:03d}.jpg", style, _seed(subset, name, i))
    return root


def _annotations(records: list[dict]) -> np.ndarray:
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    array = np.empty((1, len(records)), dtype=[(f, object) for f in fields])
    for i, record in enumerate(records):
        for f in fields:
            value = record[f]
            array[0, i][f] = np.array([[value]], dtype=np.uint16) if f != "fname" else value
    return array


def _stanford_photos(per_class: dict[str, int]) -> dict[str, list[tuple[str, int, tuple]]]:
    """Return ``subset -> [(fname, 1-based class, bbox)]`` with files numbered like Stanford's."""
    result = {}
    for subset, count in per_class.items():
        rows = []
        number = 1
        for _ in range(count):
            for class_number in range(1, len(STANFORD_CLASSES) + 1):
                rows.append((f"{number:05d}.jpg", class_number, (3, 4, 40, 36)))
                number += 1
        result[subset] = rows
    return result


@pytest.fixture
def stanford_original(tmp_path: Path) -> Path:
    """Return a Stanford Cars stand-in in the original layout (.mat devkit, 3 classes)."""
    root = tmp_path / "stanford"
    (root / "devkit").mkdir(parents=True)
    names = np.empty((1, len(STANFORD_CLASSES)), dtype=object)
    for i, name in enumerate(STANFORD_CLASSES):
        names[0, i] = name
    savemat(root / "devkit" / "cars_meta.mat", {"class_names": names})
    photos = _stanford_photos({"train": 6, "test": 2})
    for subset, annos in (
        ("train", "devkit/cars_train_annos.mat"),
        ("test", "cars_test_annos_withlabels.mat"),
    ):
        records = []
        for fname, class_number, box in photos[subset]:
            paint(root / f"cars_{subset}" / fname, class_number - 1, _seed(subset, fname))
            records.append(
                dict(zip(["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"], box, strict=True))
                | {"class": class_number, "fname": fname}
            )
        savemat(root / annos, {"annotations": _annotations(records)})
    return root


@pytest.fixture
def stanford_folders(tmp_path: Path) -> Path:
    """Return a stand-in of the shared class-folder layout (``car_data/car_data/train/...``)."""
    root = tmp_path / "stanford_folders"
    data_root = root / "car_data" / "car_data"
    photos = _stanford_photos({"train": 6, "test": 2})
    root.mkdir()
    with (root / "names.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([[name] for name in STANFORD_CLASSES])
    for subset in ("train", "test"):
        rows = []
        for fname, class_number, box in photos[subset]:
            folder = STANFORD_CLASSES[class_number - 1].replace("/", "-")
            paint(data_root / subset / folder / fname, class_number - 1, _seed(subset, fname))
            rows.append([fname, *box, class_number])
        with (root / f"anno_{subset}.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    return root


@pytest.fixture(scope="session")
def painter():  # noqa: ANN201 - returns paint()
    """Return :func:`paint` (test modules cannot import conftest under importlib mode)."""
    return paint


@pytest.fixture
def stanford_classes() -> list[str]:
    """Return the class names of the Stanford stand-ins, in official order."""
    return list(STANFORD_CLASSES)
