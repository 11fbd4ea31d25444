"""Accuracy against the truth, where the truth is known (benchmarks, never the pipeline).

A test set's labels are the catalog's: on real photos some of them are wrong, so test accuracy
measures agreement with noisy labels. Where the truth is known — the demo marketplace's
``ground_truth.csv`` (keyed by the sha256 of each photo's bytes) and a real-photo set's
``truth.json`` such as ``../shared/realcars-dev`` (keyed by ``<label folder>/<file name>``) —
:func:`truth_report` puts accuracy against the truth next to accuracy against the labels, and
counts the photos whose label is truly wrong in each subset.

A truth mapping maps a photo's key to its true label, or to None for a photo of none of the
labels (an interior, a van among coupes and pickups): such a photo is wrong under any label and
is left out of accuracy against the truth.

Example::

    truth = realcars_truth(Path("../shared/realcars-dev"))
    report = truth_report(run_dir, truth, by="name", subsets=subsets_of(data, by="name"))
    report.accuracy_truth, report.wrong  # 0.84, {'train': 71, 'validation': 26, 'test': 19}
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.errors import CarscoutError
from training.labelled import LabelledFiles
from training.run_folder import ScoredPhoto, file_sha256, read_test_predictions

Key = Literal["sha256", "name"]


def photo_key(path: Path, sha256: str, by: Key) -> str:
    """Return a photo's key in a truth mapping: its sha256, or ``<folder>/<file name>``."""
    if by == "sha256":
        return sha256
    path = Path(path)
    return f"{path.parent.name}/{path.name}"


def realcars_truth(root: Path, by: Key = "name") -> dict[str, str | None]:
    """Return the truth of a real-photo set laid out as ``photos/<label>/*.jpg`` with a
    ``truth.json`` (see ``../shared/realcars-dev/README.md``): key → ``true_label`` (None for a
    photo of neither label). ``by="sha256"`` keys by the sha256 of each file's bytes, which is
    how a catalog that imported the folder names them (JPEGs needing no change are stored byte
    for byte). Raises :class:`CarscoutError` when the layout is not there."""
    root = Path(root)
    truth_file = root / "truth.json"
    if not truth_file.is_file():
        raise CarscoutError(f"{root} has no truth.json; pass a folder like ../shared/realcars-dev")
    files = json.loads(truth_file.read_text())["files"]
    if by == "name":
        return {name: entry["true_label"] for name, entry in files.items()}
    return {
        file_sha256(root / "photos" / name): entry["true_label"]
        for name, entry in files.items()
        if (root / "photos" / name).is_file()
    }


def demo_truth(ground_truth: Path | Iterable[Mapping[str, str]]) -> dict[str, str | None]:
    """Return the demo marketplace's truth: sha256 → the model the photo really shows, or None
    for a photo of no car model (an interior, a document, a close-up, no car).

    ``ground_truth`` is the site's ``ground_truth.csv`` or its rows
    (``DemoSite.read_ground_truth()``); ``true_content`` names a model or what else it shows,
    so a value that is not one of the run's classes counts as none of them in the report."""
    if isinstance(ground_truth, Path | str):
        with Path(ground_truth).open(newline="") as handle:
            rows: Iterable[Mapping[str, str]] = list(csv.DictReader(handle))
    else:
        rows = ground_truth
    return {row["sha256"]: row["true_content"] or None for row in rows}


def subsets_of(
    data: LabelledFiles, by: Key, subsets: Sequence[str] = ("train", "validation")
) -> dict[str, list[tuple[str, str]]]:
    """Return ``subset -> [(key, listed label)]`` of ``data``'s photos, for the wrong-label
    counts of :func:`truth_report` (the test subset comes from the run's predictions)."""
    return {
        name: [
            (
                photo_key(s.path, file_sha256(s.path) if by == "sha256" else "", by),
                data.class_names[s.label],
            )
            for s in data.subsets.get(name, [])
        ]
        for name in subsets
    }


@dataclass(frozen=True)
class TruthReport:
    """A run's test predictions against the catalog's labels and against the truth.

    ``accuracy_listed``: share of the ``photos`` test photos predicted as their label says.
    ``accuracy_truth``: share of the ``truth_photos`` test photos whose truth is one of the
    run's classes predicted as the truth says (None when there is none). ``neither``: test
    photos whose truth is none of the classes; ``unknown``: test photos the mapping does not
    know. ``wrong`` / ``known``: per subset, photos whose label is not their truth (a photo of
    none of the classes is wrong) / photos the mapping knows.
    """

    photos: int
    accuracy_listed: float
    accuracy_truth: float | None
    truth_photos: int
    neither: int
    unknown: int
    wrong: dict[str, int] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """Return one line, e.g. ``test 231 photos: 0.861 against labels, 0.879 against the
        truth (220 photos); truly wrong labels: train 71/747, validation 26/251, test 19/231``."""
        truth = "-" if self.accuracy_truth is None else f"{self.accuracy_truth:.3f}"
        wrong = ", ".join(f"{s} {self.wrong[s]}/{self.known[s]}" for s in self.wrong)
        return (
            f"test {self.photos} photos: {self.accuracy_listed:.3f} against labels, {truth} "
            f"against the truth ({self.truth_photos} photos); truly wrong labels: {wrong}"
        )


def truth_report(
    run: Path | Sequence[ScoredPhoto],
    truth: Mapping[str, str | None],
    *,
    by: Key = "sha256",
    classes: Sequence[str] | None = None,
    subsets: Mapping[str, Iterable[tuple[str, str]]] | None = None,
) -> TruthReport:
    """Return the :class:`TruthReport` of a run's test predictions against ``truth``.

    ``run`` is an evaluated run folder (its ``predictions_test.csv`` and ``class_names.json``)
    or its predictions (then ``classes`` names the run's classes; default: every label seen).
    ``by`` says how ``truth`` is keyed (:func:`photo_key`). ``subsets`` adds the wrong-label
    counts of other subsets (:func:`subsets_of`). Raises :class:`CarscoutError` for a run that
    was never evaluated.
    """
    if isinstance(run, Path | str):
        run_dir = Path(run)
        predictions = read_test_predictions(run_dir)
        if predictions is None:
            raise CarscoutError(
                f"{run_dir} has no predictions_test.csv with photo hashes; run "
                "`carscout evaluate` on it (--again if it was evaluated before)"
            )
        if classes is None and (run_dir / "class_names.json").is_file():
            classes = json.loads((run_dir / "class_names.json").read_text())
    else:
        predictions = list(run)
    if not predictions:
        raise CarscoutError("no test predictions to compare with the truth")
    names = set(classes) if classes is not None else {p.true for p in predictions}
    listed_right = sum(1 for p in predictions if p.correct)
    truth_total = truth_right = neither = unknown = 0
    for p in predictions:
        key = photo_key(p.path, p.sha256, by)
        if key not in truth:
            unknown += 1
        elif truth[key] in names:
            truth_total += 1
            truth_right += p.predicted == truth[key]
        else:
            neither += 1
    wrong: dict[str, int] = {}
    known: dict[str, int] = {}
    listed = dict(subsets or {})
    listed["test"] = [(photo_key(p.path, p.sha256, by), p.true) for p in predictions]
    for subset, photos in listed.items():
        pairs = [(key, label) for key, label in photos if key in truth]
        known[subset] = len(pairs)
        wrong[subset] = sum(1 for key, label in pairs if truth[key] != label)
    return TruthReport(
        photos=len(predictions),
        accuracy_listed=listed_right / len(predictions),
        accuracy_truth=truth_right / truth_total if truth_total else None,
        truth_photos=truth_total,
        neither=neither,
        unknown=unknown,
        wrong=wrong,
        known=known,
    )
