"""Data sources: folder trees, the catalog split and both Stanford Cars layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.splits.build import build_split
from pipeline.errors import CarscoutError
from pipeline.intake import Provenance, intake_file
from pipeline.workspace import Workspace
from training.data_sources import from_catalog_split, from_folder_tree
from training.labelled import Sample, carve, subsample
from training.stanford import from_stanford

RAM = "Ram C/V Cargo Van Minivan 2012"


def test_folder_tree_with_subsets(folder_tree: Path) -> None:
    data = from_folder_tree(folder_tree)
    assert data.class_names == ["blue_box", "red_ellipse"]
    assert data.counts() == {"test": 8, "train": 24, "validation": 8}
    blue = [s for s in data.subsets["train"] if s.label == 0]
    assert len(blue) == 12 and all(s.path.parent.name == "blue_box" for s in blue)


def test_folder_tree_without_validation_carves_it_stratified(folder_tree: Path) -> None:
    import shutil

    shutil.rmtree(folder_tree / "validation")
    first = from_folder_tree(folder_tree, validation_fraction=0.25, seed=3)
    again = from_folder_tree(folder_tree, validation_fraction=0.25, seed=3)
    assert first.subsets == again.subsets
    validation = first.subsets["validation"]
    assert sorted(s.label for s in validation) == [0, 0, 0, 1, 1, 1]
    assert not {s.path for s in validation} & {s.path for s in first.subsets["train"]}


def test_single_tree_gets_validation_and_test(tmp_path: Path, painter) -> None:  # noqa: ANN001
    for style, name in enumerate(("a", "b", "c")):
        for i in range(10):
            painter(tmp_path / "flat" / name / f"{i}.jpg", style, i)
    data = from_folder_tree(tmp_path / "flat")
    assert data.class_names == ["a", "b", "c"]
    assert sum(data.counts().values()) == 30
    for subset in ("train", "validation", "test"):
        assert {s.label for s in data.subsets[subset]} == {0, 1, 2}


def test_folder_tree_errors_name_the_fix(tmp_path: Path, painter) -> None:  # noqa: ANN001
    with pytest.raises(CarscoutError, match="not a folder"):
        from_folder_tree(tmp_path / "nowhere")
    painter(tmp_path / "one" / "only" / "1.jpg", 0, 1)
    with pytest.raises(CarscoutError, match="2\\+"):
        from_folder_tree(tmp_path / "one")


def test_carve_and_subsample_are_stratified_and_nested() -> None:
    samples = [Sample(Path(f"{c}/{i}.jpg"), c) for c in range(2) for i in range(20)]
    kept, carved = carve(samples, 0.2, seed=1)
    assert [sum(s.label == c for s in carved) for c in (0, 1)] == [4, 4]
    assert len(kept) == 32
    small, large = subsample(samples, 0.25, seed=5), subsample(samples, 0.5, seed=5)
    assert set(small) < set(large)
    assert [sum(s.label == c for s in small) for c in (0, 1)] == [5, 5]


@pytest.mark.parametrize("layout", ["stanford_original", "stanford_folders"])
def test_stanford_layouts_give_official_names_and_indices(
    layout: str, request: pytest.FixtureRequest, stanford_classes: list[str]
) -> None:
    root = request.getfixturevalue(layout)
    data = from_stanford(root, validation_fraction=1 / 3, seed=0)
    # The official order, not the alphabetical folder order; the slash survives.
    assert data.class_names == stanford_classes
    assert data.counts() == {"train": 12, "validation": 6, "test": 6}
    ram = stanford_classes.index(RAM)
    ram_files = [s for s in data.subsets["train"] + data.subsets["validation"] if s.label == ram]
    assert len(ram_files) == 6
    # Files 00002, 00005, ... are class 2 in the annotations (classes are numbered from 1).
    assert {int(s.path.stem) % 3 for s in ram_files} == {2}
    assert all(s.bbox is None for s in data.subsets["train"])


def test_both_stanford_layouts_agree(stanford_original: Path, stanford_folders: Path) -> None:
    original = from_stanford(stanford_original, crop=True, seed=4)
    folders = from_stanford(stanford_folders, crop=True, seed=4)

    def key(data):  # noqa: ANN001, ANN202
        return {
            n: sorted((s.path.name, s.label, s.bbox) for s in v) for n, v in data.subsets.items()
        }

    assert key(original) == key(folders)
    # The devkit's 1-based inclusive box 3,4,40,36 as a 0-based, right/bottom-exclusive one.
    assert original.subsets["test"][0].bbox == (2, 3, 40, 36)
    assert (stanford_folders / "car_data/car_data/train/Ram C-V Cargo Van Minivan 2012").is_dir()


def test_stanford_errors(tmp_path: Path, stanford_folders: Path) -> None:
    with pytest.raises(CarscoutError, match="not Stanford Cars"):
        from_stanford(tmp_path)
    (stanford_folders / "car_data/car_data/train/Bogus Car 1999").mkdir()
    with pytest.raises(CarscoutError, match="matches no class"):
        from_stanford(stanford_folders)


def _catalog_with_split(workspace: Workspace, folder: Path, paint, per_class: int = 10) -> None:  # noqa: ANN001
    for style, label in enumerate(("suzuki swift", "suzuki wagonr")):
        for i in range(per_class):
            path = paint(folder / f"{style}-{i}.jpg", style, 100 * style + i)
            result = intake_file(
                workspace.catalog,
                workspace.store,
                str(path),
                Provenance(label=label, source_path=str(path)),
            )
            assert result.outcome == "stored"
    build_split(workspace, fractions=(0.6, 0.2, 0.2), seed=0, phash_threshold=-1)


def test_catalog_split(workspace: Workspace, tmp_path: Path, painter) -> None:  # noqa: ANN001
    with pytest.raises(CarscoutError, match="split"):
        from_catalog_split(workspace)
    _catalog_with_split(workspace, tmp_path / "photos", painter)
    data = from_catalog_split(workspace)
    assert data.class_names == ["suzuki swift", "suzuki wagonr"]
    assert data.split_id is not None and data.source.startswith("catalog:default")
    # 20 photos at 0.6/0.2/0.2: training gets train and validation, never a test photo (the
    # fixed test set is read by evaluate alone, from the version a run was trained on).
    assert data.counts() == {"train": 12, "validation": 4}
    with pytest.raises(CarscoutError, match="read by `carscout evaluate RUN` alone"):
        data.subset("test")
    for samples in data.subsets.values():
        assert samples and all(s.path.is_file() for s in samples)
        assert all(s.path.is_relative_to(workspace.store.root) for s in samples)
