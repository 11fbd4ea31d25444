"""Out-of-fold class probabilities: every image is scored by a model that never saw it.

One function per source: a linear model on a feature matrix (:func:`out_of_fold_probabilities`),
an RBF kernel map on shape features (:func:`shape_out_of_fold`) and the small CNN
(:func:`cnn_out_of_fold`), each through the one out-of-fold loop of
:func:`curation.labels.fold_tasks.out_of_fold`; :func:`label_issue_scores` turns any of them into
issue scores.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from curation.labels.classes import encode_labels
from curation.labels.config import ScoreConfig
from curation.labels.fold_tasks import fold_count, out_of_fold
from curation.labels.oof_cnn import OutOfFoldCnn, out_of_fold_cnn
from curation.labels.projection import sample_rows, standardized_pca

# Standardizing and PCA of a fold are fit on at most this many of its rows (a seeded sample),
# then applied a chunk at a time, so memory beyond the feature matrix stays bounded; folds of
# up to this size (the demo site's and realcars-dev's) give exactly the scikit-learn
# pipeline's results. 64 components of 848 features are settled well within 5,000 rows, and a
# larger fit's copies grew the peak memory of a 32,000-photo catalog (benchmarks/scale.py).
FIT_ROWS = 5_000
CHUNK_ROWS = 4096


def out_of_fold_probabilities(
    features: np.ndarray,
    labels: list[str],
    folds: int = 5,
    seed: int = 0,
    regularization: float = 0.5,
    components: int = 64,
) -> tuple[np.ndarray, list[str]]:
    """Return ``(probabilities (N, C), classes)``: each row predicted by a model not fit on it.

    The number of folds is lowered to the size of the smallest label (at least 2). Raises
    :class:`CarscoutError` when there are fewer than two labels or a label has one image.
    """
    classes, y, _ = encode_labels(labels, "scoring")
    # PCA can keep at most as many components as the smallest training fold has rows.
    train_rows = len(y) - len(y) // fold_count(y, folds) - 1
    components = max(1, min(components, features.shape[1], train_rows))
    rng = np.random.default_rng(seed)

    def task(k: int, train: np.ndarray, held_out: np.ndarray) -> tuple[np.ndarray, ...]:
        fit = sample_rows(train, FIT_ROWS, rng)
        return (train if fit is None else fit), train, held_out

    work = partial(_linear_fold, features, y, components, seed, regularization)
    found = out_of_fold(work, y, len(classes), folds, seed, task)
    return found.probabilities, [str(c) for c in classes]


def _linear_fold(
    features: np.ndarray,
    y: np.ndarray,
    components: int,
    seed: int,
    regularization: float,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Return one fold's held-out probabilities (``rows`` = fit, train and held-out rows)."""
    from sklearn.linear_model import LogisticRegression

    fit, train, held_out = rows
    reduce = standardized_pca(features, components, fit, seed, CHUNK_ROWS)
    model = LogisticRegression(C=regularization, max_iter=2000)
    model.fit(reduce(features, train), y[train])
    return model.predict_proba(reduce(features, held_out))


def shape_out_of_fold(
    features: np.ndarray,
    mirrored: np.ndarray,
    labels: list[str],
    folds: int = 5,
    seed: int = 0,
    components: int = 32,
    kernel_rows: int = 300,
    regularization: float = 1.0,
) -> tuple[np.ndarray, list[str]]:
    """Return ``(probabilities (N, C), classes)`` of a kernel classifier on shape features,
    out of fold.

    The classifier is standardizing, whitened PCA to ``components``, an RBF kernel map on
    ``kernel_rows`` landmark rows (Nyström) and a logistic regression: an RBF SVM's accuracy at
    a linear cost in the number of photos. Each fold's model learns the training photos and
    their mirror images (``mirrored``, same rows) and predicts a held-out photo as the mean
    over it and its mirror image. Raises :class:`CarscoutError` with fewer than two labels or
    a label of one image.
    """
    classes, y, _ = encode_labels(labels, "scoring")
    work = partial(
        _shape_fold, features, mirrored, y, components, seed, kernel_rows, regularization
    )
    found = out_of_fold(work, y, len(classes), folds, seed)
    return found.probabilities, [str(c) for c in classes]


def _shape_fold(
    features: np.ndarray,
    mirrored: np.ndarray,
    y: np.ndarray,
    components: int,
    seed: int,
    kernel_rows: int,
    regularization: float,
    rows: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Return one fold's held-out probabilities (``rows`` = train and held-out rows)."""
    from sklearn.decomposition import PCA
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, held_out = rows
    count = 2 * len(train)
    dims = max(1, min(components, features.shape[1], count - 1))
    model = make_pipeline(
        StandardScaler(),
        PCA(n_components=dims, whiten=True, random_state=seed),
        # gamma 1/dims: whitened components have unit variance, so this is the usual "scale"
        # choice of an RBF SVM.
        Nystroem(gamma=1.0 / dims, n_components=min(kernel_rows, count), random_state=seed),
        LogisticRegression(C=regularization, max_iter=3000),
    )
    model.fit(np.vstack([features[train], mirrored[train]]), np.concatenate([y[train]] * 2))
    return (model.predict_proba(features[held_out]) + model.predict_proba(mirrored[held_out])) / 2


def cnn_out_of_fold(pixels: np.ndarray, labels: list[str], config: ScoreConfig) -> OutOfFoldCnn:
    """Return the out-of-fold CNN's outputs on ``pixels`` with ``config``'s CNN settings."""
    return out_of_fold_cnn(
        pixels,
        labels,
        config.cnn_folds,
        config.cnn_epochs,
        config.seed,
        batch_size=config.cnn_batch,
        flip=config.cnn_flip,
        seeds=config.cnn_seeds,
        snapshots=config.cnn_snapshots,
        train_per_label=config.cnn_train_per_label,
    )


def label_issue_scores(
    probabilities: np.ndarray, labels: list[str], classes: list[str]
) -> tuple[np.ndarray, list[str | None]]:
    """Return ``(issue (N,), suggested)`` from out-of-fold ``probabilities``.

    ``issue = 1 - normalized margin`` lies in [0, 1]: 0.5 when the model cannot tell, near 1
    when it is sure of another class. ``suggested[i]`` is the most probable other class when its
    probability reaches that class's threshold (mean self-confidence of the images labelled with
    it, as in confident learning), else None.
    """
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    rows = np.arange(len(y))
    self_confidence = probabilities[rows, y]
    others = probabilities.copy()
    others[rows, y] = -1.0
    best_other = others.argmax(axis=1)
    margin = self_confidence - others[rows, best_other]
    issue = 1.0 - (margin + 1.0) / 2.0
    thresholds = np.array(
        [probabilities[y == j, j].mean() if np.any(y == j) else 1.0 for j in range(len(classes))]
    )
    suggested = [
        classes[j] if probabilities[i, j] >= thresholds[j] else None
        for i, j in enumerate(best_other)
    ]
    return issue, suggested
