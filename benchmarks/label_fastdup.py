"""fastdup's side of ``benchmarks/label_issues.py``: wrong-label scores from its embeddings.

A user with fastdup finds wrong labels in two ways, both measured here on the same photos as
carscout (fastdup itself runs in ``.venv-fastdup``, :mod:`benchmarks.fastdup_peer`):

* **kNN label disagreement** — the share of a photo's 10 nearest neighbours (fastdup's own
  similarity file, ``nearest_neighbors_k=10``) listed under another label; ties broken by the
  summed similarity of those neighbours.
* **out-of-fold logistic regression** on its 576-d embeddings (standardized, 5 stratified
  folds, the strength chosen by cross-validation inside each training fold); the score is
  1 - the held-out probability of the listed label.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.fastdup_peer import ensure_fastdup, knn_from_pairs, run_fastdup

NEIGHBOURS = 10


@dataclass
class FastdupScores:
    """Wrong-label scores (higher = more likely wrong) from one fastdup run, with its times."""

    knn: np.ndarray
    logistic: np.ndarray
    seconds: float
    logistic_seconds: float
    version: str


def knn_disagreement(pairs: np.ndarray, labels: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Return ``(N,)``: the share of each photo's ``k`` nearest neighbours (from fastdup's
    similarity pairs) listed under another label, plus a tie-break below 1/k: their summed
    similarity over ``k``² (a photo with no neighbour listed scores 0)."""
    neighbours, similarity = knn_from_pairs(pairs, len(labels), k)
    known = neighbours >= 0
    other = known & (labels[np.where(known, neighbours, 0)] != labels[:, None])
    share = other.sum(axis=1) / k
    tie = np.where(other, np.nan_to_num(similarity), 0.0).sum(axis=1) / (k * k)
    return share + np.clip(tie, 0.0, 1.0 / k - 1e-9)


def logistic_out_of_fold(
    embeddings: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Return ``(N,)``: 1 - the out-of-fold probability of each photo's listed label from a
    standardized logistic regression on ``embeddings`` (its
    strength picked by an inner 3-fold cross-validation) (rows fastdup could not read: 0.5)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    readable = ~np.isnan(embeddings).any(axis=1)
    classes, y = np.unique(labels, return_inverse=True)
    score = np.full(len(labels), 0.5)
    rows = np.flatnonzero(readable)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held_out in cv.split(rows, y[rows]):
        # Its strength chosen inside each training fold (no truth involved), as a user would.
        model = make_pipeline(
            StandardScaler(),
            LogisticRegressionCV(
                Cs=[1e-3, 1e-2, 0.1, 1.0], cv=3, scoring="neg_log_loss", max_iter=3000
            ),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.9's API notices
            model.fit(embeddings[rows[train]], y[rows[train]])
        own = model.predict_proba(embeddings[rows[held_out]])[
            np.arange(len(held_out)), y[rows[held_out]]
        ]
        score[rows[held_out]] = 1.0 - own
    return score


def fastdup_scores(paths: list[Path], labels: np.ndarray, work_dir: Path) -> FastdupScores | None:
    """Run fastdup once on ``paths`` and return both scores, or None (reason printed) when
    fastdup cannot be installed or fails."""
    import time

    if ensure_fastdup() is None:
        return None
    try:
        result = run_fastdup(paths, work_dir, threads=2, k=NEIGHBOURS)
    except RuntimeError as exc:
        print(f"fastdup not measured: {str(exc).splitlines()[0]}")
        return None
    started = time.process_time()
    logistic = logistic_out_of_fold(result.embeddings, labels)
    return FastdupScores(
        knn_disagreement(result.pairs, labels),
        logistic,
        result.seconds,
        time.process_time() - started,
        result.version,
    )
