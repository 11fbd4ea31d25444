"""Accuracy against the truth next to accuracy against the labels, on real truth files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline.errors import CarscoutError
from training.run_folder import ScoredPhoto, file_sha256, write_test_predictions
from training.truth import demo_truth, realcars_truth, truth_report

REALCARS = Path(__file__).resolve().parents[3] / "shared" / "realcars-dev"
needs_realcars = pytest.mark.skipif(
    not (REALCARS / "truth.json").is_file(), reason="../shared/realcars-dev is not here"
)

# (file, predicted): the folder is the listed label; truth.json says what each photo is.
TEST_PHOTOS = [
    ("coupe/00000.jpg", "coupe"),  # right label, right prediction
    ("coupe/00001.jpg", "pickup"),  # right label, wrong prediction
    ("coupe/00031.jpg", "pickup"),  # listed coupe, truly a pickup: "wrong" against the label
    ("coupe/00024.jpg", "coupe"),  # a convertible: neither label
    ("pickup/00000.jpg", "pickup"),
    ("pickup/00042.jpg", "pickup"),  # listed pickup, truly a coupe
]


def _evaluated_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "class_names.json").write_text(json.dumps(["coupe", "pickup"]))
    write_test_predictions(
        run_dir,
        [
            ScoredPhoto(
                REALCARS / "photos" / name,
                None,
                file_sha256(REALCARS / "photos" / name),
                name.split("/")[0],
                predicted,
                0.9,
            )
            for name, predicted in TEST_PHOTOS
        ],
    )
    return run_dir


@needs_realcars
def test_realcars_truth_by_file_name(tmp_path: Path) -> None:
    run_dir = _evaluated_run(tmp_path)
    train = [("coupe/00043.jpg", "coupe"), ("coupe/00002.jpg", "coupe"), ("nowhere.jpg", "coupe")]
    report = truth_report(run_dir, realcars_truth(REALCARS), by="name", subsets={"train": train})
    # Against the labels: all but coupe/00001 and coupe/00031 are predicted as listed.
    assert report.photos == 6
    assert report.accuracy_listed == pytest.approx(4 / 6)
    # Against the truth: the convertible is left out; 00031 (pickup) is right now, 00042
    # (truly a coupe, predicted pickup) wrong.
    assert (report.truth_photos, report.neither, report.unknown) == (5, 1, 0)
    assert report.accuracy_truth == pytest.approx(3 / 5)
    assert report.wrong == {"train": 1, "test": 3}
    assert report.known == {"train": 2, "test": 6}
    assert "truly wrong labels: train 1/2, test 3/6" in report.describe()


@needs_realcars
def test_realcars_truth_by_sha256_matches_the_catalog_s_names(tmp_path: Path) -> None:
    by_hash = realcars_truth(REALCARS, by="sha256")
    assert by_hash[file_sha256(REALCARS / "photos" / "pickup" / "00042.jpg")] == "coupe"
    report = truth_report(_evaluated_run(tmp_path), by_hash, by="sha256")
    assert report.accuracy_truth == pytest.approx(3 / 5) and report.wrong["test"] == 3


def test_demo_ground_truth_is_keyed_by_sha256(tmp_path: Path) -> None:
    from scrapers.demo_site.generator import GROUND_TRUTH_FIELDS

    rows = [
        {"sha256": "a" * 64, "listed_model": "swift", "true_content": "swift"},
        {"sha256": "b" * 64, "listed_model": "swift", "true_content": "wagonr"},
        {"sha256": "c" * 64, "listed_model": "wagonr", "true_content": "interior"},
    ]
    path = tmp_path / "ground_truth.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, GROUND_TRUTH_FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    truth = demo_truth(path)
    predictions = [
        ScoredPhoto(Path("x.jpg"), 1, "a" * 64, "swift", "swift", 0.9),
        ScoredPhoto(Path("y.jpg"), 2, "b" * 64, "swift", "wagonr", 0.8),
        ScoredPhoto(Path("z.jpg"), 3, "c" * 64, "wagonr", "wagonr", 0.7),
        ScoredPhoto(Path("w.jpg"), 4, "d" * 64, "wagonr", "swift", 0.6),
    ]
    report = truth_report(predictions, truth, classes=["swift", "wagonr"])
    assert report.accuracy_listed == pytest.approx(2 / 4)
    assert (report.accuracy_truth, report.truth_photos) == (1.0, 2)
    assert (report.neither, report.unknown, report.wrong["test"]) == (1, 1, 2)


def test_a_run_never_evaluated_has_no_truth_report(tmp_path: Path) -> None:
    with pytest.raises(CarscoutError, match="carscout evaluate"):
        truth_report(tmp_path, {}, by="name")
