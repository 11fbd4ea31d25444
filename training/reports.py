"""What a run folder shows a person: learning curves, confusion matrix, the worst mistakes and a
short model card. All plots use matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from training.labelled import Sample
from training.quantize import open_rgb

# Plots go to files only; pyplot picks its backend at the first figure.
matplotlib.use("Agg")


def plot_history(history: Sequence[dict[str, float]], path: Path) -> None:
    """Draw loss and accuracy per epoch, train against validation, into ``path`` (PNG)."""
    epochs = [int(row["epoch"]) + 1 for row in history]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, style in (("", "o-"), ("val_", "s--")):
            values = [row.get(prefix + metric) for row in history]
            if any(v is not None for v in values):
                axis.plot(epochs, values, style, label="validation" if prefix else "train")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_confusion(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: Path, title: str
) -> None:
    """Draw the confusion matrix (rows true, columns predicted) into ``path``.

    Class names are written on the axes up to 30 classes; beyond that only the colours remain.
    """
    values = np.asarray(matrix)
    n = len(class_names)
    side = min(20, 3 + 0.35 * n)
    figure, axis = plt.subplots(figsize=(side, side))
    axis.imshow(values, cmap="Blues")
    if n <= 30:
        axis.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
        axis.set_yticks(range(n), class_names, fontsize=8)
        for i in range(n):
            for j in range(n):
                colour = "white" if values[i, j] > values.max() / 2 else "black"
                axis.text(
                    j, i, str(values[i, j]), ha="center", va="center", color=colour, fontsize=8
                )
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def worst_mistakes(
    samples: Sequence[Sample], probabilities: np.ndarray, limit: int = 16
) -> list[tuple[Sample, int, float]]:
    """Return up to ``limit`` misclassified samples, most confident mistake first, as
    ``(sample, predicted_index, confidence)``."""
    predicted = probabilities.argmax(axis=1)
    wrong = [
        (sample, int(p), float(probabilities[i, p]))
        for i, (sample, p) in enumerate(zip(samples, predicted, strict=True))
        if p != sample.label
    ]
    return sorted(wrong, key=lambda item: -item[2])[:limit]


def mistake_id(sample: Sample) -> str:
    """Return how a person finds a photo again: ``image 123`` (catalog) or its file name."""
    return f"image {sample.image_id}" if sample.image_id is not None else sample.path.name


def write_mistakes_csv(
    mistakes: Sequence[tuple[Sample, int, float]], class_names: Sequence[str], path: Path
) -> None:
    """Write the photos of the mistakes grid, in grid order, as CSV:
    ``position,image_id,path,true,predicted,confidence`` (``image_id`` empty off the catalog)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["position", "image_id", "path", "true", "predicted", "confidence"])
        for position, (sample, predicted, confidence) in enumerate(mistakes, start=1):
            writer.writerow(
                [
                    position,
                    "" if sample.image_id is None else sample.image_id,
                    sample.path,
                    class_names[sample.label],
                    class_names[predicted],
                    f"{confidence:.4f}",
                ]
            )


def plot_mistakes(
    mistakes: Sequence[tuple[Sample, int, float]], class_names: Sequence[str], path: Path
) -> None:
    """Draw a grid of misclassified photos titled with the photo's id (``image 123`` or its file
    name), then ``true → predicted (confidence)``."""
    columns = 4
    rows = max(1, math.ceil(len(mistakes) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (sample, predicted, confidence) in zip(axes.flat, mistakes, strict=False):
        axis.imshow(open_rgb(sample.path, sample.bbox))
        axis.set_title(
            f"{mistake_id(sample)}\n{class_names[sample.label]}\n"
            f"→ {class_names[predicted]} ({confidence:.2f})",
            fontsize=8,
        )
    if not mistakes:
        axes.flat[0].text(0.5, 0.5, "no misclassified validation photos", ha="center")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _test_lines(test: dict[str, Any] | None) -> list[str]:
    if not test:
        return ["Not measured yet: run `carscout evaluate` once, after all choices are made."]
    fingerprint = test.get("test_fingerprint")
    looks = int(test.get("test_looks") or 1)
    lines = [
        f"Accuracy {_fmt(test['accuracy'])} on {test['count']} held-out photos"
        + (f" of {test['test_set']}" if test.get("test_set") else "")
        + (f", test set fingerprint `{fingerprint[:12]}`" if fingerprint else "")
        + ".  ",
        (
            "Looked at once, by `carscout evaluate`."
            if looks == 1
            else f"Looked at {looks} times (`carscout evaluate --again`): a choice made after "
            "the first look has seen the test set, so this figure is optimistic."
        ),
    ]
    changed = {k: v for k, v in (test.get("test_changed") or {}).items() if v}
    if changed:
        lines.append(
            "Since the split was built, test photos were "
            + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in changed.items())
            + "; they are scored under the labels the test set was built with (a new split "
            "version applies the decisions)."
        )
    return lines


def model_card(
    *,
    name: str,
    config: dict[str, Any],
    description: str,
    source: str,
    notes: Sequence[str],
    class_names: Sequence[str],
    counts: dict[str, int],
    metrics: dict[str, Any],
    runtime: str,
) -> str:
    """Return a short Markdown model card for a finished training run."""
    validation = metrics.get("validation", {})
    lines = [
        f"# Model card: {name}",
        "",
        f"**Model:** `{config['model']}` — {description}.  ",
        *([f"**Why this model:** {why}.  "] if (why := config.get("model_choice")) else []),
        f"**Input:** {config['image_size']}×{config['image_size']} RGB photos, values 0–255"
        + (
            f", reduced to {config['quantize_colors']} colours"
            if config.get("quantize_colors")
            else ""
        )
        + ".  ",
        f"**Classes ({len(class_names)}):** {', '.join(class_names[:10])}"
        + (" …" if len(class_names) > 10 else ""),
        "",
        "## Data",
        f"- Source: {source}",
        *[f"- {note}" for note in notes],
        "- Photos: " + ", ".join(f"{subset} {count}" for subset, count in counts.items()),
        "",
        "## Validation results (used for every model choice)",
        "| metric | value |",
        "|---|---|",
    ]
    for key in ("accuracy", "top5_accuracy", "loss", "macro_precision", "macro_recall"):
        if validation.get(key) is not None:
            lines.append(f"| {key} | {_fmt(validation[key])} |")
    train = metrics.get("train", {})
    if train.get("accuracy") is not None:
        gap = train["accuracy"] - validation.get("accuracy", 0.0)
        lines.append(f"| train accuracy (no augmentation) | {_fmt(train['accuracy'])} |")
        lines.append(f"| train − validation gap | {_fmt(gap)} |")
    lines += ["", "## Test results", *_test_lines(metrics.get("test")), ""]
    lines += [
        "## Training",
        f"- Runtime: {runtime}; best epoch {metrics.get('best_epoch')} of "
        f"{metrics.get('epochs_run')}; {metrics.get('train_seconds', 0):.0f} s",
        f"- Seed {config['seed']}, batch {config['batch_size']}, learning rate "
        f"{config['learning_rate']}",
        "",
        "## Limitations",
        "- Trained only on the classes above; any other car gets one of these labels anyway.",
        "- Photos that differ from the training photos (angle, light, source) may score lower.",
        "",
    ]
    return "\n".join(lines)
