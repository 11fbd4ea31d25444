"""``evaluate`` (the only reader of the test subset) and ``predict`` for a finished run.

Both load ``model.keras`` with the run's ``config.json`` and preprocess photos exactly as
training did (same cache of quantized photos, same decode and resize).

A run trained on a catalog split is scored on the fixed test set of the split version it was
trained on (:func:`curation.splits.stored.read_test_set`): every photo the version put in
test, under the label it was built with, whatever review did to it since. Every evaluation
records the test set's fingerprint and photo count with the metrics and counts one more look;
a run already evaluated is refused unless ``again=True``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from PIL import Image

from curation.splits.stored import fingerprint_of, read_test_set
from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace
from training import models as _models  # also registers custom layers
from training import records, reports
from training.config import TrainConfig
from training.data_sources import resolve_data
from training.labelled import BBox, LabelledFiles, Sample
from training.metrics import classification_metrics, flat_metrics
from training.run_folder import (
    ScoredPhoto,
    file_sha256,
    looks_so_far,
    prepared,
    require_finished,
    write_test_predictions,
)
from training.trainer import predict_probabilities


@dataclass(frozen=True)
class Prediction:
    """The predicted label of one photo and the model's confidence in it (0–1).

    ``error`` says why a photo got no prediction (missing, not an image); then ``label`` is
    empty, ``confidence`` 0 and ``index`` -1.
    """

    path: Path
    label: str
    confidence: float
    index: int
    error: str | None = None


@dataclass
class LoadedRun:
    """A finished run read back from its folder."""

    run_dir: Path
    config: TrainConfig
    class_names: list[str]
    model: keras.Model


def load_run(run_dir: Path) -> LoadedRun:
    """Return the model, configuration and class names of the finished run in ``run_dir``."""
    run_dir = require_finished(run_dir)
    config = TrainConfig.load(run_dir / "config.json")
    class_names = json.loads((run_dir / "class_names.json").read_text())
    model = keras.models.load_model(run_dir / "model.keras")
    return LoadedRun(run_dir, config, class_names, model)


@dataclass(frozen=True)
class _TestPhotos:
    samples: list[Sample]
    sha256s: list[str]
    description: str
    changed: dict[str, int]


def _split_id_of(run_dir: Path, workspace: Workspace) -> int:
    data_path = run_dir / "data.json"
    split_id = json.loads(data_path.read_text()).get("split_id") if data_path.is_file() else None
    if split_id is None:
        split_id = records.split_id_of(workspace, str(run_dir))
    if split_id is None:
        raise CarscoutError(
            f"{run_dir} does not say which split version it was trained on; train it again "
            "on a catalog split to evaluate it"
        )
    return int(split_id)


def _test_photos(
    run: LoadedRun, data: LabelledFiles | None, workspace: Workspace | None
) -> _TestPhotos:
    if data is None and run.config.data.kind == "catalog":
        if workspace is None:
            raise CarscoutError(
                "a run trained on a catalog split is evaluated against that catalog; give "
                "the workspace (`carscout evaluate` does)"
            )
        fixed = read_test_set(workspace, _split_id_of(run.run_dir, workspace))
        index = {name: i for i, name in enumerate(run.class_names)}
        unknown = sorted({m.label for m in fixed.members} - set(index))
        if unknown:
            raise CarscoutError(
                f"the test set of split {fixed.name!r} version {fixed.version} has labels the "
                f"run was not trained on ({', '.join(unknown[:3])}); train on that version again"
            )
        if not fixed.members:
            raise CarscoutError(
                f"split {fixed.name!r} version {fixed.version} has no test photos; build one "
                "with test photos (`carscout split --reshuffle --sizes …`)"
            )
        missing = [m.path for m in fixed.members if not m.path.is_file()]
        if missing:
            raise CarscoutError(
                f"{len(missing)} test photo file(s) are missing from the store (e.g. "
                f"{missing[0]}); restore them — the test set cannot be scored without them"
            )
        return _TestPhotos(
            [Sample(m.path, index[m.label], None, m.image_id) for m in fixed.members],
            [m.sha256 for m in fixed.members],
            f"split {fixed.name} v{fixed.version}",
            fixed.changed(),
        )
    data = data or resolve_data(run.config.data, workspace)
    if data.class_names != run.class_names:
        raise CarscoutError(
            f"the data has other classes than the run ({len(data.class_names)} vs "
            f"{len(run.class_names)}); evaluate on the data source the run was trained on"
        )
    data.check_files_exist(["test"])
    samples = data.subset("test")
    return _TestPhotos(
        list(samples), [file_sha256(s.path) for s in samples], data.source or "files", {}
    )


def evaluate(
    run_dir: Path,
    data: LabelledFiles | None = None,
    *,
    workspace: Workspace | None = None,
    again: bool = False,
) -> dict[str, Any]:
    """Measure a finished run on its test set, once the model choice is final.

    ``data`` defaults to the run's own data source: for a catalog run, the fixed test set of
    the split version it was trained on. A run already evaluated raises
    :class:`CarscoutError` (naming ``--again``) unless ``again``; each evaluation counts one
    look. Writes the ``test`` section of ``metrics.json``, ``predictions_test.csv``
    (:data:`training.run_folder.PREDICTION_FIELDS`), ``confusion_matrix_test.png`` and the
    model card, and records the test metrics, fingerprint and photo count when given a
    ``workspace``. Returns the :func:`training.metrics.classification_metrics` dict plus
    ``test_fingerprint``, ``test_looks``, ``test_set`` (e.g. ``"split default v1"``) and
    ``test_changed`` (test photos relabelled, no longer active or waiting for review since the
    split was built; they are scored as built).
    """
    run_dir = require_finished(run_dir)
    looks = looks_so_far(run_dir, workspace)
    if looks and not again:
        raise CarscoutError(
            f"run {run_dir.name} was already evaluated on its test set ({looks} look(s)); a "
            "test set is looked at once, after every choice is made — pass --again to look "
            "once more (it is counted)"
        )
    run = load_run(run_dir)
    photos = _test_photos(run, data, workspace)
    test = photos.samples
    probabilities = predict_probabilities(
        run.model, prepared(test, run.config, run.run_dir), run.config, len(run.class_names)
    )
    metrics = classification_metrics([s.label for s in test], probabilities, run.class_names)
    fingerprint = fingerprint_of(
        (sha256, run.class_names[s.label]) for sha256, s in zip(photos.sha256s, test, strict=True)
    )
    looks += 1
    run_id = None
    if workspace is not None:
        run_id = records.find_training_run(workspace, run_dir=str(run.run_dir))
        if run_id is not None:
            looks = max(
                looks,
                records.record_test(
                    workspace,
                    run_id,
                    flat_metrics(metrics),
                    fingerprint=fingerprint,
                    count=len(test),
                ),
            )
    metrics.update(
        test_fingerprint=fingerprint,
        test_looks=looks,
        test_set=photos.description,
        test_changed=photos.changed,
    )
    metrics_path = run.run_dir / "metrics.json"
    summary = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    summary["test"] = metrics
    summary["test_looks"] = looks
    metrics_path.write_text(json.dumps(summary, indent=2) + "\n")
    write_test_predictions(
        run.run_dir,
        [
            ScoredPhoto(
                sample.path,
                sample.image_id,
                sha256,
                run.class_names[sample.label],
                run.class_names[int(row.argmax())],
                float(row.max()),
            )
            for sample, sha256, row in zip(test, photos.sha256s, probabilities, strict=True)
        ],
    )
    reports.plot_confusion(
        metrics["confusion_matrix"],
        run.class_names,
        run.run_dir / "confusion_matrix_test.png",
        "test confusion matrix",
    )
    name = (records.run_name(workspace, run_id) if workspace and run_id else None) or (
        run.run_dir.name
    )
    write_model_card(run, name)
    return metrics


def write_model_card(run: LoadedRun, name: str) -> Path:
    """Write the run's ``model_card.md`` again from its folder (configuration, data, every
    metric in ``metrics.json``, test results included) and return its path."""
    data_path = run.run_dir / "data.json"
    data = json.loads(data_path.read_text()) if data_path.is_file() else {}
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    counts = dict(data.get("counts") or {})
    if metrics.get("test"):
        counts["test"] = metrics["test"]["count"]
    path = run.run_dir / "model_card.md"
    path.write_text(
        reports.model_card(
            name=name,
            config=run.config.to_dict(),
            description=_models.model_spec(run.config.model).description,
            source=data.get("source", ""),
            notes=data.get("notes") or [],
            class_names=run.class_names,
            counts=counts,
            metrics=metrics,
            runtime=metrics.get("runtime", ""),
        )
    )
    return path


def validation_metrics(run_dir: Path, data: LabelledFiles) -> dict[str, Any]:
    """Return the run's :func:`training.metrics.classification_metrics` on ``data``'s
    validation photos (e.g. a champion measured on a challenger's validation set); writes
    nothing and never reads the test subset."""
    run = load_run(run_dir)
    if data.class_names != run.class_names:
        raise CarscoutError(
            f"the data has other classes than run {run.run_dir.name} "
            f"({len(data.class_names)} vs {len(run.class_names)}); they cannot be compared"
        )
    data.check_files_exist(["validation"])
    samples = data.subset("validation")
    probabilities = predict_probabilities(
        run.model, prepared(samples, run.config, run.run_dir), run.config, len(run.class_names)
    )
    return classification_metrics([s.label for s in samples], probabilities, run.class_names)


def unreadable_reason(path: Path) -> str | None:
    """Return why ``path`` cannot be classified (``"no such file"``, ``"not an image …"``), or
    None when Pillow can decode it."""
    if not path.is_file():
        return "no such file" if not path.exists() else "not a file"
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"not an image Pillow can read ({type(exc).__name__}: {exc})"
    return None


def predict(run_dir: Path, paths: Sequence[Path], *, box: BBox | None = None) -> list[Prediction]:
    """Return the label and confidence of each photo in ``paths`` (same order).

    A photo that is missing or not an image gets a :class:`Prediction` with ``error`` set; the
    others are still classified. ``box`` (``x1, y1, x2, y2`` in pixels, 0-based, right and
    bottom exclusive) crops every photo first, as ``--crop`` did for a Stanford run.

    Example: ``[Prediction(path=Path('car.jpg'), label='suzuki swift', confidence=0.98, index=0)]``
    """
    run = load_run(run_dir)
    reasons = {i: unreadable_reason(Path(p)) for i, p in enumerate(paths)}
    readable = [i for i, reason in reasons.items() if reason is None]
    by_index: dict[int, Prediction] = {
        i: Prediction(Path(paths[i]), "", 0.0, -1, reason)
        for i, reason in reasons.items()
        if reason is not None
    }
    if readable:
        samples = prepared(
            [Sample(Path(paths[i]), 0, box) for i in readable], run.config, run.run_dir
        )
        probabilities = predict_probabilities(run.model, samples, run.config, len(run.class_names))
        for i, row in zip(readable, probabilities, strict=True):
            best = int(row.argmax())
            by_index[i] = Prediction(Path(paths[i]), run.class_names[best], float(row[best]), best)
    return [by_index[i] for i in range(len(paths))]
