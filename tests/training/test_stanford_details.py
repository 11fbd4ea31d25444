"""Stanford Cars without silent surprises (issue 18): test labels under the devkit's own file
name, hidden files, names.csv quirks, 1-based boxes, --crop without boxes, a Stanford tree given
as a plain folder, a missing cars_meta.mat; and what a run folder shows (mistake ids, seed)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import CarscoutError
from training.data_sources import from_folder_tree
from training.labelled import LabelledFiles, Sample
from training.stanford import from_stanford, matlab_box

FOLDERS = "car_data/car_data"


def test_labelled_test_annotations_under_the_devkit_name_are_read(
    stanford_original: Path,
) -> None:
    (stanford_original / "cars_test_annos_withlabels.mat").rename(
        stanford_original / "devkit" / "cars_test_annos.mat"
    )
    data = from_stanford(stanford_original)
    assert len(data.subsets["test"]) == 6
    assert data.warnings == []


def test_unlabelled_test_annotations_are_said_at_load_time(stanford_original: Path) -> None:
    from scipy.io import loadmat, savemat

    labelled = stanford_original / "cars_test_annos_withlabels.mat"
    annotations = loadmat(str(labelled))["annotations"]
    fields = [f for f in annotations.dtype.names if f != "class"]
    unlabelled = np.empty(annotations.shape, dtype=[(f, object) for f in fields])
    for f in fields:
        unlabelled[f] = annotations[f]
    savemat(stanford_original / "devkit" / "cars_test_annos.mat", {"annotations": unlabelled})
    labelled.unlink()
    data = from_stanford(stanford_original)
    assert data.subsets["test"] == []
    assert any("have no class labels" in w for w in data.warnings)
    with pytest.raises(CarscoutError, match="have no class labels") as caught:
        data.subset("test")
    assert "add a test/ folder" not in str(caught.value)


def test_crop_on_class_folders_without_boxes_is_an_error(stanford_folders: Path) -> None:
    (stanford_folders / "anno_train.csv").unlink()
    (stanford_folders / "anno_test.csv").unlink()
    with pytest.raises(CarscoutError, match=r"--crop needs the bounding boxes.*anno_train\.csv"):
        from_stanford(stanford_folders, crop=True)
    assert "(cropped)" not in from_stanford(stanford_folders).source


def test_hidden_files_and_folders_are_ignored(stanford_folders: Path) -> None:
    before = from_stanford(stanford_folders, seed=1).counts()
    class_dir = next((stanford_folders / FOLDERS / "train").iterdir())
    (class_dir / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (stanford_folders / FOLDERS / "train" / ".ipynb_checkpoints").mkdir()
    (stanford_folders / FOLDERS / "test" / ".DS_Store").write_bytes(b"Bud1")
    data = from_stanford(stanford_folders, seed=1)
    assert data.counts() == before
    assert not any(s.path.name.startswith(".") for v in data.subsets.values() for s in v)


@pytest.mark.parametrize("prefix", ["\ufeff", "class_name\n", "\ufeffclass_names\n"])
def test_names_csv_with_a_bom_or_a_header(
    stanford_folders: Path, stanford_classes: list[str], prefix: str
) -> None:
    names = stanford_folders / "names.csv"
    names.write_text(prefix + names.read_text(encoding="utf-8"), encoding="utf-8")
    data = from_stanford(stanford_folders)
    assert data.class_names == stanford_classes


def test_without_names_csv_the_order_is_alphabetical_and_said(
    stanford_folders: Path, stanford_classes: list[str], tmp_path: Path
) -> None:
    from training.config import TrainConfig
    from training.run_folder import prepare_run_dir

    (stanford_folders / "names.csv").unlink()
    # anno_train.csv still numbers the classes: the official order, folder names.
    data = from_stanford(stanford_folders)
    assert data.class_names == [c.replace("/", "-") for c in stanford_classes]
    assert any("class order taken from anno_train.csv" in w for w in data.warnings)
    # Without it too: alphabetical, and said.
    (stanford_folders / "anno_train.csv").unlink()
    (stanford_folders / "anno_test.csv").unlink()
    data = from_stanford(stanford_folders)
    assert data.class_names == sorted(c.replace("/", "-") for c in stanford_classes)
    assert any("alphabetical" in w for w in data.warnings)
    prepare_run_dir(tmp_path / "run", TrainConfig(), data)
    recorded = json.loads((tmp_path / "run" / "data.json").read_text())
    assert any("no names.csv" in w for w in recorded["warnings"])


def test_matlab_boxes_are_one_based_and_inclusive(tmp_path: Path) -> None:
    from training.quantize import open_rgb

    photo = tmp_path / "p.png"
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[0:4, 0:4] = 255  # the devkit's box 1,1,4,4: the top-left 4x4 pixels
    Image.fromarray(pixels).save(photo)
    box = matlab_box(1, 1, 4, 4)
    cropped = np.asarray(open_rgb(photo, box))
    assert cropped.shape == (4, 4, 3) and cropped.min() == 255


def test_anno_csv_boxes_are_one_based_too(stanford_folders: Path) -> None:
    data = from_stanford(stanford_folders, crop=True)
    assert {s.bbox for s in data.subsets["test"]} == {(2, 3, 40, 36)}


def test_a_stanford_tree_as_a_plain_folder_says_use_stanford(
    stanford_original: Path, stanford_folders: Path
) -> None:
    for root in (stanford_original, stanford_folders):
        with pytest.raises(CarscoutError, match="--source stanford"):
            from_folder_tree(root)


def test_a_missing_cars_meta_is_named(stanford_original: Path) -> None:
    (stanford_original / "devkit" / "cars_meta.mat").unlink()
    with pytest.raises(CarscoutError, match=r"devkit/cars_meta\.mat is missing"):
        from_stanford(stanford_original)
    shutil.rmtree(stanford_original / "cars_train")
    with pytest.raises(CarscoutError, match=r"cars_meta\.mat is missing"):
        from_stanford(stanford_original)


def test_the_mistakes_grid_names_each_photo(tmp_path: Path) -> None:
    from training import reports

    photo = tmp_path / "car.jpg"
    Image.new("RGB", (40, 30), "red").save(photo)
    samples = [Sample(photo, 0, None, 123), Sample(photo, 1, None, None)]
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2]])
    mistakes = reports.worst_mistakes(samples, probabilities)
    assert [reports.mistake_id(s) for s, _, _ in mistakes] == ["image 123", "car.jpg"]
    reports.plot_mistakes(mistakes, ["a", "b"], tmp_path / "grid.png")
    reports.write_mistakes_csv(mistakes, ["a", "b"], tmp_path / "grid.csv")
    with (tmp_path / "grid.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["position"], r["image_id"], r["true"], r["predicted"]) for r in rows] == [
        ("1", "123", "a", "b"),
        ("2", "", "b", "a"),
    ]


def test_the_main_job_trains_with_the_train_default_seed() -> None:
    from flows.main_job import train_config
    from training.config import TrainConfig

    assert train_config().seed == TrainConfig().seed == 1337
    assert train_config(quick=True).seed == 1337


def test_catalog_samples_carry_their_image_id(workspace, tmp_path: Path, painter) -> None:  # noqa: ANN001
    from curation.splits.build import build_split
    from pipeline.intake import Provenance, intake_file
    from training.data_sources import from_catalog_split

    for style, label in enumerate(("swift", "wagonr")):
        for i in range(6):
            path = painter(tmp_path / f"{style}-{i}.jpg", style, 50 * style + i)
            intake_file(workspace.catalog, workspace.store, str(path), Provenance(label=label))
    build_split(workspace, fractions=(0.6, 0.2, 0.2), seed=0, phash_threshold=-1)
    data = from_catalog_split(workspace)
    assert all(isinstance(s.image_id, int) for v in data.subsets.values() for s in v)


def test_labelled_files_keep_warnings_and_absent_reasons() -> None:
    data = LabelledFiles(["a", "b"], {"train": []}, absent={"test": "why"})
    with pytest.raises(CarscoutError, match="^why$"):
        data.subset("test")
