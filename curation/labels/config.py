"""What a label-issue scoring run is given and what it gives back: :class:`ScoreConfig`,
:class:`Scores` (per image) and :class:`ScoreRun` (per run), and the names of the sources and
models that may produce them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curation.labels.features import (
    DEFAULT_BACKBONE,
)
from curation.labels.oof_cnn import (
    BATCH_SIZE,
    CNN_EPOCHS,
    CNN_FLIP,
    CNN_FOLDS,
    CNN_SEEDS,
    CNN_SIZE,
    CNN_SNAPSHOTS,
    CNN_TRAIN_PER_LABEL,
)

MODEL_NAME = "sklearn:StandardScaler+PCA+LogisticRegression"


CNN_MODEL_NAME = "keras:oof-cnn(4 conv blocks)"


SHAPE_MODEL_NAME = "sklearn:StandardScaler+PCA(whiten)+Nystroem(rbf)+LogisticRegression"


SCORE_SOURCES = ("auto", "offline", "shape", "combined", "backbone", "handmade")


@dataclass(frozen=True)
class ScoreConfig:
    """How to score: ``source`` (auto/offline/backbone/handmade), optional backbone ``weights``,
    ``folds`` of the linear out-of-fold model, ``cnn_folds``/``cnn_epochs``/``cnn_size``/
    ``cnn_flip``/``cnn_seeds``/``cnn_batch``/``cnn_snapshots``/``cnn_train_per_label`` of the
    offline CNN (:func:`curation.labels.oof_cnn.out_of_fold_cnn`), and the outlier score's k:
    ``max(neighbours, neighbour_share × label size)``."""

    source: str = "auto"
    weights: Path | None = None
    backbone: str = DEFAULT_BACKBONE
    folds: int = 5
    seed: int = 0
    neighbours: int = 10
    neighbour_share: float = 0.15
    regularization: float = 0.5
    components: int = 64
    cnn_folds: int = CNN_FOLDS
    cnn_epochs: int = CNN_EPOCHS
    cnn_size: int = CNN_SIZE
    cnn_flip: bool = CNN_FLIP
    cnn_seeds: int = CNN_SEEDS
    cnn_batch: int = BATCH_SIZE
    cnn_snapshots: int = CNN_SNAPSHOTS
    cnn_train_per_label: int | None = CNN_TRAIN_PER_LABEL
    shape_components: int = 32
    shape_kernel_rows: int = 300


@dataclass
class Scores:
    """Scores of N images, aligned with ``labels``.

    ``probabilities`` is ``(N, C)`` over ``classes``; ``issue`` and ``outlier`` are ``(N,)``;
    ``suggested[i]`` is a class confidently predicted instead of ``labels[i]``, or None;
    ``feature_source`` and ``model`` name what produced them; ``choice`` is ``auto``'s one line
    on what it chose among the offline sources and why ("" when no choice was made).
    """

    labels: list[str]
    classes: list[str]
    probabilities: np.ndarray
    issue: np.ndarray
    outlier: np.ndarray
    suggested: list[str | None]
    feature_source: str = ""
    model: str = MODEL_NAME
    choice: str = ""


@dataclass
class ScoreRun:
    """What :func:`score_catalog` did: ``images`` scored per label, the run id, the sources and
    ``auto``'s ``choice`` line ("" when none was made)."""

    run_id: int
    feature_source: str
    model: str
    images: dict[str, int] = field(default_factory=dict)
    choice: str = ""
