"""``evaluate`` (the only reader of the test subset) and ``predict`` for a finished run.

Both load ``model.keras`` with the run's ``config.json`` and preprocess photos exactly as
training did (same cache of quantized photos, same decode and resize).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline.errors import CarscoutError  # noqa: E402
from pipeline.workspace import Workspace  # noqa: E402
from training import models as _models  # noqa: E402, F401  (registers custom layers)
from training import records, reports  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.data_sources import BBox, LabelledFiles, Sample  # noqa: E402
from training.metrics import classification_metrics, flat_metrics  # noqa: E402
from training.run_folder import prepared, require_finished  # noqa: E402
from training.sources import resolve_data  # noqa: E402
from training.trainer import predict_probabilities  # noqa: E402


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


def evaluate(
    run_dir: Path, data: LabelledFiles | None = None, *, workspace: Workspace | None = None
) -> dict[str, Any]:
    """Measure a finished run on the test subset, once the model choice is final.

    ``data`` defaults to the run's own data source (``config.data``). Writes the ``test`` section
    of ``metrics.json``, ``predictions_test.csv`` (``path,true,predicted,confidence``) and
    ``confusion_matrix_test.png``, and records the test metrics when given a ``workspace``.
    Returns the :func:`training.metrics.classification_metrics` dict.
    """
    run = load_run(run_dir)
    data = data or resolve_data(run.config.data, workspace)
    if data.class_names != run.class_names:
        raise CarscoutError(
            f"the data has other classes than the run ({len(data.class_names)} vs "
            f"{len(run.class_names)}); evaluate on the data source the run was trained on"
        )
    data.check_files_exist(["test"])
    test = data.subset("test")
    probabilities = predict_probabilities(
        run.model, prepared(test, run.config, run.run_dir), run.config, len(run.class_names)
    )
    metrics = classification_metrics([s.label for s in test], probabilities, run.class_names)
    metrics_path = run.run_dir / "metrics.json"
    summary = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    summary["test"] = metrics
    metrics_path.write_text(json.dumps(summary, indent=2) + "\n")
    with (run.run_dir / "predictions_test.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "true", "predicted", "confidence"])
        for sample, row in zip(test, probabilities, strict=True):
            best = int(row.argmax())
            writer.writerow(
                [
                    sample.path,
                    run.class_names[sample.label],
                    run.class_names[best],
                    f"{row[best]:.6f}",
                ]
            )
    reports.plot_confusion(
        metrics["confusion_matrix"],
        run.class_names,
        run.run_dir / "confusion_matrix_test.png",
        "test confusion matrix",
    )
    if workspace is not None:
        run_id = records.find_training_run(workspace, run_dir=str(run.run_dir))
        if run_id is not None:
            records.record_metrics(workspace, run_id, "test", flat_metrics(metrics))
    return metrics


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
