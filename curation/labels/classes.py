"""The label check every out-of-fold scorer makes before it splits the photos into folds."""

from __future__ import annotations

import numpy as np

from pipeline.errors import CarscoutError


def encode_labels(labels: list[str], scorer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(classes, y, counts)``: the sorted classes, each label's class index and each
    class's count. Raise :class:`CarscoutError` naming ``scorer`` unless there are two labels
    or more with 2+ images each (a fold split needs both)."""
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(y) if len(y) else np.zeros(0, int)
    if len(classes) < 2 or counts.min() < 2:
        raise CarscoutError(
            f"{scorer} needs at least two labels with 2+ active images each; counts: "
            f"{dict(zip(classes.tolist(), counts.tolist(), strict=True))}"
        )
    return classes, y, counts
