"""Classification metrics from predicted probabilities: the numbers that go in ``metrics.json``.

Example result of :func:`classification_metrics`::

    {"count": 800, "accuracy": 0.97, "loss": 0.09, "top5_accuracy": None,
     "macro_precision": 0.97, "macro_recall": 0.97,
     "per_class": {"swift": {"precision": 0.98, "recall": 0.96, "support": 400}, ...},
     "confusion_matrix": [[384, 16], [8, 392]]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

TOP_K = 5


def to_probabilities(outputs: np.ndarray, num_classes: int) -> np.ndarray:
    """Return ``(N, num_classes)`` probabilities from a model's outputs (``(N, 1)`` for two)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if num_classes == 2 and outputs.ndim == 2 and outputs.shape[1] == 1:
        return np.hstack([1.0 - outputs, outputs])
    return outputs


def has_top_k(num_classes: int) -> bool:
    """Return True when top-5 accuracy means something (more than five classes)."""
    return num_classes > TOP_K


def classification_metrics(
    labels: Sequence[int], probabilities: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Return accuracy, cross-entropy loss, top-5 (many classes), per-class precision and recall
    and the confusion matrix (rows: true class, columns: predicted)."""
    y = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    predicted = probs.argmax(axis=1)
    n = len(class_names)
    eps = 1e-7
    loss = (
        float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], eps, 1.0)))) if len(y) else 0.0
    )
    precision, recall, _, support = precision_recall_fscore_support(
        y, predicted, labels=list(range(n)), zero_division=0
    )
    top5 = None
    if has_top_k(n):
        top = np.argsort(-probs, axis=1)[:, :TOP_K]
        top5 = float(np.mean([label in row for label, row in zip(y, top, strict=True)]))
    return {
        "count": len(y),
        "accuracy": float(np.mean(predicted == y)) if len(y) else 0.0,
        "loss": loss,
        "top5_accuracy": top5,
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "support": int(s)}
            for name, p, r, s in zip(class_names, precision, recall, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(y, predicted, labels=list(range(n))).tolist(),
    }


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Return the scalar metrics as ``name -> value`` for the catalog (per-class by index).

    Example: ``{'accuracy': 0.97, 'loss': 0.09, 'precision[0]': 0.98, 'recall[0]': 0.96, ...}``
    """
    flat = {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and value is not None
    }
    for index, values in enumerate(metrics.get("per_class", {}).values()):
        flat[f"precision[{index}]"] = values["precision"]
        flat[f"recall[{index}]"] = values["recall"]
    return flat
