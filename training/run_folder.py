"""A run folder on disk: its layout, its history, the prepared-photo cache, starting or resuming.

A run folder holds::

    config.json  class_names.json  data.json   history.csv   model.keras
    metrics.json model_card.md     curves.png  confusion_matrix.png  worst_mistakes.png
    checkpoints/best.weights.h5    backup/     logs/ (TensorBoard)

Training a folder that holds an unfinished run resumes it (see :mod:`training.trainer`);
:func:`prepare_run_dir` checks that the resumed run has the same configuration and classes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import CarscoutError
from training.config import TrainConfig
from training.data_sources import LabelledFiles, Sample
from training.quantize import prepare_files

HISTORY_FILE = "history.csv"
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
        if saved != config:
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
