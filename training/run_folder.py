"""A run folder on disk: its layout, its history, the prepared-photo cache, starting or resuming.

A run folder holds::

    config.json  class_names.json  data.json   history.csv   model.keras
    metrics.json model_card.md     curves.png  confusion_matrix.png  worst_mistakes.png
    checkpoints/best.weights.h5    backup/     logs/ (TensorBoard)
    predictions_test.csv  confusion_matrix_test.png   (written by ``carscout evaluate``)

Training a folder that holds an unfinished run resumes it (see :mod:`training.trainer`);
:func:`prepare_run_dir` checks that the resumed run has the same configuration and classes.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace
from training import records
from training.config import TrainConfig
from training.labelled import LabelledFiles, Sample
from training.quantize import prepare_files

HISTORY_FILE = "history.csv"
PREDICTIONS_TEST = "predictions_test.csv"
PREDICTION_FIELDS = ("path", "image_id", "sha256", "true", "predicted", "confidence")
BEST_WEIGHTS = "checkpoints/best.weights.h5"
FROZEN_DONE = "checkpoints/frozen_phase.done"


def cache_dir_for(run_dir: Path) -> Path:
    """Return the cache of prepared (quantized or converted) photos shared by sibling runs."""
    return run_dir.parent / ".cache" / "prepared"


def prepared(samples: Sequence[Sample], config: TrainConfig, run_dir: Path) -> list[Sample]:
    """Return samples ready for the input pipeline (quantized into the cache when configured)."""
    return prepare_files(
        samples,
        cache_dir_for(run_dir),
        image_size=config.image_size,
        quantize_colors=config.quantize_colors,
        seed=config.seed,
    )


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """Return the rows of ``history.csv``, one per epoch (the last row wins if one repeats)."""
    path = run_dir / HISTORY_FILE
    if not path.is_file():
        return []
    by_epoch: dict[int, dict[str, float]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            values = {k: float(v) for k, v in row.items() if k and v not in ("", None)}
            by_epoch[int(values["epoch"])] = values
    return [by_epoch[e] for e in sorted(by_epoch)]


def best_epoch(history: Sequence[dict[str, float]], monitor: str) -> int:
    """Return the 0-based epoch with the best ``monitor`` value (the last one if unknown)."""
    scored = [(row[monitor], int(row["epoch"])) for row in history if monitor in row]
    if not scored:
        return len(history) - 1
    return (max(scored) if "acc" in monitor else min(scored))[1]


def new_run_name(config: TrainConfig) -> str:
    """Return a fresh run name, ``<model>-<UTC time to the millisecond>``."""
    return f"{config.model}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')[:-3]}"


def require_finished(run_dir: Path) -> Path:
    """Return ``run_dir`` resolved, or raise :class:`CarscoutError` when it holds no finished
    model (checked before TensorFlow is loaded to read it)."""
    run_dir = Path(run_dir).resolve()
    if not (run_dir / "model.keras").is_file():
        raise CarscoutError(
            f"{run_dir} has no model.keras; train it to the end first (rerun `carscout train` "
            "with the same --name to resume)"
        )
    return run_dir


def prepare_run_dir(run_dir: Path, config: TrainConfig, data: LabelledFiles) -> bool:
    """Create or check the run folder; return True when it resumes an unfinished run.

    Raises :class:`CarscoutError` when the folder holds a finished run, or an unfinished one
    with another configuration or other classes.
    """
    if (run_dir / "model.keras").exists():
        raise CarscoutError(f"{run_dir} already holds a finished run; pick another --name")
    resuming = (run_dir / "config.json").is_file()
    if resuming:
        saved = TrainConfig.load(run_dir / "config.json")
        # The choice line may word the same choice differently on a retry (weights downloaded
        # the first time, found in the cache the next): the model chosen is what must match.
        if saved.with_changes(model_choice="") != config.with_changes(model_choice=""):
            raise CarscoutError(
                f"{run_dir} holds an unfinished run with a different configuration; resume it "
                "with the same options or pick another --name"
            )
        if json.loads((run_dir / "class_names.json").read_text()) != data.class_names:
            raise CarscoutError(f"{run_dir} was started on other classes; pick another --name")
        return True
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.json")
    (run_dir / "class_names.json").write_text(json.dumps(data.class_names, indent=1) + "\n")
    (run_dir / "data.json").write_text(
        json.dumps(
            {
                "source": data.source,
                "split_id": data.split_id,
                "counts": data.counts(),
                "notes": data.notes,
                "warnings": data.warnings,
            },
            indent=2,
        )
        + "\n"
    )
    return False


class ScoredPhoto(NamedTuple):
    """One test photo as ``predictions_test.csv`` holds it: the file, its catalog image id (None
    off the catalog), the sha256 of its bytes, the label it is scored against (``true``), the
    predicted label and the model's confidence in it."""

    path: Path
    image_id: int | None
    sha256: str
    true: str
    predicted: str
    confidence: float

    @property
    def correct(self) -> bool:
        """True when the prediction matches the label the photo is scored against."""
        return self.true == self.predicted


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of the file's bytes (how the catalog names a photo)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_test_predictions(run_dir: Path, predictions: Sequence[ScoredPhoto]) -> Path:
    """Write ``predictions_test.csv`` (:data:`PREDICTION_FIELDS`) and return its path."""
    path = Path(run_dir) / PREDICTIONS_TEST
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PREDICTION_FIELDS)
        for p in predictions:
            writer.writerow(
                [
                    p.path,
                    "" if p.image_id is None else p.image_id,
                    p.sha256,
                    p.true,
                    p.predicted,
                    f"{p.confidence:.6f}",
                ]
            )
    return path


def read_test_predictions(run_dir: Path) -> list[ScoredPhoto] | None:
    """Return the rows of the run's ``predictions_test.csv``, or None when the run was never
    evaluated or evaluated before predictions carried each photo's sha256."""
    path = Path(run_dir) / PREDICTIONS_TEST
    if not path.is_file():
        return None
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if "sha256" not in (reader.fieldnames or []):
            return None
        return [
            ScoredPhoto(
                Path(row["path"]),
                int(row["image_id"]) if row["image_id"] else None,
                row["sha256"],
                row["true"],
                row["predicted"],
                float(row["confidence"]),
            )
            for row in reader
        ]


def looks_so_far(run_dir: Path, workspace: Workspace | None = None) -> int:
    """Return how many times the run in ``run_dir`` was evaluated on its test set: the larger
    of what its ``metrics.json`` and (with a ``workspace``) the catalog say."""
    run_dir = Path(run_dir).resolve()
    metrics_path = run_dir / "metrics.json"
    summary = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    looks = int(summary.get("test_looks") or (1 if "test" in summary else 0))
    if workspace is not None:
        run_id = records.find_training_run(workspace, run_dir=str(run_dir))
        if run_id is not None:
            looks = max(looks, records.looks_recorded(workspace, run_id))
    return looks
