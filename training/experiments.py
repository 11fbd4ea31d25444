"""``data-size``: validation accuracy against the number of training photos.

The question the original two-car project asked and never answered: would more photos help?
Each fraction trains the same configuration on a stratified, nested subset of the training
photos and is judged on the full validation subset. The train accuracy (measured without
augmentation) beside it shows the gap: a large gap that shrinks with more data means variance
(more photos help); low accuracy on both means bias (a bigger model helps).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from pipeline.errors import ConfigError
from pipeline.workspace import Workspace
from training.config import TrainConfig
from training.labelled import LabelledFiles, subsample

# Plots go to files only; pyplot picks its backend at the first figure.
matplotlib.use("Agg")


@dataclass(frozen=True)
class DataSizePoint:
    """One row of the learning curve."""

    fraction: float
    train_photos: int
    validation_accuracy: float
    train_accuracy: float
    gap: float
    best_epoch: int
    seconds: float
    run_dir: str


def parse_fractions(text: str) -> list[float]:
    """Return sorted fractions from ``"0.1,0.25,0.5,1.0"``; each must be in (0, 1]."""
    try:
        values = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--fractions {text!r}: use numbers like 0.1,0.25,0.5,1.0") from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise ConfigError(f"--fractions {text!r}: every fraction must be in (0, 1]")
    return values


def data_size_experiment(
    config: TrainConfig,
    data: LabelledFiles,
    fractions: Sequence[float],
    *,
    out_dir: Path | None = None,
    workspace: Workspace | None = None,
) -> tuple[list[DataSizePoint], Path]:
    """Train once per fraction and return ``(points, out_dir)``.

    ``out_dir`` (default ``<runs_dir>/experiments/data-size-<UTC time>``) receives one run
    folder per fraction, ``data_size.csv``, ``data_size.md`` and ``data_size.png``. With a
    workspace every run is recorded in the catalog.
    """
    from training.trainer import train  # TensorFlow loads here, after the options are checked

    if out_dir is None:
        if workspace is None:
            raise ConfigError("data_size_experiment needs out_dir or a workspace")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out_dir = workspace.settings.runs_dir / "experiments" / f"data-size-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    full_train = data.subset("train")
    points = []
    for fraction in fractions:
        subset = subsample(full_train, fraction, config.seed)
        part = LabelledFiles(
            data.class_names,
            {**data.subsets, "train": subset},
            source=f"{data.source} [train fraction {fraction:g}]",
            split_id=data.split_id,
            notes=[*data.notes, f"train subsampled to {fraction:g} (stratified, nested)"],
        )
        name = f"{out_dir.name}-f{fraction:g}"
        result = train(
            config, part, run_dir=out_dir / f"f{fraction:g}", workspace=workspace, name=name
        )
        validation_accuracy = result.validation["accuracy"]
        train_accuracy = result.train["accuracy"]
        points.append(
            DataSizePoint(
                fraction=fraction,
                train_photos=len(subset),
                validation_accuracy=validation_accuracy,
                train_accuracy=train_accuracy,
                gap=train_accuracy - validation_accuracy,
                best_epoch=result.best_epoch,
                seconds=result.seconds,
                run_dir=str(result.run_dir),
            )
        )
    write_data_size_report(points, out_dir)
    return points, out_dir


def write_data_size_report(points: Sequence[DataSizePoint], out_dir: Path) -> None:
    """Write ``data_size.csv``, ``data_size.md``, ``data_size.json`` and ``data_size.png``."""
    rows = [asdict(p) for p in points]
    with (out_dir / "data_size.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "data_size.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "| fraction | train photos | val accuracy | train accuracy | gap | seconds |",
        "|---|---|---|---|---|---|",
        *(
            f"| {p.fraction:g} | {p.train_photos} | {p.validation_accuracy:.4f} | "
            f"{p.train_accuracy:.4f} | {p.gap:+.4f} | {p.seconds:.0f} |"
            for p in points
        ),
    ]
    (out_dir / "data_size.md").write_text("\n".join(lines) + "\n")
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    counts = [p.train_photos for p in points]
    left.plot(counts, [p.validation_accuracy for p in points], "s-", label="validation")
    left.plot(counts, [p.train_accuracy for p in points], "o--", label="train (no augmentation)")
    left.set_xlabel("training photos")
    left.set_ylabel("accuracy")
    left.set_title("accuracy against training set size")
    left.legend()
    left.grid(alpha=0.3)
    right.bar([f"{p.fraction:g}" for p in points], [p.gap for p in points])
    right.set_xlabel("fraction of training photos")
    right.set_title("train − validation gap (variance)")
    right.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    figure.savefig(out_dir / "data_size.png", dpi=100)
    plt.close(figure)
